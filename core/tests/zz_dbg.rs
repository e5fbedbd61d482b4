mod common;
use common::*;
use core::time::Duration;
use sanstcp::sim::LinkConfig;
use sanstcp::ConnectOptions;

#[test]
fn dbg() {
    let link = LinkConfig::ideal()
        .with_delay(Duration::from_millis(10))
        .with_bandwidth(100_000_000)
        .with_loss(0.05)
        .with_reorder(0.10, Duration::from_millis(3))
        .with_duplicate(0.01)
        .with_corrupt(0.001);
    let mut p = Pair::new(21, config(A_IP, 1), config(B_IP, 2), link);
    let server = std::net::SocketAddr::new(ip(B_IP), 80);
    let (_l, ca, cb) = p.connect_to(server, ConnectOptions::default());
    let total = 16u64 << 20;
    let (mut tx_a, mut rx_b) = (Sender::new(total, 11), Receiver::new(11));
    let (mut tx_b, mut rx_a) = (Sender::new(total, 12), Receiver::new(12));
    let mut last = 0;
    p.run(3600, |p| {
        let now = p.now();
        if now.as_millis() / 100 != last {
            last = now.as_millis() / 100;
            eprintln!("{now} A {:?}\n B {:?}", p.sa().info(ca), p.sb().info(cb));
        }
        let r1 = tx_a.pump(p.sa(), ca);
        let r2 = tx_b.pump(p.sb(), cb);
        if r1.is_err() || r2.is_err() { eprintln!("{now} {r1:?} {r2:?} A {:?}\n B {:?}\n{:?}\n{:?}", p.sa().info(ca), p.sb().info(cb), events(p.sa()), events(p.sb())); panic!(); }
        rx_a.pump(p.sa(), ca).unwrap();
        rx_b.pump(p.sb(), cb).unwrap();
        events(p.sa());
        events(p.sb());
        rx_a.eof && rx_b.eof
    });
}
