//! An echo server (RFC 862) on a TAP device: every connection gets back what it sends, and
//! is closed after the peer's FIN. Needs CAP_NET_ADMIN and a device whose host side is up:
//!
//!     ip tuntap add dev tap0 mode tap; ip link set tap0 up; ip addr add 10.0.0.1/24 dev tap0
//!     cargo run -p sanstcp-async --example tap_echo -- tap0 10.0.0.2/24 7
//!     # then, from the host: nc 10.0.0.2 7

use std::net::SocketAddr;

use futures_lite::AsyncWriteExt;
use sanstcp_async::{tap, TcpListener};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: tap_echo IFNAME ADDR/PREFIX [PORT]");
        std::process::exit(2);
    }
    let port: u16 = args.get(3).map_or(Ok(7), |p| p.parse()).expect("bad port");
    let (net, driver) = tap::open(&args[1], &args[2], None)?;
    let (addr, _) = tap::parse_cidr(&args[2])?;
    smol::block_on(async {
        let driver = smol::spawn(driver);
        let listener = TcpListener::bind(&net, SocketAddr::new(addr, port))?;
        eprintln!("tap_echo: listening on {}", listener.local_addr());
        let server = async {
            loop {
                let (stream, peer) = listener.accept().await?;
                smol::spawn(async move {
                    let (reader, mut writer) = stream.split();
                    match futures_lite::io::copy(reader, &mut writer).await {
                        Ok(n) => eprintln!("tap_echo: {peer}: echoed {n} bytes"),
                        Err(e) => eprintln!("tap_echo: {peer}: {e}"),
                    }
                    let _ = writer.close().await;
                })
                .detach();
            }
        };
        // Runs until the device fails (or the process is killed).
        futures_lite::future::or(server, driver).await
    })
}
