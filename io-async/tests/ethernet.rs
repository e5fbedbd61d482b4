//! The Ethernet path (ARP, NDP through `sanstcp::link`) and the async-io reactor without
//! privileges: two stacks on [`AsyncTap`]s made from a datagram socket pair, which moves
//! one frame per message like a TAP device.

mod common;

use std::os::unix::net::UnixDatagram;

use common::pattern;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use sanstcp::link::LinkConfig;
use sanstcp::wire::EthernetAddress;
use sanstcp::Stack;
use sanstcp_async::{AsyncTap, Net, TcpListener, TcpStream};
use sanstcp_mio::device::TapDevice;

fn end(sock: UnixDatagram, ip: &str, n: u8) -> (Net, sanstcp_async::Driver<AsyncTap>) {
    let dev = AsyncTap::new(TapDevice::from_fd(sock.into(), "wire", false)).unwrap();
    let addr: std::net::IpAddr = ip.parse().unwrap();
    let mut link = LinkConfig::new(EthernetAddress([2, 0, 0, 0, 0, n]));
    link.prefixes = vec![(addr, if addr.is_ipv4() { 24 } else { 64 })];
    let stack = Stack::new(common::config(ip, u64::from(n))).unwrap();
    Net::ethernet(stack, link, dev)
}

fn transfer(a: &str, b: &str) {
    let (sa, sb) = UnixDatagram::pair().unwrap();
    let (client, cd) = end(sa, a, 1);
    let (server, sd) = end(sb, b, 2);
    let addr = std::net::SocketAddr::new(b.parse().unwrap(), 9);
    smol::block_on(async {
        smol::spawn(cd).detach();
        smol::spawn(sd).detach();
        let listener = TcpListener::bind(&server, addr).unwrap();
        let data = pattern(11, 4 << 20);
        let sent = data.clone();
        let writer = smol::spawn(async move {
            let mut c = TcpStream::connect(&client, addr).await.unwrap();
            c.write_all(&sent).await.unwrap();
            c.close().await.unwrap();
            c
        });
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert!(
            got == data,
            "differs: {} of {} bytes",
            got.len(),
            data.len()
        );
        drop(writer.await);
    });
}

#[test]
fn ethernet_frames_over_a_socket_pair_ipv4() {
    transfer("10.0.0.1", "10.0.0.2");
}

#[test]
fn ethernet_frames_over_a_socket_pair_ipv6() {
    transfer("fd00::1", "fd00::2");
}
