//! Downloads a file over HTTP/1.1 through a TAP device, e.g. from the `sanstcp tap http`
//! service or any web server the device reaches. The body goes to standard output, the
//! status line and byte count to standard error. Needs CAP_NET_ADMIN:
//!
//!     cargo run -p sanstcp-async --example http_get -- tap1 10.0.0.3/24 http://10.0.0.2/file > file

use std::net::SocketAddr;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use sanstcp_async::{tap, TcpStream};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: http_get IFNAME ADDR/PREFIX http://IP[:PORT]/PATH [GATEWAY]");
        std::process::exit(2);
    }
    let rest = args[3]
        .strip_prefix("http://")
        .expect("the URL must start with http://");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let server: SocketAddr = host
        .parse()
        .or_else(|_| format!("{host}:80").parse())
        .expect("the host must be an IP literal");
    let gateway = args.get(4).map(|g| g.parse().expect("bad gateway"));
    let (net, driver) = tap::open(&args[1], &args[2], gateway)?;
    smol::block_on(async {
        smol::spawn(driver).detach();
        let mut stream = TcpStream::connect(&net, server).await?;
        let path = if path.is_empty() { "/" } else { path };
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        let end = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| std::io::Error::other("no end of the response header"))?;
        let status = String::from_utf8_lossy(&response[..end]);
        let status = status.lines().next().unwrap_or_default().to_string();
        let body = &response[end + 4..];
        eprintln!("http_get: {status}; {} bytes", body.len());
        std::io::Write::write_all(&mut std::io::stdout(), body)?;
        drop(stream); // and give the close a moment to finish before the process ends
        let until = std::time::Instant::now() + std::time::Duration::from_secs(1);
        while net.connection_count() > 0 && std::time::Instant::now() < until {
            async_io::Timer::after(std::time::Duration::from_millis(10)).await;
        }
        if status.split_whitespace().nth(1) == Some("200") {
            Ok(())
        } else {
            Err(std::io::Error::other(status))
        }
    })
}
