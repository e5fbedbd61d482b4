//! Fuzz target `stack_input`: one stack ("B") under arbitrary network input and time.
//!
//! Set-up (deterministic, by driving two stacks directly): B (10.0.0.2, fd00::2) listens on
//! 10.0.0.2:80 and [::]:80 and holds connections from an honest peer A (10.0.0.1, fd00::1):
//! one with unacknowledged data of B's in flight, one with out-of-order data of A's waiting in
//! reassembly, one over IPv6 that A has half-closed (B in CLOSE-WAIT), plus a half-open
//! connection in the listener's SYN queue (its SYN-ACK lost) and an active open of B's to a
//! host that never answers (SYN-SENT).
//!
//! The input is a 6-byte configuration block (checksum verification, buffer sizes, MTU,
//! delayed ACK, Nagle, keep-alive, timestamps, SACK, ECN, pacing, congestion control, SYN
//! cookies, state-change events) followed by `[op][len u16][body]`
//! records (see `sanstcp_fuzz::Records`). Ops: raw IP bytes; structured TCP segments aimed at
//! a live 4-tuple, the listener or a closed port, with sequence and acknowledgement numbers
//! relative to the connection's current state (built with `arbitrary`); raw transport bytes
//! behind a valid IP header (TCP checksum optionally fixed); ICMP/ICMPv6 echo and errors
//! quoting a live connection (path MTU, soft errors); captured real packets replayed with a
//! byte mutated; time steps (and jumps to the next deadline); honest exchanges with A; data
//! sent by either application; shutdown/close/abort/nodelay/keep-alive on B's connections.
//!
//! With checksum verification on (the default, configuration bit 0 clear), corrupted packets
//! mostly die at the checksum; with it off (bit 0 set) mutated packets reach the TCP state
//! machine, which is what `StackConfig::verify_checksums` exists for.
//!
//! After every op both stacks are drained (`poll_transmit` until `None`, `poll_event`) and
//! checked: no panic; every packet out parses back with valid checksums and a local source
//! (`check_transmit`); every byte B sends lies at the right stream offset of what B's
//! application queued; every byte B's application reads was carried at that sequence number
//! by some segment handed to B; every byte A reads is what B's application sent; per-connection
//! invariants through `info()` (SND.UNA ≤ SND.NXT ≤ SND.MAX, flight ≤ queue, window + unread ≤
//! receive buffer, reassembly inside the window, MSS/MTU/RTO in range); a connection the
//! application holds always answers `info()` with its own 4-tuple; `stats().packets_in ==
//! accepted + dropped_total()` with every drop reason matching what `handle_packet` returned,
//! `packets_out` matching the packets polled; after `handle_timeout(now)` no deadline is left at
//! or before `now`.
#![no_main]

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sanstcp::wire::{
    ip_protocol, Icmpv4Repr, Icmpv6Repr, IpRepr, Ipv4Packet, SackBlock, TcpFlags, TcpOptions,
    TcpPacket, TcpRepr,
};
use sanstcp::{ConnId, ConnectOptions, Event, Instant, ListenOptions, ListenerId, StackConfig};
use sanstcp_fuzz::{
    apply_algorithms, apply_features, check_info, decode, ip_packet, pattern_bytes, summary,
    tcp_packet, tcp_repr, trace, Limits, Records, SentSegment, Tracker,
};

const A4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const NOBODY4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
const ROUTER4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const A6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
const ROUTER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
/// Packets kept per direction between A and B, and replayable captures.
const QUEUE_LIMIT: usize = 512;
const CAPTURE_LIMIT: usize = 64;
/// Largest payload of a crafted segment and of one application send.
const MAX_PAYLOAD: usize = 1460;
const MAX_SEND: usize = 4096;

/// The configuration block at the start of the input.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Setup {
    flags: u8,
    mtu: u8,
    buffers: u8,
    extra: u8,
    /// Timestamps, SACK, ECN, pacing (`sanstcp_fuzz::apply_features`).
    features: u8,
    /// Congestion control and SYN cookies (`sanstcp_fuzz::apply_algorithms`).
    algorithms: u8,
}

/// Bytes of [`Setup`] at the start of the input.
const SETUP_LEN: usize = 6;

/// A structured TCP segment aimed at one of the targets.
#[derive(Arbitrary, Debug)]
struct SegSpec {
    target: u8,
    seq_mode: u8,
    seq_off: i32,
    ack_mode: u8,
    ack_off: i32,
    /// XORed with ACK: zero is a plain ACK.
    flags: u8,
    /// XORed with 0xffff: zero is the largest window.
    window: u16,
    /// Bit 0 MSS, 1 window scale, 2 SACK-permitted, 3 timestamps, 4..=6 SACK block count.
    opts: u8,
    mss: u16,
    wscale: u8,
    tsval: u32,
    tsecr: u32,
    sacks: [(i32, u16); 4],
    /// ECN codepoint of the IP header.
    ecn: u8,
    /// Bit 0: break the checksum; bit 1: urgent pointer set.
    misc: u8,
    /// Source port for the listener / closed-port targets.
    port: u16,
}

/// An ICMP or ICMPv6 message about (or to) one of the targets.
#[derive(Arbitrary, Debug)]
struct IcmpSpec {
    target: u8,
    kind: u8,
    code: u8,
    mtu: u16,
    seq_mode: u8,
    seq_off: i32,
    quote_extra: u8,
    from_router: bool,
}

/// Transport bytes behind a valid IP header from a target's peer.
#[derive(Arbitrary, Debug)]
struct RawSpec {
    target: u8,
    protocol: u8,
    /// Bit 0: put the target's ports in and fill the TCP checksum.
    fix: u8,
}

/// A captured A-to-B packet, replayed with one byte changed.
#[derive(Arbitrary, Debug)]
struct ReplaySpec {
    index: u8,
    pos: u16,
    xor: u8,
    /// Bit 0: fix the IPv4 header checksum; bit 1: fix the TCP checksum.
    fix: u8,
}

#[derive(Arbitrary, Debug)]
struct TimeSpec {
    ms: u16,
    /// Jump to the next deadline of either stack instead (when there is one).
    jump: bool,
}

#[derive(Arbitrary, Debug)]
struct AppSpec {
    conn: u8,
    len: u16,
}

#[derive(Arbitrary, Debug)]
struct CallSpec {
    conn: u8,
    what: u8,
}

/// (B's address, peer's address) of a connection.
type Tuple = (SocketAddr, SocketAddr);

/// How a target's current sequence state is found.
#[derive(Debug, Clone, Copy)]
enum Base {
    /// A connection B's application holds.
    Conn(ConnId),
    /// A half-open connection: numbers known from the captured handshake.
    Fixed {
        rcv_nxt: u32,
        snd_una: u32,
        snd_nxt: u32,
        iss: u32,
        irs: u32,
    },
    /// No connection (listener, closed port): numbers are absolute.
    None,
}

/// Somewhere crafted packets go: B's end and the peer's end of a 4-tuple.
#[derive(Debug, Clone, Copy)]
struct Target {
    local: SocketAddr,
    remote: SocketAddr,
    base: Base,
    /// The peer's port comes from the segment spec (listener, closed port).
    any_port: bool,
}

/// Sequence state used to place crafted numbers.
#[derive(Debug, Clone, Copy, Default)]
struct Nums {
    rcv_nxt: u32,
    rcv_wnd: u32,
    snd_una: u32,
    snd_nxt: u32,
    snd_max: u32,
    iss: u32,
    irs: u32,
}

/// One connection of B's application.
struct BConn {
    id: ConnId,
    local: SocketAddr,
    remote: SocketAddr,
    /// Released with close/abort: the id is stale.
    released: bool,
    /// Bytes read so far.
    received: u64,
    limits: Limits,
}

/// What one side's application queued on a connection, keyed by the sender's 4-tuple.
struct SendLog {
    iss: u32,
    data: Vec<u8>,
}

struct World {
    now: Instant,
    a: Tracker,
    b: Tracker,
    b_cfg: StackConfig,
    listeners: Vec<ListenerId>,
    a_conns: Vec<(ConnId, u64)>,
    b_conns: Vec<BConn>,
    targets: Vec<Target>,
    /// A to B and B to A, not yet delivered.
    to_b: VecDeque<Vec<u8>>,
    to_a: VecDeque<Vec<u8>>,
    captured: VecDeque<Vec<u8>>,
    /// Payloads handed to B, by (B's address, peer's address): (sequence number, bytes).
    fed: HashMap<Tuple, Vec<(u32, Vec<u8>)>>,
    /// What B's application sent, by (B's address, peer's address).
    b_sent: HashMap<(SocketAddr, SocketAddr), Vec<SendLog>>,
    stream: u64,
}

fuzz_target!(|data: &[u8]| {
    let (setup_bytes, rest) = data.split_at(data.len().min(SETUP_LEN));
    let (setup, _) = decode::<Setup>(setup_bytes);
    let mut w = World::new(setup);
    w.settle();
    for (op, body) in Records::new(rest) {
        w.op(op, body);
        w.settle();
    }
});

fn v4(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

fn v6(ip: Ipv6Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(ip), port)
}

fn b_config(s: Setup) -> StackConfig {
    let mut cfg = StackConfig::new(vec![IpAddr::V4(B4), IpAddr::V6(B6)], [0xb; 16], 2);
    cfg.verify_checksums = s.flags & 1 == 0;
    cfg.mtu = [1500, 1280, 9000, 1400][usize::from(s.mtu % 4)];
    let (send, recv) = [
        (256 * 1024, 256 * 1024),
        (8192, 4096),
        (65536, 100_000),
        (3000, 1000),
    ][usize::from(s.buffers % 4)];
    cfg.send_buffer = send;
    cfg.recv_buffer = recv;
    if s.flags & 2 != 0 {
        cfg.delayed_ack = Duration::ZERO;
    }
    cfg.nagle = s.flags & 4 == 0;
    if s.flags & 8 != 0 {
        cfg.keepalive = Some(Duration::from_secs(10));
        cfg.keepalive_interval = Duration::from_secs(2);
        cfg.keepalive_probes = 3;
    }
    cfg.report_state_changes = s.flags & 16 != 0;
    apply_features(&mut cfg, s.features);
    apply_algorithms(&mut cfg, s.algorithms);
    cfg.msl = Duration::from_secs(5);
    cfg.fin_wait_2_timeout = Duration::from_secs(20);
    cfg.max_connections = 12;
    cfg.control_queue_limit = 16;
    cfg.challenge_ack_limit = 1 + u32::from(s.extra % 32);
    cfg.max_retries = 4;
    cfg.syn_retries = 3;
    cfg
}

impl World {
    fn new(setup: Setup) -> World {
        let b_cfg = b_config(setup);
        let mut a_cfg = StackConfig::new(vec![IpAddr::V4(A4), IpAddr::V6(A6)], [0xa; 16], 1);
        a_cfg.mtu = 1500;
        let mut w = World {
            now: Instant::from_secs(1),
            a: Tracker::new(a_cfg),
            b: Tracker::new(b_cfg.clone()),
            b_cfg,
            listeners: Vec::new(),
            a_conns: Vec::new(),
            b_conns: Vec::new(),
            targets: Vec::new(),
            to_b: VecDeque::new(),
            to_a: VecDeque::new(),
            captured: VecDeque::new(),
            fed: HashMap::new(),
            b_sent: HashMap::new(),
            stream: 0,
        };
        let opts = ListenOptions {
            backlog: 4,
            syn_backlog: 4,
        };
        for l in [v4(B4, 80), v6(Ipv6Addr::UNSPECIFIED, 80)] {
            let id = w.b.stack.listen(l, opts).expect("listen");
            w.listeners.push(id);
        }
        // Three connections from A, established.
        for server in [v4(B4, 80), v4(B4, 80), v6(B6, 80)] {
            let id =
                w.a.stack
                    .connect(w.now, server, ConnectOptions::default())
                    .expect("connect");
            w.a_conns.push((id, 0));
        }
        w.exchange_all();
        assert_eq!(w.b_conns.len(), 3, "set-up: three connections accepted");
        // B's data in flight, never delivered.
        w.b_send(0, 3000);
        w.pump_b();
        w.to_a.clear();
        // A's data with its first segment lost: B holds the rest out of order.
        w.a_send(1, 2500);
        w.pump_a();
        if !w.to_b.is_empty() {
            w.to_b.pop_front();
        }
        w.deliver_to_b(usize::MAX);
        // A half-closes the IPv6 connection.
        let a2 = w.a_conns[2].0;
        w.a.stack.shutdown(a2).expect("shutdown");
        w.exchange_all();
        // B's active open to nobody: SYN-SENT.
        let c =
            w.b.stack
                .connect(w.now, v4(NOBODY4, 443), ConnectOptions::default())
                .expect("connect");
        w.add_b_conn(c);
        w.pump_b();
        w.to_a.clear();
        // A half-open connection at B: A's SYN arrives, B's SYN-ACK is lost.
        let a3 =
            w.a.stack
                .connect(w.now, v4(B4, 80), ConnectOptions::default())
                .expect("connect");
        w.a_conns.push((a3, 0));
        w.pump_a();
        w.deliver_to_b(usize::MAX);
        let synack = w.to_a.iter().find_map(|p| {
            let (ip, payload) = IpRepr::parse(p).ok()?;
            let seg = TcpRepr::parse(payload, &ip.src_addr, &ip.dst_addr, true).ok()?;
            seg.flags.contains(TcpFlags::SYN).then(|| {
                (
                    SocketAddr::new(ip.src_addr, seg.src_port),
                    SocketAddr::new(ip.dst_addr, seg.dst_port),
                    seg.seq,
                    seg.ack,
                )
            })
        });
        w.to_a.clear();
        if let Some((local, remote, iss, ack)) = synack {
            let base = Base::Fixed {
                rcv_nxt: ack,
                snd_una: iss,
                snd_nxt: iss.wrapping_add(1),
                iss,
                irs: ack.wrapping_sub(1),
            };
            w.targets.push(Target {
                local,
                remote,
                base,
                any_port: false,
            });
        }
        // A stranger at the listener, and at a closed port.
        w.targets.push(Target {
            local: v4(B4, 80),
            remote: v4(Ipv4Addr::new(198, 51, 100, 7), 0),
            base: Base::None,
            any_port: true,
        });
        w.targets.push(Target {
            local: v6(B6, 80),
            remote: v6(ROUTER6, 0),
            base: Base::None,
            any_port: true,
        });
        w.targets.push(Target {
            local: v4(B4, 81),
            remote: v4(A4, 0),
            base: Base::None,
            any_port: true,
        });
        w
    }

    // ---- plumbing -------------------------------------------------------------------------------

    fn add_b_conn(&mut self, id: ConnId) {
        let info = self.b.stack.info(id).expect("new connection has info");
        trace!(
            "B holds {id:?}: {} -> {} iss {}",
            info.local,
            info.remote,
            info.iss
        );
        let limits = Limits {
            send_buffer: self.b_cfg.send_buffer,
            recv_buffer: self.b_cfg.recv_buffer,
        };
        self.b_conns.push(BConn {
            id,
            local: info.local,
            remote: info.remote,
            released: false,
            received: 0,
            limits,
        });
        self.b_sent
            .entry((info.local, info.remote))
            .or_default()
            .push(SendLog {
                iss: info.iss,
                data: Vec::new(),
            });
        self.targets.push(Target {
            local: info.local,
            remote: info.remote,
            base: Base::Conn(id),
            any_port: false,
        });
    }

    /// Hands one packet to B, remembering the payload it carries.
    fn feed_b(&mut self, packet: &[u8]) {
        if let Ok((ip, payload)) = IpRepr::parse(packet) {
            if ip.protocol == ip_protocol::TCP {
                if let Ok(seg) = TcpRepr::parse(
                    payload,
                    &ip.src_addr,
                    &ip.dst_addr,
                    self.b_cfg.verify_checksums,
                ) {
                    if !seg.payload.is_empty() {
                        let key = (
                            SocketAddr::new(ip.dst_addr, seg.dst_port),
                            SocketAddr::new(ip.src_addr, seg.src_port),
                        );
                        let start = seg
                            .seq
                            .wrapping_add(u32::from(seg.flags.contains(TcpFlags::SYN)));
                        self.fed
                            .entry(key)
                            .or_default()
                            .push((start, seg.payload.to_vec()));
                    }
                }
            }
        }
        let r = self.b.feed(self.now, packet);
        trace!(
            "{} B <- {}: {r:?} (cookies sent {} accepted {}, passive opens {})",
            self.now,
            summary(packet),
            self.b.stack.stats().syn_cookies_sent,
            self.b.stack.stats().syn_cookies_accepted,
            self.b.stack.stats().passive_opens
        );
    }

    fn pump_b(&mut self) {
        let now = self.now;
        let mut out = Vec::new();
        self.b.drain(now, |p, seg| out.push((p.to_vec(), seg)));
        for (p, seg) in out {
            trace!("{now} B -> {}", summary(&p));
            if let Some(seg) = seg {
                self.check_b_segment(&seg);
            }
            push_bounded(&mut self.to_a, p);
        }
    }

    fn pump_a(&mut self) {
        let now = self.now;
        let mut out = Vec::new();
        self.a.drain(now, |p, _| out.push(p.to_vec()));
        for p in out {
            if self.captured.len() == CAPTURE_LIMIT {
                self.captured.pop_front();
            }
            self.captured.push_back(p.clone());
            push_bounded(&mut self.to_b, p);
        }
    }

    fn deliver_to_b(&mut self, max: usize) {
        for _ in 0..max {
            let Some(p) = self.to_b.pop_front() else {
                break;
            };
            self.feed_b(&p);
        }
    }

    fn deliver_to_a(&mut self, max: usize) {
        for _ in 0..max {
            let Some(p) = self.to_a.pop_front() else {
                break;
            };
            self.a.feed(self.now, &p);
        }
    }

    /// Honest traffic both ways until nothing moves (bounded).
    fn exchange_all(&mut self) {
        for _ in 0..64 {
            self.pump_a();
            self.pump_b();
            if self.to_a.is_empty() && self.to_b.is_empty() {
                break;
            }
            self.deliver_to_b(usize::MAX);
            self.deliver_to_a(usize::MAX);
            self.accept_all();
        }
        self.accept_all();
    }

    fn accept_all(&mut self) {
        for i in 0..self.listeners.len() {
            while let Some(c) = self.b.stack.accept(self.listeners[i]) {
                self.add_b_conn(c);
            }
        }
    }

    fn a_send(&mut self, i: usize, len: usize) {
        let Some(&(id, _)) = self.a_conns.get(i % self.a_conns.len().max(1)) else {
            return;
        };
        self.stream += 1;
        let data = pattern_bytes(self.stream, 0, len.min(MAX_SEND));
        if let Ok(n) = self.a.stack.send(id, &data) {
            self.a.app_sent += n as u64;
        }
    }

    fn b_send(&mut self, i: usize, len: usize) {
        if self.b_conns.is_empty() {
            return;
        }
        let c = &self.b_conns[i % self.b_conns.len()];
        if c.released {
            return;
        }
        let (id, key) = (c.id, (c.local, c.remote));
        self.stream += 1;
        let data = pattern_bytes(self.stream, 0, len.min(MAX_SEND));
        if let Ok(n) = self.b.stack.send(id, &data) {
            self.b.app_sent += n as u64;
            let iss = self.b.stack.info(id).expect("held connection").iss;
            let log = self
                .b_sent
                .get_mut(&key)
                .and_then(|v| v.iter_mut().rev().find(|l| l.iss == iss));
            log.expect("send log").data.extend_from_slice(&data[..n]);
        }
    }

    /// A data segment from B carries exactly what B's application queued at that offset.
    fn check_b_segment(&self, seg: &SentSegment) {
        if seg.payload.is_empty() {
            return;
        }
        assert!(!seg.flags.contains(TcpFlags::RST), "RST with payload");
        let logs = self.b_sent.get(&(seg.local, seg.remote));
        let start = seg
            .seq
            .wrapping_add(u32::from(seg.flags.contains(TcpFlags::SYN)));
        let ok = logs.is_some_and(|logs| {
            logs.iter().any(|l| {
                let off = start.wrapping_sub(l.iss.wrapping_add(1)) as usize;
                l.data.get(off..off + seg.payload.len()) == Some(&seg.payload[..])
            })
        });
        assert!(
            ok,
            "B sent bytes its application never queued there: {seg:?}"
        );
    }

    // ---- after every op -------------------------------------------------------------------------

    fn settle(&mut self) {
        self.pump_b();
        self.pump_a();
        while let Some(e) = self.b.stack.poll_event() {
            if let Event::Incoming { listener } = e {
                assert!(
                    self.listeners.contains(&listener),
                    "Incoming for an unknown listener"
                );
            }
        }
        while self.a.stack.poll_event().is_some() {}
        self.accept_all();
        self.read_a();
        self.read_b();
        // The reads may have opened windows.
        self.pump_b();
        self.pump_a();
        self.check();
    }

    /// A is honest: whatever it reads is what B's application sent on that connection.
    fn read_a(&mut self) {
        let mut buf = vec![0u8; 8192];
        for i in 0..self.a_conns.len() {
            let (id, mut received) = self.a_conns[i];
            let Some(info) = self.a.stack.info(id) else {
                continue;
            };
            while let Ok(n) = self.a.stack.recv(id, &mut buf) {
                if n == 0 {
                    break;
                }
                self.a.app_received += n as u64;
                trace!(
                    "A reads {n} bytes at {received} on {} <- {}",
                    info.local,
                    info.remote
                );
                // Any connection of B's with that 4-tuple and ISS: with SYN cookies, an ACK that
                // repeats a closed connection's handshake rightly opens another just like it, and
                // A cannot tell their segments apart — its stream may even interleave pieces of
                // both, so each byte must be one that one of them sent at that offset.
                let logs = self
                    .b_sent
                    .get(&(info.remote, info.local))
                    .expect("A reads data from a 4-tuple B's application never held");
                let twins: Vec<&SendLog> = logs.iter().filter(|l| l.iss == info.irs).collect();
                let from = received as usize;
                let bad = buf[..n]
                    .iter()
                    .enumerate()
                    .find(|&(j, b)| !twins.iter().any(|l| l.data.get(from + j) == Some(b)));
                assert!(
                    bad.is_none(),
                    "A read bytes B never sent at offset {} ({} connections of B with that \
                     4-tuple and ISS)",
                    from + bad.map_or(0, |(j, _)| j),
                    twins.len()
                );
                received += n as u64;
            }
            self.a_conns[i].1 = received;
        }
    }

    /// Every byte B's application reads was carried at its sequence number by a segment fed to B.
    fn read_b(&mut self) {
        let mut buf = vec![0u8; 8192];
        for i in 0..self.b_conns.len() {
            if self.b_conns[i].released {
                continue;
            }
            let id = self.b_conns[i].id;
            let info = self.b.stack.info(id).expect("held connection has info");
            while let Ok(n) = self.b.stack.recv(id, &mut buf) {
                if n == 0 {
                    break;
                }
                self.b.app_received += n as u64;
                let c = &self.b_conns[i];
                let seq = info.irs.wrapping_add(1).wrapping_add(c.received as u32);
                let fed = self
                    .fed
                    .get(&(c.local, c.remote))
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                verify_carried(fed, seq, &buf[..n]);
                self.b_conns[i].received += n as u64;
            }
        }
    }

    fn check(&self) {
        for c in &self.b_conns {
            if c.released {
                continue;
            }
            let info = self
                .b
                .stack
                .info(c.id)
                .expect("a connection the application holds answers info()");
            assert_eq!(
                (info.local, info.remote),
                (c.local, c.remote),
                "an id reached another connection"
            );
            check_info(&info, &self.b_cfg, c.limits);
        }
        let a_lim = Limits {
            send_buffer: 256 * 1024,
            recv_buffer: 256 * 1024,
        };
        for (id, _) in &self.a_conns {
            if let Some(info) = self.a.stack.info(*id) {
                check_info(&info, self.a.stack.config(), a_lim);
            }
        }
        assert!(
            self.b.stack.connection_count() <= self.b_cfg.max_connections,
            "connection limit exceeded"
        );
        self.b.check_stats();
        self.a.check_stats();
    }

    // ---- ops ------------------------------------------------------------------------------------

    fn op(&mut self, op: u8, body: &[u8]) {
        trace!("op {} ({} bytes)", op % 12, body.len());
        match op % 12 {
            0 => {
                // Raw bytes as an IP packet.
                self.feed_b(body);
            }
            1 | 2 => {
                let (spec, payload) = decode::<SegSpec>(body);
                let p = self.segment(&spec, payload);
                self.feed_b(&p);
            }
            3 => {
                let (spec, rest) = decode::<IcmpSpec>(body);
                let p = self.icmp(&spec, rest);
                self.feed_b(&p);
            }
            4 => {
                let (spec, rest) = decode::<RawSpec>(body);
                let p = self.raw_transport(&spec, rest);
                self.feed_b(&p);
            }
            5 => {
                let (spec, _) = decode::<ReplaySpec>(body);
                if let Some(p) = self.replay(&spec) {
                    self.feed_b(&p);
                }
            }
            6 => {
                let (spec, _) = decode::<TimeSpec>(body);
                self.advance(&spec);
            }
            7 => {
                let (n, _) = decode::<u8>(body);
                self.deliver_to_b(usize::from(n) + 1);
                self.deliver_to_a(usize::from(n) + 1);
            }
            8 => {
                let (spec, _) = decode::<AppSpec>(body);
                self.a_send(usize::from(spec.conn), usize::from(spec.len));
            }
            9 => {
                let (spec, _) = decode::<AppSpec>(body);
                self.b_send(usize::from(spec.conn), usize::from(spec.len));
            }
            10 => {
                let (spec, _) = decode::<CallSpec>(body);
                self.call(&spec);
            }
            _ => {
                // Honest traffic until quiet.
                self.exchange_all();
            }
        }
    }

    fn advance(&mut self, spec: &TimeSpec) {
        let next = [self.a.stack.poll_timeout(), self.b.stack.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        self.now = match next {
            Some(t) if spec.jump => self.now.max(t),
            _ => self.now + Duration::from_millis(u64::from(spec.ms)),
        };
        self.a.timeout(self.now);
        self.b.timeout(self.now);
    }

    fn call(&mut self, spec: &CallSpec) {
        if self.b_conns.is_empty() {
            return;
        }
        let i = usize::from(spec.conn) % self.b_conns.len();
        if self.b_conns[i].released {
            return;
        }
        let id = self.b_conns[i].id;
        match spec.what % 6 {
            0 => {
                let _ = self.b.stack.shutdown(id);
            }
            1 => {
                self.b.stack.close(id);
                self.b_conns[i].released = true;
            }
            2 => {
                self.b.stack.abort(id);
                self.b_conns[i].released = true;
            }
            3 => self.b.stack.set_nodelay(id, true).expect("held connection"),
            4 => self
                .b
                .stack
                .set_keepalive(id, Some(Duration::from_secs(1)))
                .expect("held connection"),
            _ => self
                .b
                .stack
                .set_keepalive(id, None)
                .expect("held connection"),
        }
        if matches!(spec.what % 6, 1 | 2) {
            assert!(
                self.b.stack.info(id).is_none(),
                "released id still answers info()"
            );
        }
    }

    fn target(&self, i: u8) -> Target {
        self.targets[usize::from(i) % self.targets.len()]
    }

    fn nums(&self, t: &Target) -> Nums {
        match t.base {
            Base::Conn(id) => match self.b.stack.info(id) {
                Some(i) => Nums {
                    rcv_nxt: i.rcv_nxt,
                    rcv_wnd: i.rcv_wnd,
                    snd_una: i.snd_una,
                    snd_nxt: i.snd_nxt,
                    snd_max: i.snd_una.wrapping_add(i.bytes_in_flight),
                    iss: i.iss,
                    irs: i.irs,
                },
                None => Nums::default(),
            },
            Base::Fixed {
                rcv_nxt,
                snd_una,
                snd_nxt,
                iss,
                irs,
            } => Nums {
                rcv_nxt,
                rcv_wnd: 0xffff,
                snd_una,
                snd_nxt,
                snd_max: snd_nxt,
                iss,
                irs,
            },
            Base::None => Nums::default(),
        }
    }

    /// The peer's end of target `t`, with `port` for targets that take any port.
    fn peer(t: &Target, port: u16) -> SocketAddr {
        if t.any_port {
            SocketAddr::new(t.remote.ip(), port.max(1))
        } else {
            t.remote
        }
    }

    fn segment(&self, s: &SegSpec, payload: &[u8]) -> Vec<u8> {
        let t = self.target(s.target);
        let n = self.nums(&t);
        let off = s.seq_off as u32;
        let seq = match s.seq_mode % 4 {
            0 => n.rcv_nxt.wrapping_add(off),
            1 => n.rcv_nxt.wrapping_add(n.rcv_wnd).wrapping_add(off),
            2 => n.irs.wrapping_add(off),
            _ => off,
        };
        let off = s.ack_off as u32;
        let ack = match s.ack_mode % 5 {
            0 => n.snd_una.wrapping_add(off),
            1 => n.snd_nxt.wrapping_add(off),
            2 => n.snd_max.wrapping_add(off),
            3 => n.iss.wrapping_add(off),
            _ => off,
        };
        let mut options = TcpOptions::default();
        if s.opts & 1 != 0 {
            options.mss = Some(s.mss);
        }
        if s.opts & 2 != 0 {
            options.window_scale = Some(s.wscale);
        }
        options.sack_permitted = s.opts & 4 != 0;
        if s.opts & 8 != 0 {
            options.timestamps = Some((s.tsval, s.tsecr));
        }
        let count = usize::from((s.opts >> 4) & 7).min(4);
        let blocks: Vec<SackBlock> = s.sacks[..count]
            .iter()
            .map(|&(o, len)| {
                let left = n.snd_una.wrapping_add(o as u32);
                SackBlock {
                    left,
                    right: left.wrapping_add(u32::from(len)),
                }
            })
            .collect();
        options.set_sack_blocks(&blocks);
        let payload = &payload[..payload.len().min(MAX_PAYLOAD)];
        let src = Self::peer(&t, s.port);
        let mut tcp = tcp_repr(
            src.port(),
            t.local.port(),
            seq,
            ack,
            TcpFlags(u16::from(s.flags) ^ TcpFlags::ACK.0),
            !s.window,
        );
        tcp.options = options;
        tcp.payload = payload;
        if s.misc & 2 != 0 {
            tcp.urgent = s.window;
        }
        let mut p = tcp_packet(src, t.local, &tcp, s.ecn);
        if s.misc & 1 != 0 {
            let h = if src.is_ipv6() { 40 } else { 20 };
            p[h + 16] ^= 0x5a;
        }
        p
    }

    fn icmp(&self, s: &IcmpSpec, rest: &[u8]) -> Vec<u8> {
        let t = self.target(s.target);
        let n = self.nums(&t);
        let off = s.seq_off as u32;
        let seq = match s.seq_mode % 3 {
            0 => n.snd_una.wrapping_add(off),
            1 => n.snd_nxt.wrapping_add(off),
            _ => off,
        };
        // What B sent on this tuple, as a router quotes it.
        let peer = Self::peer(&t, 1);
        let quoted_tcp = tcp_repr(
            t.local.port(),
            peer.port(),
            seq,
            n.rcv_nxt,
            TcpFlags::ACK,
            1000,
        );
        let mut quote = tcp_packet(t.local, peer, &quoted_tcp, 0);
        let keep = if t.local.is_ipv6() { 48 } else { 28 } + usize::from(s.quote_extra % 64);
        quote.truncate(keep);
        let v6 = t.local.is_ipv6();
        let src = match (s.from_router, v6) {
            (true, false) => IpAddr::V4(ROUTER4),
            (true, true) => IpAddr::V6(ROUTER6),
            (false, _) => peer.ip(),
        };
        let dst = t.local.ip();
        let body = match (v6, s.kind % 5) {
            (false, 0) => emit4(&Icmpv4Repr::EchoRequest {
                ident: s.mtu,
                seq_no: u16::from(s.code),
                data: rest,
            }),
            (false, 1) => emit4(&Icmpv4Repr::DstUnreachable {
                code: s.code % 16,
                next_hop_mtu: 0,
                invoking: &quote,
            }),
            (false, 2) => emit4(&Icmpv4Repr::DstUnreachable {
                code: 4,
                next_hop_mtu: s.mtu,
                invoking: &quote,
            }),
            (false, 3) => emit4(&Icmpv4Repr::TimeExceeded {
                code: s.code % 2,
                invoking: &quote,
            }),
            (false, _) => emit4(&Icmpv4Repr::Other {
                msg_type: s.code,
                code: s.mtu as u8,
            }),
            (true, k) => {
                let (IpAddr::V6(s6), IpAddr::V6(d6)) = (src, dst) else {
                    unreachable!()
                };
                let m = match k {
                    0 => Icmpv6Repr::EchoRequest {
                        ident: s.mtu,
                        seq_no: u16::from(s.code),
                        data: rest,
                    },
                    1 => Icmpv6Repr::DstUnreachable {
                        code: s.code % 8,
                        invoking: &quote,
                    },
                    2 => Icmpv6Repr::PacketTooBig {
                        mtu: u32::from(s.mtu) * 2,
                        invoking: &quote,
                    },
                    3 => Icmpv6Repr::TimeExceeded {
                        code: s.code % 2,
                        invoking: &quote,
                    },
                    _ => Icmpv6Repr::Other {
                        msg_type: s.code,
                        code: s.mtu as u8,
                    },
                };
                let mut body = vec![0u8; m.buffer_len()];
                m.emit(&mut body, &s6, &d6);
                body
            }
        };
        let protocol = if v6 {
            ip_protocol::ICMPV6
        } else {
            ip_protocol::ICMP
        };
        ip_packet(src, dst, protocol, 0, &body)
    }

    fn raw_transport(&self, s: &RawSpec, rest: &[u8]) -> Vec<u8> {
        let t = self.target(s.target);
        let v6 = t.local.is_ipv6();
        let protocol = match s.protocol % 4 {
            0 | 1 => ip_protocol::TCP,
            2 if v6 => ip_protocol::ICMPV6,
            2 => ip_protocol::ICMP,
            _ => s.protocol,
        };
        let mut body = rest[..rest.len().min(MAX_PAYLOAD + 60)].to_vec();
        let peer = Self::peer(&t, 1);
        if protocol == ip_protocol::TCP
            && s.fix & 1 != 0
            && TcpPacket::new_checked(&body[..]).is_ok()
        {
            let mut p = TcpPacket::new_unchecked(&mut body[..]);
            p.set_src_port(peer.port());
            p.set_dst_port(t.local.port());
            p.fill_checksum(&peer.ip(), &t.local.ip());
        }
        ip_packet(peer.ip(), t.local.ip(), protocol, 0, &body)
    }

    fn replay(&self, s: &ReplaySpec) -> Option<Vec<u8>> {
        if self.captured.is_empty() {
            return None;
        }
        let mut p = self.captured[usize::from(s.index) % self.captured.len()].clone();
        let pos = usize::from(s.pos) % p.len();
        p[pos] ^= s.xor;
        if s.fix & 1 != 0 && p[0] >> 4 == 4 && p.len() >= 20 {
            Ipv4Packet::new_unchecked(&mut p[..]).fill_checksum();
        }
        if s.fix & 2 != 0 {
            if let Ok((ip, payload)) = IpRepr::parse(&p) {
                let h = p.len() - payload.len();
                let end = h + ip.payload_len;
                if ip.protocol == ip_protocol::TCP && TcpPacket::new_checked(&p[h..end]).is_ok() {
                    TcpPacket::new_unchecked(&mut p[h..end])
                        .fill_checksum(&ip.src_addr, &ip.dst_addr);
                }
            }
        }
        Some(p)
    }
}

fn emit4(m: &Icmpv4Repr<'_>) -> Vec<u8> {
    let mut body = vec![0u8; m.buffer_len()];
    m.emit(&mut body);
    body
}

fn push_bounded(q: &mut VecDeque<Vec<u8>>, p: Vec<u8>) {
    if q.len() == QUEUE_LIMIT {
        q.pop_front();
    }
    q.push_back(p);
}

/// Each byte of `bytes` (at sequence numbers from `seq`) was carried at its sequence number by
/// one of the `fed` segments.
fn verify_carried(fed: &[(u32, Vec<u8>)], seq: u32, bytes: &[u8]) {
    let mut i = 0;
    while i < bytes.len() {
        let at = seq.wrapping_add(i as u32);
        let mut best = 0;
        for (start, payload) in fed {
            let k = at.wrapping_sub(*start) as usize;
            if k < payload.len() {
                let run = payload[k..]
                    .iter()
                    .zip(&bytes[i..])
                    .take_while(|(a, b)| a == b)
                    .count();
                best = best.max(run);
            }
        }
        assert!(
            best > 0,
            "B delivered byte {:#04x} at seq {at} that no segment carried there",
            bytes[i]
        );
        i += best;
    }
}
