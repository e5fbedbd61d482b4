//! A minimal static HTTP/1.1 file server session (RFC 9110, RFC 9112): GET and HEAD of
//! regular files under a root directory, persistent connections and pipelined requests,
//! `index.html` for directories. No ranges, no conditional requests, no chunked request
//! bodies (answered with 501).

use std::fs::File;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sanstcp::ConnId;
use sanstcp_mio::driver::Driver;

use super::progress::Totals;
use super::services::Session;

/// Largest request head (request line and headers) accepted.
const MAX_HEAD: usize = 16 * 1024;

/// One HTTP connection.
pub struct HttpSession {
    root: PathBuf,
    /// Received bytes not yet parsed.
    input: Vec<u8>,
    /// Request body bytes still to skip (GET with Content-Length).
    skip: u64,
    /// Response bytes (head, small bodies, file data the stack did not take) to send.
    out: Vec<u8>,
    out_at: usize,
    /// The file body still to send.
    body: Option<(File, u64)>,
    /// A response is being sent.
    responding: bool,
    /// Keep the connection open after the current response.
    keep_alive: bool,
    /// The response side is shut down; input is drained until the peer's FIN.
    closing: bool,
    eof: bool,
}

/// What a request turned into.
struct Response {
    status: u16,
    content_type: &'static str,
    /// Small body in memory (error pages).
    text: Vec<u8>,
    /// File body.
    file: Option<(File, u64)>,
    head_only: bool,
    keep_alive: bool,
    allow: bool,
}

impl HttpSession {
    /// A session serving files under `root` (an absolute, canonical directory).
    pub fn new(root: PathBuf) -> HttpSession {
        HttpSession {
            root,
            input: Vec::new(),
            skip: 0,
            out: Vec::new(),
            out_at: 0,
            body: None,
            responding: false,
            keep_alive: true,
            closing: false,
            eof: false,
        }
    }

    /// Takes a complete request head off `input` and prepares the response; `None` while
    /// the head is incomplete.
    fn next_request(&mut self, peer: SocketAddr) -> Option<Response> {
        let end = self.input.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head: Vec<u8> = self.input.drain(..end + 4).collect();
        let response = self.handle(&head[..end]);
        tracing::debug!(
            "http: {peer}: {:?} -> {}",
            String::from_utf8_lossy(head.split(|&b| b == b'\r').next().unwrap_or_default()),
            response.status
        );
        Some(response)
    }

    fn handle(&mut self, head: &[u8]) -> Response {
        let Ok(head) = std::str::from_utf8(head) else {
            return error(400, false);
        };
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default();
        let parts: Vec<&str> = request_line.split(' ').collect();
        let [method, target, version] = parts[..] else {
            return error(400, false);
        };
        let http11 = match version {
            "HTTP/1.1" => true,
            "HTTP/1.0" => false,
            _ => return error(505, false),
        };
        let mut keep_alive = http11;
        let mut content_length: u64 = 0;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                return error(400, false);
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("connection") {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        keep_alive = false;
                    } else if token.eq_ignore_ascii_case("keep-alive") {
                        keep_alive = true;
                    }
                }
            } else if name.eq_ignore_ascii_case("content-length") {
                match value.parse() {
                    Ok(n) => content_length = n,
                    Err(_) => return error(400, false),
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return error(501, false);
            }
        }
        self.skip = content_length;
        let head_only = match method {
            "GET" => false,
            "HEAD" => true,
            _ => {
                let mut r = error(405, keep_alive);
                r.allow = true;
                return r;
            }
        };
        let path = match resolve(&self.root, target) {
            Ok(p) => p,
            Err(status) => {
                let mut r = error(status, keep_alive);
                r.head_only = head_only;
                return r;
            }
        };
        match File::open(&path).and_then(|f| f.metadata().map(|m| (f, m.len()))) {
            Ok((file, len)) => Response {
                status: 200,
                content_type: content_type(&path),
                text: Vec::new(),
                file: Some((file, len)),
                head_only,
                keep_alive,
                allow: false,
            },
            Err(_) => {
                let mut r = error(404, keep_alive);
                r.head_only = head_only;
                r
            }
        }
    }

    /// Queues the head (and a small body) of `r`; a file body is streamed by `pump`.
    fn start_response(&mut self, r: Response) {
        let len = match &r.file {
            Some((_, len)) => *len,
            None => r.text.len() as u64,
        };
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nDate: {}\r\nServer: sanstcp\r\nContent-Type: {}\r\nContent-Length: {len}\r\n",
            r.status,
            reason(r.status),
            http_date(SystemTime::now()),
            r.content_type
        );
        if r.allow {
            head += "Allow: GET, HEAD\r\n";
        }
        head += if r.keep_alive {
            "Connection: keep-alive\r\n\r\n"
        } else {
            "Connection: close\r\n\r\n"
        };
        self.out.extend_from_slice(head.as_bytes());
        if !r.head_only {
            self.out.extend_from_slice(&r.text);
            self.body = r.file;
        }
        self.keep_alive = r.keep_alive;
        self.responding = true;
    }
}

impl Session for HttpSession {
    fn pump(
        &mut self,
        net: &mut Driver,
        conn: ConnId,
        peer: SocketAddr,
        scratch: &mut [u8],
        t: &mut Totals,
    ) -> bool {
        loop {
            // What is queued goes first.
            while self.out_at < self.out.len() {
                match net.write(conn, &self.out[self.out_at..]) {
                    Ok(0) => return false,
                    Ok(n) => {
                        self.out_at += n;
                        t.tx += n as u64;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                    Err(e) => {
                        tracing::warn!("http: {peer}: write: {e}");
                        net.abort(conn);
                        return true;
                    }
                }
            }
            self.out.clear();
            self.out_at = 0;
            // Then the file, a chunk at a time; what the stack does not take waits in `out`.
            if let Some((file, left)) = &mut self.body {
                if *left > 0 {
                    let want = (*left).min(scratch.len() as u64) as usize;
                    let n = match file.read(&mut scratch[..want]) {
                        Ok(0) | Err(_) => {
                            tracing::warn!("http: {peer}: the file ended early or failed");
                            net.abort(conn);
                            return true;
                        }
                        Ok(n) => n,
                    };
                    *left -= n as u64;
                    self.out.extend_from_slice(&scratch[..n]);
                    continue;
                }
                self.body = None;
            }
            if self.responding {
                self.responding = false;
                if !self.keep_alive {
                    if let Err(e) = net.shutdown(conn) {
                        tracing::debug!("http: {peer}: shutdown: {e}");
                    }
                    self.closing = true;
                }
            }
            // A request already received?
            if !self.closing && self.skip == 0 {
                if let Some(r) = self.next_request(peer) {
                    self.start_response(r);
                    continue;
                }
                if self.input.len() > MAX_HEAD {
                    self.start_response(error(431, false));
                    continue;
                }
            }
            if self.eof {
                // The peer is done; a partial request is dropped.
                net.close(conn);
                return true;
            }
            match net.read(conn, scratch) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    t.rx += n as u64;
                    let mut data = &scratch[..n];
                    if self.skip > 0 {
                        let k = (self.skip.min(n as u64)) as usize;
                        self.skip -= k as u64;
                        data = &data[k..];
                    }
                    if !self.closing {
                        self.input.extend_from_slice(data);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                Err(e) => {
                    tracing::warn!("http: {peer}: read: {e}");
                    net.abort(conn);
                    return true;
                }
            }
        }
    }
}

/// An error response with a short text body.
fn error(status: u16, keep_alive: bool) -> Response {
    Response {
        status,
        content_type: "text/plain; charset=utf-8",
        text: format!("{status} {}\n", reason(status)).into_bytes(),
        file: None,
        head_only: false,
        keep_alive,
        allow: false,
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// Maps a request target (origin form, RFC 9112 §3.2.1) to a file under `root`: the query is
/// ignored, `%XX` escapes are decoded, `.` and empty segments are skipped, and `..` is
/// refused (400); a directory means its `index.html`. Errors are HTTP status codes.
fn resolve(root: &Path, target: &str) -> Result<PathBuf, u16> {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    if !path.starts_with('/') {
        return Err(400);
    }
    let decoded = percent_decode(path).ok_or(400u16)?;
    let mut out = root.to_path_buf();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Err(400),
            s if s.contains('\0') || s.contains('\\') => return Err(400),
            s => out.push(s),
        }
    }
    if out.is_dir() {
        out.push("index.html");
    }
    if out.is_file() {
        Ok(out)
    } else {
        Err(404)
    }
}

/// `time` as an IMF-fixdate (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Civil date from days since the epoch (the proleptic Gregorian calendar in 400-year
    // eras of 146097 days, with years starting on March 1st).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {day:02} {} {year} {h:02}:{m:02}:{s:02} GMT",
        MONTHS[(month - 1) as usize]
    )
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" | "md" => "text/plain; charset=utf-8",
        "css" => "text/css",
        "js" => "text/javascript",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sanstcp-http-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a b.txt"), b"hello").unwrap();
        std::fs::write(dir.join("sub/index.html"), b"<p>").unwrap();
        dir.canonicalize().unwrap()
    }

    #[test]
    fn targets_resolve_inside_the_root_only() {
        let root = temp_root("resolve");
        assert_eq!(
            resolve(&root, "/a%20b.txt?x=1").unwrap(),
            root.join("a b.txt")
        );
        assert_eq!(
            resolve(&root, "/sub/").unwrap(),
            root.join("sub/index.html")
        );
        assert_eq!(
            resolve(&root, "/./sub//index.html").unwrap(),
            root.join("sub/index.html")
        );
        assert_eq!(resolve(&root, "/"), Err(404));
        assert_eq!(resolve(&root, "/missing"), Err(404));
        assert_eq!(resolve(&root, "/../etc/passwd"), Err(400));
        assert_eq!(resolve(&root, "/%2e%2e/etc/passwd"), Err(400));
        assert_eq!(resolve(&root, "/bad%zz"), Err(400));
        assert_eq!(resolve(&root, "http://x/a"), Err(400));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn dates_are_imf_fixdates() {
        let at = |s: u64| http_date(UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(at(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(at(4_107_542_399), "Sun, 28 Feb 2100 23:59:59 GMT");
    }

    #[test]
    fn requests_are_parsed() {
        let root = temp_root("parse");
        let mut s = HttpSession::new(root.clone());
        let peer: SocketAddr = "10.0.0.1:1234".parse().unwrap();
        s.input.extend_from_slice(
            b"GET /a%20b.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /sub/ HTTP/1.0\r\n\r\nPUT",
        );
        let r = s.next_request(peer).unwrap();
        assert_eq!((r.status, r.keep_alive, r.head_only), (200, true, false));
        assert_eq!(r.file.as_ref().unwrap().1, 5);
        assert_eq!(r.content_type, "text/plain; charset=utf-8");
        let r = s.next_request(peer).unwrap();
        assert_eq!((r.status, r.keep_alive, r.head_only), (200, false, true));
        assert!(s.next_request(peer).is_none(), "incomplete");
        s.input
            .extend_from_slice(b" / HTTP/1.1\r\nConnection: close\r\n\r\n");
        let r = s.next_request(peer).unwrap();
        assert_eq!((r.status, r.keep_alive, r.allow), (405, false, true));
        s.input
            .extend_from_slice(b"GET / HTTP/2\r\n\r\nnonsense\r\n\r\n");
        assert_eq!(s.next_request(peer).unwrap().status, 505);
        assert_eq!(s.next_request(peer).unwrap().status, 400);
        let _ = std::fs::remove_dir_all(&root);
    }
}
