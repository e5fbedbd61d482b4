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

/// 5 % loss, 10 % reordering by 3 ms, 1 % duplication, 0.1 % corruption, 10 ms one way,
/// 100 Mbit/s.
fn hostile_link() -> LinkConfig {
    LinkConfig::ideal()
        .with_delay(Duration::from_millis(10))
        .with_bandwidth(100_000_000)
        .with_loss(0.05)
        .with_reorder(0.10, Duration::from_millis(3))
        .with_duplicate(0.01)
        .with_corrupt(0.001)
}

/// Moves `total` bytes each way at once over [`hostile_link`] in both directions, checking
/// every byte and both ends of stream; returns the virtual time it took.
fn both_ways(a_ip: &str, b_ip: &str, seed: u64, total: u64, limit_secs: u64) -> Duration {
    both_ways_with(a_ip, b_ip, seed, total, limit_secs, |_| {})
}

/// [`both_ways`] with both stacks' configuration changed by `tweak`.
fn both_ways_with(
    a_ip: &str,
    b_ip: &str,
    seed: u64,
    total: u64,
    limit_secs: u64,
    tweak: impl Fn(&mut sanstcp::StackConfig),
) -> Duration {
    let (mut ca, mut cb) = (config(a_ip, 1), config(b_ip, 2));
    tweak(&mut ca);
    tweak(&mut cb);
    let mut p = Pair::new(seed, ca, cb, hostile_link());
    let server = std::net::SocketAddr::new(ip(b_ip), 80);
    let (_l, ca, cb) = p.connect_to(server, ConnectOptions::default());
    let start = p.now();
    let (mut tx_a, mut rx_b) = (Sender::new(total, 11), Receiver::new(11));
    let (mut tx_b, mut rx_a) = (Sender::new(total, 12), Receiver::new(12));
    p.run(limit_secs, |p| {
        tx_a.pump(p.sa(), ca).unwrap();
        tx_b.pump(p.sb(), cb).unwrap();
        rx_a.pump(p.sa(), ca).unwrap();
        rx_b.pump(p.sb(), cb).unwrap();
        events(p.sa());
        events(p.sb());
        rx_a.eof && rx_b.eof
    });
    let elapsed = p.now() - start;
    assert_eq!(rx_a.received, total, "A received everything B sent");
    assert_eq!(rx_b.received, total, "B received everything A sent");
    assert!(tx_a.shut && tx_b.shut);
    // The link really was that bad, both ways.
    for node in [p.a, p.b] {
        let ls = p.sim.link_stats(sanstcp::sim::LinkId(0), node);
        assert!(
            ls.dropped_loss > 0 && ls.reordered > 0 && ls.duplicated > 0 && ls.corrupted > 0,
            "{ls:?}"
        );
    }
    let (sa, sb) = (p.sa().stats().clone(), p.sb().stats().clone());
    let (ia, ib) = (p.sa().info(ca).unwrap(), p.sb().info(cb).unwrap());
    eprintln!(
        "{a_ip} <-> {b_ip}: {total} bytes each way in {:.3} s virtual; \
         A: {} retransmitted segments ({} fast, {} RTOs), B: {} ({} fast, {} RTOs); \
         drops at A {:?}, at B {:?}; final cwnd A {} B {}, srtt A {:?} B {:?}",
        elapsed.as_secs_f64(),
        sa.retransmitted_segments,
        sa.fast_retransmits,
        sa.rto_expirations,
        sb.retransmitted_segments,
        sb.fast_retransmits,
        sb.rto_expirations,
        sa.drops().filter(|d| d.1 > 0).collect::<Vec<_>>(),
        sb.drops().filter(|d| d.1 > 0).collect::<Vec<_>>(),
        ia.cwnd,
        ib.cwnd,
        ia.srtt,
        ib.srtt,
    );
    // Corrupted packets reach the stacks and must have been thrown away, not delivered.
    assert!(
        sa.dropped(sanstcp::DropReason::BadChecksum) + sa.dropped(sanstcp::DropReason::BadIpHeader)
            > 0
    );
    assert!(
        sb.dropped(sanstcp::DropReason::BadChecksum) + sb.dropped(sanstcp::DropReason::BadIpHeader)
            > 0
    );
    // Both FINs were acknowledged: the close completes on both sides.
    p.run(60, |p| {
        let done = |s: TcpState| matches!(s, TcpState::TimeWait | TcpState::Closed);
        done(p.sa().info(ca).unwrap().state) && done(p.sb().info(cb).unwrap().state)
    });
    elapsed
}

#[test]
fn sixteen_mib_both_ways_hostile_link_ipv4() {
    // About 100 s of virtual time each (98..120 s over 40 seeds); 600 s means a stall.
    for seed in [21, 23, 25] {
        both_ways(A_IP, B_IP, seed, 16 << 20, 600);
    }
}

#[test]
fn sixteen_mib_both_ways_hostile_link_ipv6() {
    for seed in [22, 24, 26] {
        both_ways(A_IP6, B_IP6, seed, 16 << 20, 600);
    }
}

#[test]
fn sixteen_mib_both_ways_hostile_link_cubic() {
    for seed in [31, 33] {
        both_ways_with(A_IP, B_IP, seed, 16 << 20, 600, |c| {
            c.congestion = sanstcp::CongestionAlgorithm::Cubic;
        });
    }
}

#[test]
fn sixteen_mib_both_ways_hostile_link_without_sack_or_timestamps() {
    // The NewReno-only path (RFC 6582 partial ACKs) for peers that offer neither option.
    both_ways_with(A_IP, B_IP, 41, 16 << 20, 600, |c| {
        c.sack = false;
        c.timestamps = false;
    });
}
