//! Tests of the simulator with a tiny mock node speaking raw IP-header-prefixed packets.

use super::*;
use alloc::rc::Rc;
use alloc::vec;
use core::cell::RefCell;

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 0, 0, 2];
const R: [u8; 4] = [10, 0, 0, 254];

/// A raw IPv4-header-prefixed packet of `size` bytes (at least 24) carrying `id`.
fn ipv4_packet(src: [u8; 4], dst: [u8; 4], id: u32, size: usize) -> Vec<u8> {
    let size = size.max(24);
    let mut p = vec![0u8; size];
    for (i, byte) in p.iter_mut().enumerate() {
        *byte = (i as u8).wrapping_mul(31).wrapping_add(id as u8);
    }
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(size as u16).to_be_bytes());
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[20..24].copy_from_slice(&id.to_be_bytes());
    p
}

/// A raw IPv6-header-prefixed packet of 60 bytes carrying `id`.
fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, id: u32) -> Vec<u8> {
    let mut p = vec![0u8; 60];
    p[0] = 0x60;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    p[40..44].copy_from_slice(&id.to_be_bytes());
    p
}

/// The id carried by a packet built by [`ipv4_packet`].
fn id_of(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[20], p[21], p[22], p[23]])
}

/// A mock endpoint: sends scheduled packets, records arrivals and timeouts, and can echo
/// packets back or forward packets not addressed to it.
#[derive(Default)]
struct Host {
    addrs: Vec<IpAddr>,
    /// Packets to send, each not before its time (kept sorted by time).
    outbox: VecDeque<(Instant, Vec<u8>)>,
    received: Vec<(Instant, Vec<u8>)>,
    timeouts: Vec<Instant>,
    /// Reply to every packet addressed to us by swapping source and destination.
    echo: bool,
    /// Resend packets not addressed to us unchanged (act as a router).
    forward: bool,
    /// Claim this length from `poll_transmit` instead of the real one.
    lie_about_len: Option<usize>,
}

impl Host {
    fn new(addr: [u8; 4]) -> Host {
        Host {
            addrs: vec![IpAddr::V4(Ipv4Addr::from(addr))],
            ..Host::default()
        }
    }

    fn schedule(&mut self, at: Instant, packet: Vec<u8>) {
        let pos = self.outbox.partition_point(|(t, _)| *t <= at);
        self.outbox.insert(pos, (at, packet));
    }

    fn received_ids(&self) -> Vec<u32> {
        self.received.iter().map(|(_, p)| id_of(p)).collect()
    }
}

impl Node for Host {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.received.push((now, packet.to_vec()));
        let ours = destination(packet).is_some_and(|d| self.addrs.contains(&d));
        if ours && self.echo && packet.len() >= 20 {
            let mut reply = packet.to_vec();
            reply[12..16].copy_from_slice(&packet[16..20]);
            reply[16..20].copy_from_slice(&packet[12..16]);
            self.schedule(now, reply);
        } else if !ours && self.forward {
            self.schedule(now, packet.to_vec());
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.timeouts.push(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.outbox.front()?.0 > now {
            return None;
        }
        let (_, packet) = self.outbox.pop_front()?;
        let n = packet.len().min(buf.len());
        buf[..n].copy_from_slice(&packet[..n]);
        Some(self.lie_about_len.unwrap_or(n))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.outbox.front().map(|(t, _)| *t)
    }

    fn addresses(&self) -> Vec<IpAddr> {
        self.addrs.clone()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A node type that is not a `Host`, for downcast tests.
struct Other;

impl Node for Other {
    fn handle_packet(&mut self, _: Instant, _: &[u8]) {}
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, _: Instant, _: &mut [u8]) -> Option<usize> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn addresses(&self) -> Vec<IpAddr> {
        Vec::new()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Two hosts A (10.0.0.1) and B (10.0.0.2) joined by one link.
fn pair(seed: u64, a_to_b: LinkConfig, b_to_a: LinkConfig) -> (Sim, NodeId, NodeId, LinkId) {
    let mut sim = Sim::new(seed);
    let a = sim.add_node(Box::new(Host::new(A)));
    let b = sim.add_node(Box::new(Host::new(B)));
    let link = sim.connect(a, b, a_to_b, b_to_a);
    (sim, a, b, link)
}

/// Schedules `n` packets of `size` bytes from A to B, the i-th at `start + i * gap`.
fn send_burst(sim: &mut Sim, a: NodeId, n: u32, size: usize, start: Instant, gap: Duration) {
    let host = sim.node_mut::<Host>(a);
    for i in 0..n {
        let at = start + gap * i;
        host.schedule(at, ipv4_packet(A, B, i, size));
    }
}

/// Runs until nothing is pending (or 1000 s pass).
fn run_idle(sim: &mut Sim) {
    sim.run_until(Instant::from_secs(1000), |_| false);
    assert_eq!(sim.stats().in_flight, 0);
}

/// Checks the per-direction accounting identity once nothing is in flight.
fn assert_conserved(s: LinkStats) {
    assert_eq!(
        s.sent + s.duplicated,
        s.delivered + s.dropped_loss + s.dropped_queue + s.dropped_mtu,
        "{s:?}"
    );
}

#[test]
fn bandwidth_serializes_packets_back_to_back() {
    let link = LinkConfig::ideal().with_bandwidth(1_000_000);
    let (mut sim, a, b, id) = pair(1, link, link);
    send_burst(&mut sim, a, 10, 1250, Instant::ZERO, Duration::ZERO);
    run_idle(&mut sim);
    let times: Vec<Instant> = sim.node::<Host>(b).received.iter().map(|r| r.0).collect();
    let expected: Vec<Instant> = (1..=10).map(|i| Instant::from_millis(10 * i)).collect();
    assert_eq!(times, expected);
    assert_eq!(
        sim.node::<Host>(b).received_ids(),
        (0..10).collect::<Vec<_>>()
    );
    let stats = sim.link_stats(id, a);
    assert_eq!(stats.sent, 10);
    assert_eq!(stats.delivered, 10);
    assert_eq!(stats.bytes_delivered, 12_500);
    assert_eq!(sim.link_stats(id, b), LinkStats::default());
}

#[test]
fn serialization_rounds_up_and_idle_link_restarts_at_now() {
    // 3 bytes at 7 bit/s: 24/7 s = 3.428571428... s, rounded up to whole nanoseconds.
    assert_eq!(serialization_ns(3, 7), 3_428_571_429);
    assert_eq!(serialization_ns(1500, 0), 0);
    assert_eq!(serialization_ns(usize::MAX, 1), u64::MAX);
    let link = LinkConfig::ideal().with_bandwidth(8_000_000);
    let (mut sim, a, b, _) = pair(1, link, link);
    send_burst(&mut sim, a, 1, 1000, Instant::ZERO, Duration::ZERO);
    send_burst(
        &mut sim,
        a,
        1,
        1000,
        Instant::from_millis(5),
        Duration::ZERO,
    );
    run_idle(&mut sim);
    let times: Vec<Instant> = sim.node::<Host>(b).received.iter().map(|r| r.0).collect();
    assert_eq!(times, [Instant::from_millis(1), Instant::from_millis(6)]);
}

#[test]
fn delay_and_serialization_add_up_on_a_round_trip() {
    let link = LinkConfig::ideal()
        .with_delay(Duration::from_millis(25))
        .with_bandwidth(8_000_000);
    let slow_back = link.with_delay(Duration::from_millis(50));
    let (mut sim, a, b, _) = pair(1, link, slow_back);
    sim.node_mut::<Host>(b).echo = true;
    send_burst(&mut sim, a, 1, 1000, Instant::ZERO, Duration::ZERO);
    run_idle(&mut sim);
    assert_eq!(sim.node::<Host>(b).received[0].0, Instant::from_millis(26));
    let back = &sim.node::<Host>(a).received;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].0, Instant::from_millis(26 + 1 + 50));
    assert_eq!(&back[0].1[12..16], &B);
    assert_eq!(sim.now(), Instant::from_millis(77));
}

#[test]
fn drop_tail_at_queue_limit() {
    let link = LinkConfig::ideal()
        .with_bandwidth(1_000_000)
        .with_queue(5000);
    let (mut sim, a, b, id) = pair(1, link, link);
    // 1000 bytes take 8 ms; ten at once: five fit, five are dropped.
    send_burst(&mut sim, a, 10, 1000, Instant::ZERO, Duration::ZERO);
    // At 20 ms two have left the queue, three (3000 bytes) remain: two more fit.
    let host = sim.node_mut::<Host>(a);
    for i in 10..13 {
        host.schedule(Instant::from_millis(20), ipv4_packet(A, B, i, 1000));
    }
    run_idle(&mut sim);
    let stats = sim.link_stats(id, a);
    assert_eq!(stats.sent, 13);
    assert_eq!(stats.dropped_queue, 6);
    assert_eq!(stats.delivered, 7);
    assert_conserved(stats);
    let rx = &sim.node::<Host>(b).received;
    let ids: Vec<u32> = rx.iter().map(|(_, p)| id_of(p)).collect();
    assert_eq!(ids, [0, 1, 2, 3, 4, 10, 11]);
    assert_eq!(rx[6].0, Instant::from_millis(56));
}

#[test]
fn unlimited_queue_keeps_everything() {
    let link = LinkConfig::ideal().with_bandwidth(1_000_000);
    let (mut sim, a, _, id) = pair(1, link, link);
    send_burst(&mut sim, a, 100, 1000, Instant::ZERO, Duration::ZERO);
    run_idle(&mut sim);
    assert_eq!(sim.link_stats(id, a).delivered, 100);
    assert_eq!(sim.now(), Instant::from_millis(800));
}

#[test]
fn loss_rate_is_close_to_configured() {
    let link = LinkConfig::ideal().with_loss(0.1);
    let (mut sim, a, b, id) = pair(5, link, link);
    send_burst(
        &mut sim,
        a,
        20_000,
        100,
        Instant::ZERO,
        Duration::from_micros(10),
    );
    run_idle(&mut sim);
    let stats = sim.link_stats(id, a);
    assert!((1800..=2200).contains(&stats.dropped_loss), "{stats:?}");
    assert_eq!(stats.delivered as usize, sim.node::<Host>(b).received.len());
    assert_conserved(stats);
}

#[test]
fn burst_loss_matches_gilbert_elliott_and_clusters() {
    let link = LinkConfig::ideal().with_burst_loss(BurstLoss::new(0.01, 0.1, 1.0));
    let (mut sim, a, b, id) = pair(11, link, link);
    let n = 50_000;
    send_burst(&mut sim, a, n, 64, Instant::ZERO, Duration::from_micros(10));
    run_idle(&mut sim);
    let stats = sim.link_stats(id, a);
    // Stationary bad fraction: 0.01 / 0.11 = 9.1 %.
    let rate = stats.dropped_loss as f64 / f64::from(n);
    assert!((0.06..0.12).contains(&rate), "{rate}");
    // Mean length of a run of consecutive losses is about 1 / 0.1 = 10.
    let ids = sim.node::<Host>(b).received_ids();
    let gaps: Vec<u32> = ids
        .windows(2)
        .map(|w| w[1] - w[0] - 1)
        .filter(|&g| g > 0)
        .collect();
    let mean = f64::from(gaps.iter().sum::<u32>()) / gaps.len() as f64;
    assert!(mean > 5.0, "mean burst {mean}");
    assert_conserved(stats);
}

#[test]
fn duplication_delivers_twice() {
    let link = LinkConfig::ideal().with_duplicate(0.5);
    let (mut sim, a, b, id) = pair(3, link, link);
    send_burst(
        &mut sim,
        a,
        10_000,
        100,
        Instant::ZERO,
        Duration::from_micros(1),
    );
    run_idle(&mut sim);
    let stats = sim.link_stats(id, a);
    assert!((4700..=5300).contains(&stats.duplicated), "{stats:?}");
    assert_eq!(stats.delivered, stats.sent + stats.duplicated);
    let rx = &sim.node::<Host>(b).received;
    assert_eq!(rx.len() as u64, stats.delivered);
    let twice = rx.windows(2).filter(|w| w[0].1 == w[1].1).count();
    assert_eq!(twice as u64, stats.duplicated);
}

#[test]
fn reordering_lets_later_packets_overtake() {
    let link = LinkConfig::ideal()
        .with_delay(Duration::from_millis(1))
        .with_reorder(0.2, Duration::from_millis(10));
    let (mut sim, a, b, id) = pair(4, link, link);
    send_burst(
        &mut sim,
        a,
        2000,
        100,
        Instant::ZERO,
        Duration::from_millis(1),
    );
    run_idle(&mut sim);
    let stats = sim.link_stats(id, a);
    assert!((340..=460).contains(&stats.reordered), "{stats:?}");
    let ids = sim.node::<Host>(b).received_ids();
    assert_eq!(ids.len(), 2000);
    let inversions = ids.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(inversions > 100, "{inversions}");
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..2000).collect::<Vec<_>>());
}

#[test]
fn corruption_flips_exactly_one_bit() {
    let link = LinkConfig::ideal().with_corrupt(1.0);
    let (mut sim, a, b, id) = pair(6, link, link);
    send_burst(
        &mut sim,
        a,
        200,
        200,
        Instant::ZERO,
        Duration::from_micros(5),
    );
    run_idle(&mut sim);
    assert_eq!(sim.link_stats(id, a).corrupted, 200);
    let rx = &sim.node::<Host>(b).received;
    assert_eq!(rx.len(), 200);
    let mut positions = Vec::new();
    for (i, (_, got)) in rx.iter().enumerate() {
        let sent = ipv4_packet(A, B, i as u32, 200);
        let flipped: u32 = sent
            .iter()
            .zip(got)
            .map(|(x, y)| (x ^ y).count_ones())
            .sum();
        assert_eq!(flipped, 1, "packet {i}");
        positions.push(sent.iter().zip(got).position(|(x, y)| x != y));
    }
    positions.sort_unstable();
    positions.dedup();
    assert!(positions.len() > 50, "flips spread over the packet");
}

#[test]
fn duplicate_gets_its_own_corruption_decision() {
    let link = LinkConfig::ideal().with_duplicate(1.0).with_corrupt(0.5);
    let (mut sim, a, b, id) = pair(8, link, link);
    send_burst(
        &mut sim,
        a,
        1000,
        100,
        Instant::ZERO,
        Duration::from_micros(5),
    );
    run_idle(&mut sim);
    let stats = sim.link_stats(id, a);
    assert_eq!(stats.duplicated, 1000);
    assert!((900..=1100).contains(&stats.corrupted), "{stats:?}");
    let rx = &sim.node::<Host>(b).received;
    // The copies differ unless neither or both got the very same flip: about 3/4.
    let differing = rx.chunks(2).filter(|c| c[0].1 != c[1].1).count();
    assert!((700..=800).contains(&differing), "{differing}");
}

#[test]
fn mtu_drops_larger_packets() {
    let link = LinkConfig::ideal().with_mtu(1000);
    let (mut sim, a, b, id) = pair(1, link, LinkConfig::ideal().with_mtu(0));
    let host = sim.node_mut::<Host>(a);
    host.schedule(Instant::ZERO, ipv4_packet(A, B, 0, 1000));
    host.schedule(Instant::ZERO, ipv4_packet(A, B, 1, 1001));
    sim.node_mut::<Host>(b)
        .schedule(Instant::ZERO, ipv4_packet(B, A, 2, 60_000));
    run_idle(&mut sim);
    let stats = sim.link_stats(id, a);
    assert_eq!(stats.dropped_mtu, 1);
    assert_eq!(sim.node::<Host>(b).received_ids(), [0]);
    assert_eq!(sim.node::<Host>(a).received[0].1.len(), 60_000);
}

#[test]
fn run_until_respects_limit() {
    let (mut sim, a, b, _) = pair(1, LinkConfig::ideal(), LinkConfig::ideal());
    send_burst(&mut sim, a, 1, 100, Instant::from_secs(10), Duration::ZERO);
    assert!(!sim.run_until(Instant::from_secs(1), |_| false));
    assert_eq!(sim.now(), Instant::from_secs(1));
    assert!(sim.node::<Host>(b).received.is_empty());
    assert!(!sim.step(Instant::from_millis(500)), "limit in the past");
    assert_eq!(sim.now(), Instant::from_secs(1), "time never goes back");

    assert!(sim.run_until(Instant::from_secs(20), |s| !s
        .node::<Host>(b)
        .received
        .is_empty()));
    assert_eq!(sim.now(), Instant::from_secs(10));
    assert_eq!(sim.node::<Host>(a).timeouts, [Instant::from_secs(10)]);

    // Nothing pending: the clock stays, until told to move.
    assert!(!sim.step(Instant::from_secs(30)));
    assert!(!sim.run_until(Instant::from_secs(30), |_| false));
    assert_eq!(sim.now(), Instant::from_secs(10));
    assert!(sim.advance_by(Duration::from_secs(5)));
    assert_eq!(sim.now(), Instant::from_secs(15));
    sim.set_start(Instant::from_secs(1));
    assert_eq!(sim.now(), Instant::from_secs(15));
}

#[test]
fn done_is_checked_before_stepping() {
    let (mut sim, a, _, _) = pair(1, LinkConfig::ideal(), LinkConfig::ideal());
    send_burst(&mut sim, a, 1, 100, Instant::from_secs(1), Duration::ZERO);
    assert!(sim.run_until(Instant::from_secs(5), |_| true));
    assert_eq!(sim.now(), Instant::ZERO);
    assert_eq!(sim.stats().steps, 0);
}

#[test]
fn endless_zero_delay_ping_pong_is_bounded() {
    let (mut sim, a, b, _) = pair(1, LinkConfig::ideal(), LinkConfig::ideal());
    sim.node_mut::<Host>(a).echo = true;
    sim.node_mut::<Host>(b).echo = true;
    send_burst(&mut sim, a, 1, 100, Instant::ZERO, Duration::ZERO);
    assert!(!sim.run_until_bounded(Instant::from_secs(1), 1000, |_| false));
    assert_eq!(sim.stats().steps, 1000);
    assert_eq!(sim.now(), Instant::ZERO);
    assert_eq!(sim.stats().in_flight, 1);
}

#[test]
fn unroutable_and_malformed_packets_are_counted() {
    let (mut sim, a, b, id) = pair(1, LinkConfig::ideal(), LinkConfig::ideal());
    let host = sim.node_mut::<Host>(a);
    for i in 0..5 {
        host.schedule(Instant::ZERO, ipv4_packet(A, [10, 9, 9, 9], i, 100));
    }
    host.schedule(Instant::ZERO, ipv4_packet(A, A, 5, 100));
    let mut bad_version = ipv4_packet(A, B, 6, 100);
    bad_version[0] = 0x55;
    host.schedule(Instant::ZERO, bad_version);
    host.schedule(Instant::ZERO, vec![0x45; 10]);
    host.schedule(Instant::ZERO, Vec::new());
    host.schedule(Instant::ZERO, vec![0x60; 39]);
    run_idle(&mut sim);
    let stats = sim.stats();
    assert_eq!(stats.no_route, 6);
    assert_eq!(stats.malformed, 4);
    assert_eq!(stats.transmitted, 10);
    assert_eq!(sim.link_stats(id, a).sent, 0);
    assert!(sim.node::<Host>(b).received.is_empty());

    sim.node_mut::<Host>(a).lie_about_len = Some(TX_BUF_LEN + 1);
    send_burst(&mut sim, a, 1, 100, Instant::ZERO, Duration::ZERO);
    run_idle(&mut sim);
    assert_eq!(sim.stats().malformed, 5);
}

#[test]
fn routes_ipv6_and_follows_address_changes() {
    let a6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
    let b6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
    let (mut sim, a, b, _) = pair(1, LinkConfig::ideal(), LinkConfig::ideal());
    sim.node_mut::<Host>(a).addrs.push(IpAddr::V6(a6));
    // B gets its IPv6 address after routes were first read: a miss refreshes them.
    send_burst(&mut sim, a, 1, 100, Instant::ZERO, Duration::ZERO);
    run_idle(&mut sim);
    sim.node_mut::<Host>(b).addrs.push(IpAddr::V6(b6));
    sim.node_mut::<Host>(a)
        .schedule(Instant::ZERO, ipv6_packet(a6, b6, 7));
    run_idle(&mut sim);
    let rx = &sim.node::<Host>(b).received;
    assert_eq!(rx.len(), 2);
    assert_eq!(rx[1].1, ipv6_packet(a6, b6, 7));
    assert_eq!(sim.stats().no_route, 0);
}

#[test]
fn default_route_through_a_router() {
    let mut sim = Sim::new(1);
    let a = sim.add_node(Box::new(Host::new(A)));
    let r = sim.add_node(Box::new(Host {
        forward: true,
        ..Host::new(R)
    }));
    let b = sim.add_node(Box::new(Host {
        echo: true,
        ..Host::new(B)
    }));
    let hop = LinkConfig::ideal().with_delay(Duration::from_millis(5));
    let ar = sim.connect(a, r, hop, hop);
    let rb = sim.connect(r, b, hop, hop);
    sim.set_default_route(a, Some(ar));
    sim.set_default_route(b, Some(rb));
    send_burst(&mut sim, a, 3, 100, Instant::ZERO, Duration::from_millis(1));
    run_idle(&mut sim);
    assert_eq!(sim.node::<Host>(b).received_ids(), [0, 1, 2]);
    let back = &sim.node::<Host>(a).received;
    assert_eq!(back.len(), 3);
    assert_eq!(back[0].0, Instant::from_millis(20));
    assert_eq!(sim.link_stats(rb, r).delivered, 3);
    assert_eq!(sim.link_stats(ar, r).delivered, 3);

    sim.set_default_route(a, None);
    send_burst(&mut sim, a, 1, 100, Instant::from_secs(1), Duration::ZERO);
    run_idle(&mut sim);
    assert_eq!(sim.stats().no_route, 1);
}

#[test]
fn same_instant_arrivals_keep_send_order() {
    let (mut sim, a, b, _) = pair(1, LinkConfig::ideal(), LinkConfig::ideal());
    send_burst(&mut sim, a, 50, 100, Instant::ZERO, Duration::ZERO);
    assert!(sim.step(Instant::from_secs(1)));
    assert_eq!(sim.now(), Instant::ZERO);
    assert_eq!(
        sim.node::<Host>(b).received_ids(),
        (0..50).collect::<Vec<_>>()
    );
}

/// Everything B and A received, with times, plus both directions' counters.
type RunLog = (
    Vec<(Instant, Vec<u8>)>,
    Vec<(Instant, Vec<u8>)>,
    LinkStats,
    LinkStats,
);

fn impaired_run(seed: u64) -> RunLog {
    let link = LinkConfig::ideal()
        .with_bandwidth(10_000_000)
        .with_delay(Duration::from_millis(1))
        .with_queue(20_000)
        .with_loss(0.1)
        .with_burst_loss(BurstLoss::new(0.02, 0.3, 0.8))
        .with_reorder(0.1, Duration::from_millis(3))
        .with_duplicate(0.05)
        .with_corrupt(0.05);
    let (mut sim, a, b, id) = pair(seed, link, link);
    sim.node_mut::<Host>(b).echo = true;
    send_burst(
        &mut sim,
        a,
        500,
        700,
        Instant::ZERO,
        Duration::from_micros(300),
    );
    run_idle(&mut sim);
    let (sa, sb) = (sim.link_stats(id, a), sim.link_stats(id, b));
    assert_conserved(sa);
    assert_conserved(sb);
    assert!(sa.dropped_queue > 0 && sa.reordered > 0 && sa.corrupted > 0);
    let rx_b = core::mem::take(&mut sim.node_mut::<Host>(b).received);
    let rx_a = core::mem::take(&mut sim.node_mut::<Host>(a).received);
    (rx_b, rx_a, sa, sb)
}

#[test]
fn same_seed_same_run_different_seed_different_run() {
    let first = impaired_run(42);
    assert_eq!(first, impaired_run(42));
    assert_ne!(first, impaired_run(43));
}

#[test]
fn links_draw_from_independent_streams() {
    // Changing one link's impairments does not change what happens on another.
    let run = |other_loss: f64| {
        let mut sim = Sim::new(9);
        let a = sim.add_node(Box::new(Host::new(A)));
        let b = sim.add_node(Box::new(Host::new(B)));
        let r = sim.add_node(Box::new(Host::new(R)));
        let lossy = LinkConfig::ideal().with_loss(0.5);
        sim.connect(a, b, lossy, lossy);
        let other = LinkConfig::ideal().with_loss(other_loss);
        sim.connect(a, r, other, other);
        let host = sim.node_mut::<Host>(a);
        for i in 0..200 {
            host.schedule(Instant::from_micros(u64::from(i)), ipv4_packet(A, B, i, 64));
            host.schedule(Instant::from_micros(u64::from(i)), ipv4_packet(A, R, i, 64));
        }
        run_idle(&mut sim);
        sim.node::<Host>(b).received_ids()
    };
    assert_eq!(run(0.0), run(0.7));
}

#[test]
fn capture_sees_every_packet() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let link = LinkConfig::ideal()
        .with_loss(0.2)
        .with_duplicate(0.2)
        .with_delay(Duration::from_millis(2));
    let (mut sim, a, b, id) = pair(2, link, link);
    let sink = Rc::clone(&log);
    sim.set_capture(Some(Box::new(move |t, from, to, kind, p: &[u8]| {
        sink.borrow_mut().push((t, from, to, kind, p.len()));
    })));
    send_burst(
        &mut sim,
        a,
        300,
        100,
        Instant::ZERO,
        Duration::from_micros(100),
    );
    run_idle(&mut sim);
    let stats = sim.link_stats(id, a);
    let log = log.borrow();
    let count = |k: CaptureKind| log.iter().filter(|e| e.3 == k).count() as u64;
    assert_eq!(count(CaptureKind::Sent), stats.sent);
    assert_eq!(count(CaptureKind::Delivered), stats.delivered);
    assert_eq!(count(CaptureKind::Dropped), stats.dropped_loss);
    assert!(log.iter().all(|e| e.1 == a && e.2 == b && e.4 == 100));
    let first_delivery = log.iter().find(|e| e.3 == CaptureKind::Delivered);
    assert!(first_delivery.is_some_and(|e| e.0 >= Instant::from_millis(2)));

    sim.set_capture(None);
    let now = sim.now();
    send_burst(&mut sim, a, 1, 100, now, Duration::ZERO);
    run_idle(&mut sim);
    assert_eq!(count(CaptureKind::Sent), stats.sent);
}

#[test]
fn capture_writes_a_pcap() {
    let pcap = Rc::new(RefCell::new(PcapBuffer::new()));
    let (mut sim, a, _, _) = pair(1, LinkConfig::ideal(), LinkConfig::ideal());
    let sink = Rc::clone(&pcap);
    sim.set_capture(Some(Box::new(move |t, _, _, kind, p: &[u8]| {
        if kind == CaptureKind::Delivered {
            sink.borrow_mut().record(t, p);
        }
    })));
    send_burst(&mut sim, a, 2, 100, Instant::ZERO, Duration::ZERO);
    run_idle(&mut sim);
    assert_eq!(pcap.borrow().as_bytes().len(), 24 + 2 * (16 + 100));
}

#[test]
fn link_config_can_change_mid_run() {
    let (mut sim, a, b, id) = pair(1, LinkConfig::ideal(), LinkConfig::ideal());
    send_burst(&mut sim, a, 10, 100, Instant::ZERO, Duration::ZERO);
    run_idle(&mut sim);
    sim.set_link_config(id, a, LinkConfig::ideal().with_loss(1.0));
    assert_eq!(sim.link_config(id, a).loss, 1.0);
    assert_eq!(sim.link_config(id, b), LinkConfig::ideal());
    let now = sim.now();
    send_burst(&mut sim, a, 10, 100, now, Duration::ZERO);
    run_idle(&mut sim);
    assert_eq!(sim.node::<Host>(b).received.len(), 10);
    assert_eq!(sim.link_stats(id, a).dropped_loss, 10);
}

#[test]
fn node_accessors() {
    let mut sim = Sim::new(1);
    let a = sim.add_node(Box::new(Host::new(A)));
    let o = sim.add_node(Box::new(Other));
    assert_eq!((a, o), (NodeId(0), NodeId(1)));
    assert_eq!(sim.node_count(), 2);
    assert_eq!(sim.link_count(), 0);
    assert!(sim.try_node::<Host>(o).is_none());
    assert!(sim.try_node::<Other>(o).is_some());
    assert!(sim.try_node_mut::<Host>(NodeId(7)).is_none());
    assert!(sim.node_dyn(a).is_some_and(|n| n.addresses().len() == 1));
    assert!(sim.node_dyn_mut(NodeId(2)).is_none());
    sim.node_mut::<Host>(a).echo = true;
    assert!(sim.node::<Host>(a).echo);
    assert!(alloc::format!("{sim:?}").contains("nodes: 2"));
    assert_eq!(LinkConfig::default(), LinkConfig::ideal());
}

#[test]
#[should_panic(expected = "is not a")]
fn node_of_wrong_type_panics_clearly() {
    let mut sim = Sim::new(1);
    let o = sim.add_node(Box::new(Other));
    let _ = sim.node::<Host>(o);
}

#[test]
#[should_panic(expected = "no node")]
fn missing_node_panics_clearly() {
    let mut sim = Sim::new(1);
    let _ = sim.node_mut::<Host>(NodeId(3));
}

#[test]
#[should_panic(expected = "not an end of link")]
fn link_stats_from_a_stranger_panics_clearly() {
    let mut sim = Sim::new(1);
    let a = sim.add_node(Box::new(Other));
    let b = sim.add_node(Box::new(Other));
    let c = sim.add_node(Box::new(Other));
    let link = sim.connect(a, b, LinkConfig::ideal(), LinkConfig::ideal());
    let _ = sim.link_stats(link, c);
}

#[test]
fn destination_parsing_never_panics() {
    let mut rng = Rng::new(77);
    let mut buf = [0u8; 64];
    for len in 0..=64 {
        for _ in 0..50 {
            rng.fill_bytes(&mut buf[..len]);
            let _ = destination(&buf[..len]);
        }
    }
    assert_eq!(
        destination(&ipv4_packet(A, B, 0, 24)),
        Some(IpAddr::V4(Ipv4Addr::from(B)))
    );
}

#[test]
fn buffers_are_recycled() {
    let (mut sim, a, _, _) = pair(1, LinkConfig::ideal(), LinkConfig::ideal());
    send_burst(
        &mut sim,
        a,
        1000,
        1500,
        Instant::ZERO,
        Duration::from_micros(1),
    );
    run_idle(&mut sim);
    assert!(!sim.pool.is_empty() && sim.pool.len() <= MAX_POOLED_BUFFERS);
}

#[test]
fn set_start_moves_the_epoch() {
    let (mut sim, a, b, _) = pair(1, LinkConfig::ideal(), LinkConfig::ideal());
    sim.set_start(Instant::from_secs(5));
    send_burst(&mut sim, a, 1, 100, Instant::ZERO, Duration::ZERO);
    run_idle(&mut sim);
    assert_eq!(sim.node::<Host>(b).received[0].0, Instant::from_secs(5));
    assert_eq!(sim.now(), Instant::from_secs(5));
}
