//! Whole transfers over the simulator: byte-exact delivery under impairment, many
//! connections through one listener, determinism.

mod common;

use common::*;
use core::time::Duration;
use sanstcp::sim::LinkConfig;
use sanstcp::{ConnectOptions, TcpState};

#[test]
fn small_transfer_ideal_link() {
    let mut p = Pair::ideal(1);
    let (_l, ca, cb) = p.connect(ConnectOptions::default());
    let mut t = Transfer::new(1_000_000, 7);
    p.run(60, |p| {
        let now = p.now();
        t.pump_send(p.sa(), ca, now);
        t.pump_recv(p.sb(), cb);
        t.eof_seen
    });
    assert_eq!(t.received, 1_000_000);

    p.run(5, |p| p.sa().info(ca).unwrap().state == TcpState::FinWait2);
}

#[test]
fn transfer_under_loss() {
    let link = LinkConfig::ideal()
        .with_delay(Duration::from_millis(10))
        .with_loss(0.05);
    let mut p = Pair::new(3, config(A_IP, 1), config(B_IP, 2), link);
    let (_l, ca, cb) = p.connect(ConnectOptions::default());
    let mut t = Transfer::new(2_000_000, 9);
    p.run(600, |p| {
        let now = p.now();
        t.pump_send(p.sa(), ca, now);
        t.pump_recv(p.sb(), cb);
        t.eof_seen
    });
    assert_eq!(t.received, 2_000_000);
    eprintln!("time {} stats {:?}", p.now(), p.sa().stats());
}
