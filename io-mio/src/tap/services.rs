//! The services of `sanstcp tap`: echo, discard, chargen and http servers, and connect.
//!
//! Servers listen on every address of the stack (IPv4 and IPv6) and keep one session per
//! connection; each session moves as much data as the stack takes whenever its connection
//! has an event, and stops reading while what it has to send is not yet taken
//! (backpressure reaches the peer through the receive window).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant as WallInstant;

use anyhow::{Context, Result};
use sanstcp::{CloseReason, ConnId, Event, ListenerId, TcpState};
use sanstcp_mio::driver::Driver;
use sha2::{Digest, Sha256};

use super::http::HttpSession;
use super::pattern::PatternCheck;
use super::progress::Totals;
use super::setup::Plan;
use super::{ServiceArgs, TapArgs};
use crate::demo::{hex, human_bytes};

/// Bytes moved per read or write call.
const CHUNK: usize = 64 * 1024;

/// A service run by the loop of `sanstcp tap`.
pub trait Service {
    /// Listens or connects.
    fn start(&mut self, net: &mut Driver) -> Result<()>;
    /// Handles one event of the stack.
    fn on_event(&mut self, net: &mut Driver, ev: Event);
    /// Running totals, for the progress line.
    fn totals(&self) -> Totals;
    /// `Some(success)` when the service is done (`connect`); servers run until stopped.
    fn finished(&mut self, net: &mut Driver) -> Option<bool>;
}

/// The service the options ask for.
pub fn build(args: &TapArgs, _plan: &Plan) -> Result<Box<dyn Service>> {
    let families = (args.addr.is_some(), args.addr6.is_some());
    Ok(match &args.service {
        ServiceArgs::Echo(a) => Box::new(Server::new("echo", a.port, families, |_| {
            Box::new(Echo::default())
        })),
        ServiceArgs::Discard(a) => {
            let check_pattern = a.check_pattern;
            Box::new(Server::new("discard", a.port, families, move |_| {
                Box::new(Discard::new(check_pattern))
            }))
        }
        ServiceArgs::Chargen(a) => {
            let (bytes, digest) = (a.bytes, !a.no_digest);
            Box::new(Server::new("chargen", a.port, families, move |_| {
                Box::new(Chargen::new(bytes, digest))
            }))
        }
        ServiceArgs::Http(a) => {
            let root = a
                .root
                .canonicalize()
                .with_context(|| format!("--root {}", a.root.display()))?;
            if !root.is_dir() {
                anyhow::bail!("--root {} is not a directory", root.display());
            }
            tracing::info!("http: serving {}", root.display());
            Box::new(Server::new("http", a.port, families, move |_| {
                Box::new(HttpSession::new(root.clone()))
            }))
        }
        ServiceArgs::Connect(a) => {
            Box::new(Connect::new(a.target, a.send.clone(), a.recv.clone())?)
        }
    })
}

/// One connection of a server.
pub trait Session {
    /// Moves data as far as the stack allows; `scratch` is a [`CHUNK`]-byte buffer. Returns
    /// true when the session let go of the connection (closed or aborted it).
    fn pump(
        &mut self,
        net: &mut Driver,
        conn: ConnId,
        peer: SocketAddr,
        scratch: &mut [u8],
        t: &mut Totals,
    ) -> bool;
}

/// A listening service with one [`Session`] per connection.
struct Server<F> {
    name: &'static str,
    port: u16,
    families: (bool, bool),
    make: F,
    listeners: Vec<ListenerId>,
    sessions: HashMap<ConnId, (SocketAddr, Box<dyn Session>)>,
    scratch: Vec<u8>,
    totals: Totals,
}

impl<F: FnMut(SocketAddr) -> Box<dyn Session>> Server<F> {
    fn new(name: &'static str, port: u16, families: (bool, bool), make: F) -> Server<F> {
        Server {
            name,
            port,
            families,
            make,
            listeners: Vec::new(),
            sessions: HashMap::new(),
            scratch: vec![0u8; CHUNK],
            totals: Totals::default(),
        }
    }

    fn pump(&mut self, net: &mut Driver, conn: ConnId) {
        let Some((peer, session)) = self.sessions.get_mut(&conn) else {
            return;
        };
        if session.pump(net, conn, *peer, &mut self.scratch, &mut self.totals) {
            self.sessions.remove(&conn);
            self.totals.open -= 1;
            self.totals.done += 1;
        }
    }
}

impl<F: FnMut(SocketAddr) -> Box<dyn Session>> Service for Server<F> {
    fn start(&mut self, net: &mut Driver) -> Result<()> {
        let (v4, v6) = self.families;
        let mut on = Vec::new();
        if v4 {
            on.push(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                self.port,
            ));
        }
        if v6 {
            on.push(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                self.port,
            ));
        }
        for addr in on {
            let l = net
                .listen(addr)
                .with_context(|| format!("{}: cannot listen on {addr}", self.name))?;
            self.listeners.push(l);
        }
        tracing::info!("{}: listening on port {}", self.name, self.port);
        Ok(())
    }

    fn on_event(&mut self, net: &mut Driver, ev: Event) {
        match ev {
            Event::Incoming { listener } => {
                while let Some(conn) = net.accept(listener) {
                    let Some(peer) = net.info(conn).map(|i| i.remote) else {
                        continue;
                    };
                    tracing::info!("{}: connection from {peer}", self.name);
                    let session = (self.make)(peer);
                    self.sessions.insert(conn, (peer, session));
                    self.totals.open += 1;
                    self.pump(net, conn);
                }
            }
            Event::Readable { conn } | Event::Writable { conn } | Event::PeerClosed { conn } => {
                self.pump(net, conn)
            }
            Event::Closed { conn, reason } => {
                if let Some((peer, _)) = self.sessions.remove(&conn) {
                    let level_warn = reason != CloseReason::Normal;
                    if level_warn {
                        tracing::warn!("{}: connection from {peer} ended: {reason:?}", self.name);
                    } else {
                        tracing::info!("{}: connection from {peer} closed", self.name);
                    }
                    net.close(conn);
                    self.totals.open -= 1;
                    self.totals.done += 1;
                }
            }
            Event::Connected { .. } | Event::StateChanged { .. } => {}
        }
    }

    fn totals(&self) -> Totals {
        self.totals
    }

    fn finished(&mut self, _net: &mut Driver) -> Option<bool> {
        None
    }
}

/// What a read or write on a session's connection said.
enum Io {
    /// This many bytes.
    Done(usize),
    /// Nothing now; wait for the next event.
    Wait,
    /// The connection failed (already reported); the session must let go.
    Failed,
}

fn read(net: &mut Driver, conn: ConnId, buf: &mut [u8], who: &str, peer: SocketAddr) -> Io {
    match net.read(conn, buf) {
        Ok(n) => Io::Done(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Io::Wait,
        Err(e) => {
            tracing::warn!("{who}: {peer}: read: {e}");
            net.abort(conn);
            Io::Failed
        }
    }
}

fn write(net: &mut Driver, conn: ConnId, data: &[u8], who: &str, peer: SocketAddr) -> Io {
    match net.write(conn, data) {
        Ok(0) => Io::Wait,
        Ok(n) => Io::Done(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Io::Wait,
        Err(e) => {
            tracing::warn!("{who}: {peer}: write: {e}");
            net.abort(conn);
            Io::Failed
        }
    }
}

/// Echo: what is read is written back; reading stops while the echo is not yet taken.
#[derive(Default)]
struct Echo {
    pending: Vec<u8>,
    offset: usize,
    eof: bool,
    bytes: u64,
}

impl Session for Echo {
    fn pump(
        &mut self,
        net: &mut Driver,
        conn: ConnId,
        peer: SocketAddr,
        scratch: &mut [u8],
        t: &mut Totals,
    ) -> bool {
        loop {
            while self.offset < self.pending.len() {
                match write(net, conn, &self.pending[self.offset..], "echo", peer) {
                    Io::Done(n) => {
                        self.offset += n;
                        t.tx += n as u64;
                    }
                    Io::Wait => return false,
                    Io::Failed => return true,
                }
            }
            self.pending.clear();
            self.offset = 0;
            if self.eof {
                tracing::info!("echo: {peer}: done, {} echoed", human_bytes(self.bytes));
                net.close(conn);
                return true;
            }
            match read(net, conn, scratch, "echo", peer) {
                Io::Done(0) => self.eof = true,
                Io::Done(n) => {
                    self.pending.extend_from_slice(&scratch[..n]);
                    self.bytes += n as u64;
                    t.rx += n as u64;
                }
                Io::Wait => return false,
                Io::Failed => return true,
            }
        }
    }
}

/// What discard does with every byte it reads.
enum Integrity {
    /// Hashes it (the default): the line at the end has the SHA-256 of the stream.
    Sha256(Sha256),
    /// Checks it against the pattern byte `i` = `i mod 256` (`--check-pattern`).
    Pattern(PatternCheck),
}

/// Discard: reads everything, hashing it (or checking it against the pattern); prints the
/// count and hash (or the verdict) at the end.
struct Discard {
    check: Integrity,
    bytes: u64,
    started: WallInstant,
}

impl Discard {
    fn new(check_pattern: bool) -> Discard {
        Discard {
            check: if check_pattern {
                Integrity::Pattern(PatternCheck::new())
            } else {
                Integrity::Sha256(Sha256::new())
            },
            bytes: 0,
            started: WallInstant::now(),
        }
    }
}

impl Session for Discard {
    fn pump(
        &mut self,
        net: &mut Driver,
        conn: ConnId,
        peer: SocketAddr,
        scratch: &mut [u8],
        t: &mut Totals,
    ) -> bool {
        loop {
            match read(net, conn, scratch, "discard", peer) {
                Io::Done(0) => {
                    let secs = self.started.elapsed().as_secs_f64();
                    let summary = match &self.check {
                        Integrity::Sha256(h) => {
                            format!("{} bytes sha256 {}", self.bytes, hex(&h.clone().finalize()))
                        }
                        Integrity::Pattern(p) => {
                            if p.mismatch().is_some() {
                                tracing::warn!("discard: {peer}: {}", p.summary());
                            }
                            p.summary()
                        }
                    };
                    println!(
                        "discard: {peer}: {summary} in {secs:.3} s ({:.1} Mbit/s)",
                        self.bytes as f64 * 8.0 / secs.max(1e-6) / 1e6
                    );
                    net.close(conn);
                    return true;
                }
                Io::Done(n) => {
                    match &mut self.check {
                        Integrity::Sha256(h) => h.update(&scratch[..n]),
                        Integrity::Pattern(p) => p.update(&scratch[..n]),
                    }
                    self.bytes += n as u64;
                    t.rx += n as u64;
                }
                Io::Wait => return false,
                Io::Failed => {
                    println!("discard: {peer}: failed after {} bytes", self.bytes);
                    return true;
                }
            }
        }
    }
}

/// Bytes in one period of the RFC 864 pattern: 95 lines of 72 characters and CR LF.
const CHARGEN_PERIOD: usize = 95 * 74;

/// One period of the RFC 864 character generator pattern: line `i` holds the 72 printable
/// ASCII characters starting `i` places after the space, wrapping around, then CR LF.
fn chargen_period() -> Vec<u8> {
    let mut v = Vec::with_capacity(CHARGEN_PERIOD);
    for line in 0..95 {
        for col in 0..72 {
            v.push(b' ' + ((line + col) % 95) as u8);
        }
        v.extend_from_slice(b"\r\n");
    }
    v
}

/// Chargen: sends `total` bytes of the pattern, half-closes, discards input until the
/// peer's FIN. Hashes what it sends unless `--no-digest`.
struct Chargen {
    period: Vec<u8>,
    total: u64,
    sent: u64,
    hash: Option<Sha256>,
    shut: bool,
    eof: bool,
    started: WallInstant,
}

impl Chargen {
    fn new(total: u64, digest: bool) -> Chargen {
        Chargen {
            period: chargen_period(),
            total,
            sent: 0,
            hash: digest.then(Sha256::new),
            shut: false,
            eof: false,
            started: WallInstant::now(),
        }
    }

    /// Fills `buf` with the pattern from stream offset `at`.
    fn fill(&self, at: u64, buf: &mut [u8]) {
        let mut pos = (at % CHARGEN_PERIOD as u64) as usize;
        let mut done = 0;
        while done < buf.len() {
            let n = (buf.len() - done).min(CHARGEN_PERIOD - pos);
            buf[done..done + n].copy_from_slice(&self.period[pos..pos + n]);
            done += n;
            pos = 0;
        }
    }
}

impl Session for Chargen {
    fn pump(
        &mut self,
        net: &mut Driver,
        conn: ConnId,
        peer: SocketAddr,
        scratch: &mut [u8],
        t: &mut Totals,
    ) -> bool {
        while self.sent < self.total {
            let len = (self.total - self.sent).min(scratch.len() as u64) as usize;
            self.fill(self.sent, &mut scratch[..len]);
            match write(net, conn, &scratch[..len], "chargen", peer) {
                Io::Done(n) => {
                    if let Some(h) = &mut self.hash {
                        h.update(&scratch[..n]);
                    }
                    self.sent += n as u64;
                    t.tx += n as u64;
                    if n < len {
                        break;
                    }
                }
                Io::Wait => break,
                Io::Failed => return true,
            }
        }
        if self.sent == self.total && !self.shut {
            if let Err(e) = net.shutdown(conn) {
                tracing::warn!("chargen: {peer}: shutdown: {e}");
            }
            self.shut = true;
        }
        while !self.eof {
            match read(net, conn, scratch, "chargen", peer) {
                Io::Done(0) => self.eof = true,
                Io::Done(n) => t.rx += n as u64,
                Io::Wait => break,
                Io::Failed => return true,
            }
        }
        if self.shut && self.eof {
            let secs = self.started.elapsed().as_secs_f64();
            let digest = match &self.hash {
                Some(h) => format!(" sha256 {}", hex(&h.clone().finalize())),
                None => String::new(),
            };
            println!(
                "chargen: {peer}: sent {} bytes{digest} in {secs:.3} s ({:.1} Mbit/s)",
                self.sent,
                self.sent as f64 * 8.0 / secs.max(1e-6) / 1e6
            );
            net.close(conn);
            return true;
        }
        false
    }
}

/// `connect`: one active connection that sends a file and receives into another.
struct Connect {
    target: SocketAddr,
    conn: Option<ConnId>,
    source: Option<File>,
    staging: Vec<u8>,
    staged: usize,
    source_done: bool,
    shut: bool,
    sent: u64,
    sent_hash: Sha256,
    sink: Option<BufWriter<File>>,
    sink_path: Option<std::path::PathBuf>,
    received: u64,
    recv_hash: Sha256,
    eof: bool,
    started: WallInstant,
    connected: Option<WallInstant>,
    outcome: Option<bool>,
    totals: Totals,
    scratch: Vec<u8>,
}

impl Connect {
    fn new(
        target: SocketAddr,
        send: Option<std::path::PathBuf>,
        recv: Option<std::path::PathBuf>,
    ) -> Result<Connect> {
        let source = match &send {
            Some(p) => Some(File::open(p).with_context(|| format!("--send {}", p.display()))?),
            None => None,
        };
        let sink = match &recv {
            Some(p) => Some(BufWriter::with_capacity(
                1 << 20,
                File::create(p).with_context(|| format!("--recv {}", p.display()))?,
            )),
            None => None,
        };
        Ok(Connect {
            target,
            conn: None,
            source_done: source.is_none(),
            source,
            staging: Vec::new(),
            staged: 0,
            shut: false,
            sent: 0,
            sent_hash: Sha256::new(),
            sink,
            sink_path: recv,
            received: 0,
            recv_hash: Sha256::new(),
            eof: false,
            started: WallInstant::now(),
            connected: None,
            outcome: None,
            totals: Totals::default(),
            scratch: vec![0u8; CHUNK],
        })
    }

    fn fail(&mut self, net: &mut Driver, why: &str) {
        tracing::error!("connect: {}: {why}", self.target);
        if let Some(c) = self.conn.take() {
            net.abort(c);
        }
        self.outcome = Some(false);
        self.totals.open = 0;
    }

    fn pump(&mut self, net: &mut Driver) {
        let Some(conn) = self.conn else { return };
        if self.connected.is_none() || self.outcome.is_some() {
            return;
        }
        // Send.
        while !self.source_done || self.staged < self.staging.len() {
            if self.staged == self.staging.len() {
                self.staging.resize(CHUNK, 0);
                self.staged = 0;
                let n = match self.source.as_mut().map(|f| f.read(&mut self.staging)) {
                    Some(Ok(n)) => n,
                    Some(Err(e)) => return self.fail(net, &format!("reading --send: {e}")),
                    None => 0,
                };
                self.staging.truncate(n);
                if n == 0 {
                    self.source_done = true;
                    break;
                }
            }
            match net.write(conn, &self.staging[self.staged..]) {
                Ok(0) => break,
                Ok(n) => {
                    self.sent_hash
                        .update(&self.staging[self.staged..self.staged + n]);
                    self.staged += n;
                    self.sent += n as u64;
                    self.totals.tx += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return self.fail(net, &format!("write: {e}")),
            }
        }
        if self.source_done && self.staged == self.staging.len() && !self.shut {
            if let Err(e) = net.shutdown(conn) {
                return self.fail(net, &format!("shutdown: {e}"));
            }
            self.shut = true;
        }
        // Receive.
        while !self.eof {
            match net.read(conn, &mut self.scratch) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.recv_hash.update(&self.scratch[..n]);
                    self.received += n as u64;
                    self.totals.rx += n as u64;
                    if let Some(sink) = &mut self.sink {
                        if let Err(e) = sink.write_all(&self.scratch[..n]) {
                            return self.fail(net, &format!("writing --recv: {e}"));
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return self.fail(net, &format!("read: {e}")),
            }
        }
        self.check_done(net);
    }

    /// Done when the peer's FIN came and ours is acknowledged.
    fn check_done(&mut self, net: &mut Driver) {
        let Some(conn) = self.conn else { return };
        if self.outcome.is_some() || !self.eof || !self.shut {
            return;
        }
        let state = net.info(conn).map(|i| i.state);
        if !matches!(state, None | Some(TcpState::TimeWait | TcpState::Closed)) {
            return;
        }
        if let Some(sink) = &mut self.sink {
            if let Err(e) = sink.flush() {
                return self.fail(net, &format!("writing --recv: {e}"));
            }
        }
        let secs = self
            .connected
            .map_or(0.0, |c| c.elapsed().as_secs_f64())
            .max(1e-6);
        println!(
            "connect: {}: sent {} bytes sha256 {}; received {} bytes sha256 {}{}; {secs:.3} s, {:.1} Mbit/s",
            self.target,
            self.sent,
            hex(&self.sent_hash.clone().finalize()),
            self.received,
            hex(&self.recv_hash.clone().finalize()),
            self.sink_path
                .as_ref()
                .map(|p| format!(" (in {})", p.display()))
                .unwrap_or_default(),
            (self.sent + self.received) as f64 * 8.0 / secs / 1e6
        );
        net.close(conn);
        self.conn = None;
        self.totals.open = 0;
        self.totals.done = 1;
        self.outcome = Some(true);
    }
}

impl Service for Connect {
    fn start(&mut self, net: &mut Driver) -> Result<()> {
        let conn = net
            .connect(self.target)
            .with_context(|| format!("connect to {}", self.target))?;
        tracing::info!("connect: connecting to {}", self.target);
        self.conn = Some(conn);
        self.started = WallInstant::now();
        self.totals.open = 1;
        Ok(())
    }

    fn on_event(&mut self, net: &mut Driver, ev: Event) {
        let ours = |c: ConnId| Some(c) == self.conn;
        match ev {
            Event::Connected { conn } if ours(conn) => {
                tracing::info!(
                    "connect: connected to {} in {:.1} ms",
                    self.target,
                    self.started.elapsed().as_secs_f64() * 1e3
                );
                self.connected = Some(WallInstant::now());
                self.pump(net);
            }
            Event::Readable { conn } | Event::Writable { conn } | Event::PeerClosed { conn }
                if ours(conn) =>
            {
                self.pump(net)
            }
            Event::Closed { conn, reason } if ours(conn) => {
                self.pump(net);
                if self.outcome.is_none() {
                    self.fail(net, &format!("connection ended: {reason:?}"));
                }
            }
            _ => {}
        }
    }

    fn totals(&self) -> Totals {
        self.totals
    }

    fn finished(&mut self, net: &mut Driver) -> Option<bool> {
        self.check_done(net);
        self.outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chargen_pattern_is_rfc_864() {
        let p = chargen_period();
        assert_eq!(p.len(), CHARGEN_PERIOD);
        assert_eq!(&p[..10], b" !\"#$%&'()");
        assert_eq!(&p[70..76], b"fg\r\n!\"");
        let c = Chargen::new(0, true);
        let mut a = vec![0u8; 20_000];
        c.fill(0, &mut a);
        let mut b = vec![0u8; 5_000];
        c.fill(12_345, &mut b);
        assert_eq!(&a[12_345..17_345], &b[..]);
        assert_eq!(&a[..CHARGEN_PERIOD], &a[CHARGEN_PERIOD..2 * CHARGEN_PERIOD]);
    }
}
