//! A stack holding established connections is fed 100,000 random and mutated packets while
//! the connections carry data: no panic, no accepted byte lost or altered, every drop
//! counted.

mod common;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use common::*;
use sanstcp::sim::{CaptureKind, LinkConfig, Node, NodeId, Rng, Sim};
use sanstcp::wire::{
    ip_protocol, Icmpv4Repr, Icmpv6Repr, IpRepr, SackBlock, TcpFlags, TcpOptions, TcpPacket,
    TcpRepr,
};
use sanstcp::{
    ConnId, ConnectOptions, DropReason, Input, Instant, ListenOptions, Stack, StackConfig, TcpState,
};

const HOSTILE: u32 = 100_000;
/// The attack lasts this long in virtual time, while the transfers run.
const ATTACK: Duration = Duration::from_millis(800);
const MAX_PER_STEP: u32 = 200;
const CONNS: usize = 6;
const BYTES: u64 = 512 * 1024;

/// A stack that counts what every `handle_packet` returned, whoever called it.
struct Counted {
    stack: Stack,
    calls: u64,
    accepted: u64,
    drops: HashMap<DropReason, u64>,
}

impl Counted {
    fn feed(&mut self, now: Instant, packet: &[u8]) -> Input {
        let r = self.stack.handle_packet(now, packet);
        self.calls += 1;
        match r {
            Input::Accepted => self.accepted += 1,
            Input::Dropped(reason) => *self.drops.entry(reason).or_default() += 1,
        }
        r
    }
}

impl Node for Counted {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.feed(now, packet);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.stack.handle_timeout(now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.stack.poll_transmit(now, buf).map(|t| t.len)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.stack.poll_timeout()
    }
    fn addresses(&self) -> Vec<IpAddr> {
        self.stack.config().addresses.clone()
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// What a hostile packet must come to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Anything (a legitimate replay, an echo request, a SYN to the listener, ...).
    Any,
    /// Some drop.
    Dropped,
    /// This drop.
    Exactly(DropReason),
    /// One of these two drops.
    OneOf(DropReason, DropReason),
}

/// One established connection under attack: its two ends, as B sees them.
struct Live {
    client: SocketAddr,
    server: SocketAddr,
    cb: ConnId,
    ca: ConnId,
}

fn ip_packet(src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let ip = IpRepr {
        src_addr: src,
        dst_addr: dst,
        protocol,
        payload_len: payload.len(),
        hop_limit: 64,
        ecn: 0,
    };
    let h = ip.header_len();
    let mut buf = vec![0u8; h + payload.len()];
    ip.emit(&mut buf[..h]);
    buf[h..].copy_from_slice(payload);
    buf
}

/// A TCP segment with a valid checksum.
fn tcp_packet(
    (src, dst): (SocketAddr, SocketAddr),
    seq: u32,
    ack: u32,
    flags: u16,
    window: u16,
    options: TcpOptions,
    payload: &[u8],
) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq,
        ack,
        flags: TcpFlags(flags),
        window,
        urgent: 0,
        options,
        payload,
    };
    let mut seg = vec![0u8; tcp.segment_len()];
    tcp.emit(&mut seg, &src.ip(), &dst.ip());
    ip_packet(src.ip(), dst.ip(), ip_protocol::TCP, &seg)
}

struct Hostile {
    rng: Rng,
    /// Recent real packets from A to B.
    captured: Rc<RefCell<VecDeque<Vec<u8>>>>,
    b4: IpAddr,
    b6: IpAddr,
}

impl Hostile {
    fn bytes(&mut self, max: u64) -> Vec<u8> {
        let mut v = vec![0u8; self.rng.gen_range(max + 1) as usize];
        self.rng.fill_bytes(&mut v);
        v
    }

    fn u32(&mut self) -> u32 {
        self.rng.next_u32()
    }

    fn below(&mut self, n: u32) -> u32 {
        self.rng.gen_range(u64::from(n)) as u32
    }

    fn random_options(&mut self) -> TcpOptions {
        let mut o = TcpOptions::default();
        if self.rng.gen_bool(0.3) {
            o.mss = Some(self.rng.next_u32() as u16);
        }
        if self.rng.gen_bool(0.3) {
            o.window_scale = Some(self.below(32) as u8);
        }
        o.sack_permitted = self.rng.gen_bool(0.2);
        if self.rng.gen_bool(0.3) {
            o.timestamps = Some((self.u32(), self.u32()));
        }
        if self.rng.gen_bool(0.3) {
            let n = self.below(5) as usize;
            let blocks: Vec<SackBlock> = (0..n)
                .map(|_| SackBlock {
                    left: self.u32(),
                    right: self.u32(),
                })
                .collect();
            o.set_sack_blocks(&blocks);
        }
        o
    }

    /// A random source address of either family, never one of A's or B's.
    fn stranger(&mut self, v6: bool) -> IpAddr {
        if v6 {
            let mut b = [0u8; 16];
            self.rng.fill_bytes(&mut b);
            b[0] = 0x20;
            IpAddr::from(b)
        } else {
            let x = self.u32();
            IpAddr::from([
                (x >> 24) as u8 % 100 + 100,
                (x >> 16) as u8,
                (x >> 8) as u8,
                x as u8 | 1,
            ])
        }
    }

    fn captured(&mut self) -> Option<Vec<u8>> {
        let c = self.captured.borrow();
        if c.is_empty() {
            return None;
        }
        let i = self.rng.gen_range(c.len() as u64) as usize;
        Some(c[i].clone())
    }

    /// The next hostile packet and what it must come to.
    fn next(&mut self, b: &Stack, live: &[Live]) -> (&'static str, Vec<u8>, Expect) {
        let roll = self.below(100);
        match roll {
            0..=7 => ("random bytes", self.bytes(1600), Expect::Dropped),
            8..=13 => {
                // A valid IP header to B with garbage after it.
                let v6 = self.rng.gen_bool(0.3);
                let (src, dst) = (self.stranger(v6), if v6 { self.b6 } else { self.b4 });
                let proto = match self.below(4) {
                    0 => ip_protocol::TCP,
                    1 => ip_protocol::ICMP,
                    2 => ip_protocol::ICMPV6,
                    _ => self.below(256) as u8,
                };
                let payload = self.bytes(1200);
                (
                    "ip + garbage",
                    ip_packet(src, dst, proto, &payload),
                    Expect::Dropped,
                )
            }
            14..=21 => match self.captured() {
                Some(mut p) => {
                    let keep = self.rng.gen_range(p.len() as u64) as usize;
                    p.truncate(keep);
                    ("truncated real", p, Expect::Dropped)
                }
                None => ("random bytes", self.bytes(100), Expect::Dropped),
            },
            22..=35 => match self.captured() {
                Some(mut p) => {
                    // One flipped bit, where a checksum (or the destination check) covers it:
                    // everything in IPv4, all but traffic class, flow label and hop limit in
                    // IPv6.
                    let v6 = p[0] >> 4 == 6;
                    let i = loop {
                        let i = self.rng.gen_range(p.len() as u64) as usize;
                        if !v6 || (i >= 4 && i != 7) {
                            break i;
                        }
                    };
                    p[i] ^= 1 << self.below(8);
                    ("bit-flipped real", p, Expect::Dropped)
                }
                None => ("random bytes", self.bytes(100), Expect::Dropped),
            },
            36..=39 => match self.captured() {
                Some(p) => ("replayed real", p, Expect::Any),
                None => ("random bytes", self.bytes(100), Expect::Dropped),
            },
            40..=74 => self.crafted(b, live),
            75..=79 => {
                // A SYN to a closed port: RST and NoConnection.
                let v6 = self.rng.gen_bool(0.3);
                let src = SocketAddr::new(self.stranger(v6), 1 + self.below(65535) as u16);
                let dst = SocketAddr::new(
                    if v6 { self.b6 } else { self.b4 },
                    81 + self.below(60000) as u16,
                );
                let opts = self.random_options();
                let p = tcp_packet(
                    (src, dst),
                    self.u32(),
                    0,
                    TcpFlags::SYN.0,
                    self.u32() as u16,
                    opts,
                    &[],
                );
                (
                    "syn to closed port",
                    p,
                    Expect::Exactly(DropReason::NoConnection),
                )
            }
            80..=82 => {
                // To the listener: SYNs (half-open connections) and stray ACKs.
                let v6 = self.rng.gen_bool(0.3);
                let src = SocketAddr::new(self.stranger(v6), 1 + self.below(65535) as u16);
                let dst = SocketAddr::new(if v6 { self.b6 } else { self.b4 }, 80);
                let opts = self.random_options();
                if self.rng.gen_bool(0.5) {
                    let p = tcp_packet(
                        (src, dst),
                        self.u32(),
                        0,
                        TcpFlags::SYN.0,
                        self.u32() as u16,
                        opts,
                        &[],
                    );
                    ("syn to listener", p, Expect::Any)
                } else {
                    let payload = self.bytes(100);
                    let flags = (TcpFlags::ACK.0)
                        | (self.below(256) as u16 & !(TcpFlags::SYN.0 | TcpFlags::RST.0));
                    let p = tcp_packet(
                        (src, dst),
                        self.u32(),
                        self.u32(),
                        flags,
                        1000,
                        opts,
                        &payload,
                    );
                    // Once the SYN flood above made the listener answer with SYN cookies,
                    // a stray ACK is checked as a cookie and refused as a forged one.
                    (
                        "ack to listener",
                        p,
                        Expect::OneOf(DropReason::NoConnection, DropReason::BadSynCookie),
                    )
                }
            }
            83..=90 => self.icmp4(b, live),
            91..=96 => self.icmp6(b, live),
            _ => {
                // IPv6 with a random next header, or TCP with a valid checksum from a
                // stranger with random everything.
                let src = self.stranger(true);
                if self.rng.gen_bool(0.5) {
                    let payload = self.bytes(600);
                    (
                        "ipv6 junk",
                        ip_packet(src, self.b6, self.below(256) as u8, &payload),
                        Expect::Any,
                    )
                } else {
                    let s = SocketAddr::new(src, 1 + self.below(65535) as u16);
                    let d = SocketAddr::new(self.b6, 1 + self.below(65535) as u16);
                    let (opts, payload) = (self.random_options(), self.bytes(300));
                    let p = tcp_packet(
                        (s, d),
                        self.u32(),
                        self.u32(),
                        self.below(256) as u16,
                        self.u32() as u16,
                        opts,
                        &payload,
                    );
                    ("ipv6 random tcp", p, Expect::Any)
                }
            }
        }
    }

    /// Segments with valid checksums aimed at a live 4-tuple. None may reset a connection or
    /// put a byte into its stream, so none carries both an acceptable sequence number and an
    /// acceptable acknowledgement (that would be a blind injection TCP cannot stop), and no
    /// RST carries exactly RCV.NXT.
    fn crafted(&mut self, b: &Stack, live: &[Live]) -> (&'static str, Vec<u8>, Expect) {
        let l = &live[self.rng.gen_range(live.len() as u64) as usize];
        let Some(info) = b.info(l.cb).filter(|i| i.state == TcpState::Established) else {
            return ("random bytes", self.bytes(100), Expect::Dropped);
        };
        let (rcv_nxt, wnd, snd_una) = (info.rcv_nxt, info.rcv_wnd, info.snd_una);
        let snd_max = snd_una.wrapping_add(info.bytes_in_flight);
        // Generous bounds: B's largest window seen from A and its backlog are far below 2^21.
        const SLACK: u32 = 1 << 21;
        let near_window =
            |seq: u32| seq.wrapping_sub(rcv_nxt.wrapping_sub(SLACK)) < wnd.wrapping_add(2 * SLACK);
        let ack_ok = |ack: u32| {
            ack.wrapping_sub(snd_una.wrapping_sub(SLACK)) <= SLACK + info.bytes_in_flight
        };
        let bad_new_ack = snd_max.wrapping_add(1 + self.below(1 << 30));
        let bad_old_ack = snd_una.wrapping_sub(SLACK + self.below(1 << 29));
        let (src, dst) = (l.client, l.server);
        let window = self.u32() as u16;
        let options = self.random_options();
        const ACK: u16 = TcpFlags::ACK.0;
        const RST: u16 = TcpFlags::RST.0;
        const SYN: u16 = TcpFlags::SYN.0;
        const FIN: u16 = TcpFlags::FIN.0;
        const PSH: u16 = TcpFlags::PSH.0;
        let kind = if wnd < 2 { 0 } else { self.below(9) };
        match kind {
            1 => {
                // RST inside the window, not at RCV.NXT: a challenge ACK (RFC 5961 §3.2).
                let seq = rcv_nxt.wrapping_add(1 + self.below(wnd - 1));
                let flags = RST | if self.rng.gen_bool(0.5) { ACK } else { 0 };
                let p = tcp_packet((src, dst), seq, self.u32(), flags, window, options, &[]);
                ("rst in window", p, Expect::Exactly(DropReason::RstInWindow))
            }
            2 => {
                let seq = if self.rng.gen_bool(0.5) {
                    rcv_nxt.wrapping_add(wnd).wrapping_add(self.below(1 << 30))
                } else {
                    rcv_nxt.wrapping_sub(1 + self.below(1 << 30))
                };
                let p = tcp_packet((src, dst), seq, self.u32(), RST | ACK, window, options, &[]);
                (
                    "rst out of window",
                    p,
                    Expect::Exactly(DropReason::RstOutOfWindow),
                )
            }
            3 => {
                // SYN in the window, even with a good ACK and data: challenge ACK, drop
                // (RFC 5961 §4.2).
                let seq = rcv_nxt.wrapping_add(self.below(wnd));
                let flags = SYN | if self.rng.gen_bool(0.5) { ACK } else { 0 };
                let payload = self.bytes(200);
                let p = tcp_packet((src, dst), seq, snd_una, flags, window, options, &payload);
                (
                    "syn in window",
                    p,
                    Expect::Exactly(DropReason::SynOnSynchronized),
                )
            }
            4 => {
                // A SYN whose data straddles RCV.NXT, with a good ACK: still a SYN on a
                // synchronized connection, "irrespective of the sequence number" (RFC 5961
                // §4.2); its data must not reach the stream.
                let back = 1 + self.below(50);
                let seq = rcv_nxt.wrapping_sub(back);
                let mut payload = vec![0u8; (back + 1 + self.below(100)) as usize];
                self.rng.fill_bytes(&mut payload);
                let p = tcp_packet(
                    (src, dst),
                    seq,
                    snd_una,
                    SYN | ACK,
                    window,
                    options,
                    &payload,
                );
                (
                    "syn straddling rcv_nxt",
                    p,
                    Expect::Exactly(DropReason::SynOnSynchronized),
                )
            }
            5 | 6 => {
                // In-window data (maybe with FIN) that acknowledges something never sent, or
                // something far too old (RFC 5961 §5): dropped, never delivered.
                let seq = rcv_nxt.wrapping_add(self.below(wnd));
                let ack = if kind == 5 { bad_new_ack } else { bad_old_ack };
                let mut flags = ACK;
                if self.rng.gen_bool(0.5) {
                    flags |= PSH;
                }
                if self.rng.gen_bool(0.2) {
                    flags |= FIN;
                }
                let payload = self.bytes(400);
                let p = tcp_packet((src, dst), seq, ack, flags, window, options, &payload);
                ("bad ack in window", p, Expect::Exactly(DropReason::BadAck))
            }
            7 => {
                // Entirely old data with a good ACK: a duplicate, dropped with an ACK.
                let len = 1 + self.below(300);
                let seq = rcv_nxt.wrapping_sub(len + self.below(100_000));
                let mut payload = vec![0u8; len as usize];
                self.rng.fill_bytes(&mut payload);
                let p = tcp_packet(
                    (src, dst),
                    seq,
                    snd_una,
                    ACK | PSH,
                    window,
                    options,
                    &payload,
                );
                ("old data", p, Expect::Exactly(DropReason::OutOfWindow))
            }
            8 => {
                // Data past the right edge of the window with a good ACK.
                let seq = rcv_nxt.wrapping_add(wnd).wrapping_add(self.below(1 << 20));
                let payload = self.bytes(300);
                let payload = if payload.is_empty() { vec![1] } else { payload };
                let p = tcp_packet((src, dst), seq, snd_una, ACK, window, options, &payload);
                (
                    "data beyond window",
                    p,
                    Expect::Exactly(DropReason::OutOfWindow),
                )
            }
            _ => {
                // Everything random, then made safe.
                let mut seq = self.u32();
                let mut ack = self.u32();
                let flags = self.below(256) as u16;
                if flags & ACK != 0 && near_window(seq) && ack_ok(ack) {
                    ack = bad_new_ack;
                }
                if flags & RST != 0 && seq == rcv_nxt {
                    seq = seq.wrapping_add(1);
                }
                let payload = self.bytes(300);
                if self.rng.gen_bool(0.2) {
                    // Raw random option bytes, maybe malformed.
                    let p = raw_options_segment(&mut self.rng, src, dst, seq, ack, flags, &payload);
                    return ("random options", p, Expect::Dropped);
                }
                let p = tcp_packet((src, dst), seq, ack, flags, window, options, &payload);
                ("random at live tuple", p, Expect::Dropped)
            }
        }
    }

    /// The first 28 (IPv4) or 48 (IPv6) bytes of a segment B sent on `l`, as an ICMP error
    /// quotes it.
    fn quote(&mut self, l: &Live, seq: u32) -> Vec<u8> {
        let tcp = TcpRepr {
            src_port: l.server.port(),
            dst_port: l.client.port(),
            seq,
            ack: 0,
            flags: TcpFlags::ACK,
            window: 0,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &[0u8; 1000],
        };
        let mut seg = vec![0u8; tcp.segment_len()];
        tcp.emit(&mut seg, &l.server.ip(), &l.client.ip());
        let mut p = ip_packet(l.server.ip(), l.client.ip(), ip_protocol::TCP, &seg);
        let keep = if l.server.is_ipv6() { 48 } else { 28 };
        p.truncate(keep + self.below(64) as usize);
        p
    }

    fn live_of(&mut self, live: &[Live], v6: bool) -> Option<usize> {
        let idx: Vec<usize> = (0..live.len())
            .filter(|&i| live[i].server.is_ipv6() == v6)
            .collect();
        if idx.is_empty() {
            return None;
        }
        Some(idx[self.rng.gen_range(idx.len() as u64) as usize])
    }

    fn icmp4(&mut self, b: &Stack, live: &[Live]) -> (&'static str, Vec<u8>, Expect) {
        let src = self.stranger(false);
        let mut body;
        let (name, expect) = match self.below(5) {
            0 => {
                let data = self.bytes(1400);
                let m = Icmpv4Repr::EchoRequest {
                    ident: self.u32() as u16,
                    seq_no: self.u32() as u16,
                    data: &data,
                };
                body = vec![0u8; m.buffer_len()];
                m.emit(&mut body);
                ("icmp echo", Expect::Any)
            }
            1 | 2 => {
                // "Fragmentation needed" or another unreachable quoting a live connection,
                // its sequence number right (SND.UNA) or random.
                let Some(i) = self.live_of(live, false) else {
                    return ("random bytes", self.bytes(10), Expect::Dropped);
                };
                let una = b.info(live[i].cb).map_or(0, |x| x.snd_una);
                let seq = if self.rng.gen_bool(0.5) {
                    una
                } else {
                    self.u32()
                };
                let quoted = self.quote(&live[i], seq);
                let code = if self.rng.gen_bool(0.6) {
                    4
                } else {
                    self.below(16) as u8
                };
                let mtu = self.below(1600) as u16;
                let m = Icmpv4Repr::DstUnreachable {
                    code,
                    next_hop_mtu: mtu,
                    invoking: &quoted,
                };
                body = vec![0u8; m.buffer_len()];
                m.emit(&mut body);
                ("icmp unreachable at live", Expect::Any)
            }
            3 => {
                let m = Icmpv4Repr::Other {
                    msg_type: self.below(256) as u8,
                    code: self.below(256) as u8,
                };
                body = vec![0u8; m.buffer_len()];
                m.emit(&mut body);
                let tail = self.bytes(64);
                body.extend_from_slice(&tail);
                // The checksum no longer covers the tail.
                let expect = if tail.is_empty() {
                    Expect::Any
                } else {
                    Expect::Dropped
                };
                ("icmp other", expect)
            }
            _ => {
                body = self.bytes(200);
                if body.len() < 8 {
                    body.resize(8, 0);
                }
                // A checksum that cannot verify: the bytes sum to 0xffff only by chance, so
                // force a wrong one.
                body[2] = 0;
                body[3] = 0;
                let sum = ones_sum(&body);
                let bad = !sum ^ 1;
                body[2..4].copy_from_slice(&bad.to_be_bytes());
                (
                    "icmp bad checksum",
                    Expect::Exactly(DropReason::BadChecksum),
                )
            }
        };
        let dst = self.b4;
        (name, ip_packet(src, dst, ip_protocol::ICMP, &body), expect)
    }

    fn icmp6(&mut self, b: &Stack, live: &[Live]) -> (&'static str, Vec<u8>, Expect) {
        let src = self.stranger(true);
        let (IpAddr::V6(s6), IpAddr::V6(d6)) = (src, self.b6) else {
            unreachable!()
        };
        let mut body;
        let (name, expect) = match self.below(4) {
            0 => {
                let data = self.bytes(1000);
                let m = Icmpv6Repr::EchoRequest {
                    ident: self.u32() as u16,
                    seq_no: self.u32() as u16,
                    data: &data,
                };
                body = vec![0u8; m.buffer_len()];
                m.emit(&mut body, &s6, &d6);
                ("icmpv6 echo", Expect::Any)
            }
            1 | 2 => {
                let Some(i) = self.live_of(live, true) else {
                    return ("random bytes", self.bytes(10), Expect::Dropped);
                };
                let una = b.info(live[i].cb).map_or(0, |x| x.snd_una);
                let seq = if self.rng.gen_bool(0.5) {
                    una
                } else {
                    self.u32()
                };
                let quoted = self.quote(&live[i], seq);
                let m = if self.rng.gen_bool(0.6) {
                    Icmpv6Repr::PacketTooBig {
                        mtu: self.u32() % 3000,
                        invoking: &quoted,
                    }
                } else {
                    Icmpv6Repr::DstUnreachable {
                        code: self.below(8) as u8,
                        invoking: &quoted,
                    }
                };
                body = vec![0u8; m.buffer_len()];
                m.emit(&mut body, &s6, &d6);
                ("icmpv6 error at live", Expect::Any)
            }
            _ => {
                body = self.bytes(300);
                ("icmpv6 garbage", Expect::Any)
            }
        };
        (
            name,
            ip_packet(src, self.b6, ip_protocol::ICMPV6, &body),
            expect,
        )
    }
}

/// The ones'-complement sum of `data` (no final inversion).
fn ones_sum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// A segment whose options area is random bytes (valid checksum).
fn raw_options_segment(
    rng: &mut Rng,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u16,
    payload: &[u8],
) -> Vec<u8> {
    let opt_len = 4 * rng.gen_range(11) as usize;
    let mut seg = vec![0u8; 20 + opt_len + payload.len()];
    {
        let mut p = TcpPacket::new_unchecked(&mut seg[..]);
        p.set_src_port(src.port());
        p.set_dst_port(dst.port());
        p.set_seq_number(seq);
        p.set_ack_number(ack);
        p.set_header_len((20 + opt_len) as u8);
        p.set_flags(TcpFlags(flags));
        p.set_window_len(rng.next_u32() as u16);
    }
    rng.fill_bytes(&mut seg[20..20 + opt_len]);
    seg[20 + opt_len..].copy_from_slice(payload);
    TcpPacket::new_unchecked(&mut seg[..]).fill_checksum(&src.ip(), &dst.ip());
    ip_packet(src.ip(), dst.ip(), ip_protocol::TCP, &seg)
}

/// B's stack inside its counting wrapper.
fn bs(sim: &mut Sim) -> &mut Stack {
    &mut sim.node_mut::<Counted>(NodeId(1)).stack
}

fn stack_config(addrs: [&str; 2], seed: u64) -> StackConfig {
    StackConfig::new(vec![ip(addrs[0]), ip(addrs[1])], [seed as u8; 16], seed)
}

#[test]
fn hundred_thousand_hostile_packets() {
    let mut sim = Sim::new(31);
    let a = sim.add_node(Box::new(
        Stack::new(stack_config([A_IP, A_IP6], 1)).unwrap(),
    ));
    let b_stack = Stack::new(stack_config([B_IP, B_IP6], 2)).unwrap();
    let b = sim.add_node(Box::new(Counted {
        stack: b_stack,
        calls: 0,
        accepted: 0,
        drops: HashMap::new(),
    }));
    let link = LinkConfig::ideal()
        .with_delay(Duration::from_millis(5))
        .with_bandwidth(100_000_000)
        .with_loss(0.01);
    sim.connect(a, b, link, link);
    let captured: Rc<RefCell<VecDeque<Vec<u8>>>> = Rc::default();
    let cap = captured.clone();
    sim.set_capture(Some(Box::new(move |_t, from, to, kind, bytes| {
        if kind == CaptureKind::Sent && from == NodeId(0) && to == NodeId(1) {
            let mut c = cap.borrow_mut();
            if c.len() == 512 {
                c.pop_front();
            }
            c.push_back(bytes.to_vec());
        }
    })));

    // Listeners on both families, then CONNS connections (every third over IPv6).
    let l4 = SocketAddr::new(ip(B_IP), 80);
    let l6 = SocketAddr::new(ip(B_IP6), 80);
    let lid4 = bs(&mut sim).listen(l4, ListenOptions::default()).unwrap();
    let lid6 = bs(&mut sim).listen(l6, ListenOptions::default()).unwrap();
    let mut pending = Vec::new();
    for i in 0..CONNS {
        let server = if i % 3 == 2 { l6 } else { l4 };
        let now = sim.now();
        let ca = sim
            .node_mut::<Stack>(a)
            .connect(now, server, ConnectOptions::default())
            .unwrap();
        pending.push((ca, server));
    }
    let mut live: Vec<Live> = Vec::new();
    let limit = sim.now() + Duration::from_secs(10);
    for _ in 0..100_000 {
        let sb = bs(&mut sim);
        let mut accepted: Vec<ConnId> = Vec::new();
        while let Some(c) = sb.accept(lid4).or_else(|| sb.accept(lid6)) {
            accepted.push(c);
        }
        for cb in accepted {
            let info = bs(&mut sim).info(cb).unwrap();
            let (client, server) = (info.remote, info.local);
            let ca = pending
                .iter()
                .find(|(ca, _)| {
                    sim.node::<Stack>(a)
                        .info(*ca)
                        .is_some_and(|i| i.local == client)
                })
                .unwrap()
                .0;
            live.push(Live {
                client,
                server,
                cb,
                ca,
            });
        }
        let sa = sim.node::<Stack>(a);
        if live.len() == CONNS
            && live.iter().all(|l| {
                sa.info(l.ca)
                    .is_some_and(|i| i.state == TcpState::Established)
            })
        {
            break;
        }
        assert!(sim.step(limit), "connections not established");
    }
    assert_eq!(live.len(), CONNS);

    // Data both ways on every connection while the hostile packets come in.
    let mut up: Vec<(Sender, Receiver)> = (0..CONNS as u64)
        .map(|i| (Sender::new(BYTES, 100 + i), Receiver::new(100 + i)))
        .collect();
    let mut down: Vec<(Sender, Receiver)> = (0..CONNS as u64)
        .map(|i| (Sender::new(BYTES, 200 + i), Receiver::new(200 + i)))
        .collect();
    for (s, _) in up.iter_mut().chain(down.iter_mut()) {
        s.shutdown_at_end = false;
    }
    let mut hostile = Hostile {
        rng: Rng::new(0xbad),
        captured,
        b4: ip(B_IP),
        b6: ip(B_IP6),
    };
    let mut injected = 0u32;
    let attack_start = sim.now();
    let mut by_kind: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
    let mut resets = Vec::new();
    let limit = sim.now() + Duration::from_secs(600);
    let mut finished = false;
    for _ in 0..10_000_000u32 {
        // The applications.
        for (i, l) in live.iter().enumerate() {
            if resets.contains(&i) {
                continue;
            }
            let sa = sim.node_mut::<Stack>(a);
            let r1 = up[i].0.pump(sa, l.ca).map_err(|e| format!("{e:?}"));
            let r2 = down[i].1.pump(sa, l.ca).map_err(|e| format!("{e:?}"));
            while sa.poll_event().is_some() {}
            let sb = bs(&mut sim);
            let r3 = down[i].0.pump(sb, l.cb).map_err(|e| format!("{e:?}"));
            let r4 = up[i].1.pump(sb, l.cb).map_err(|e| format!("{e:?}"));
            while sb.poll_event().is_some() {}
            if let Some(e) = [r1, r2, r3, r4].into_iter().find_map(Result::err) {
                // Every byte delivered before the failure was checked by the receiver.
                eprintln!("connection {i} failed: {e}");
                resets.push(i);
            }
        }
        // The attack.
        if injected < HOSTILE {
            let now = sim.now();
            // Spread evenly over ATTACK of virtual time.
            let due = ((now - attack_start).as_nanos() * u128::from(HOSTILE) / ATTACK.as_nanos())
                .min(u128::from(HOSTILE)) as u32;
            let node = sim.node_mut::<Counted>(b);
            for _ in 0..due.saturating_sub(injected).clamp(1, MAX_PER_STEP) {
                let (kind, packet, expect) = hostile.next(&node.stack, &live);
                let r = node.feed(now, &packet);
                injected += 1;
                let e = by_kind.entry(kind).or_default();
                e.0 += 1;
                if r == Input::Accepted {
                    e.1 += 1;
                }
                match expect {
                    Expect::Any => {}
                    Expect::Dropped => assert!(
                        matches!(r, Input::Dropped(_)),
                        "{kind} accepted: {packet:02x?}"
                    ),
                    Expect::OneOf(a, b) => assert!(
                        r == Input::Dropped(a) || r == Input::Dropped(b),
                        "{kind}: {r:?}, expected Dropped({a:?}) or Dropped({b:?})"
                    ),
                    Expect::Exactly(reason) => {
                        // A crafted segment that carries a random timestamp older than
                        // TS.Recent is stopped earlier, by PAWS (RFC 7323 §5.3).
                        assert!(
                            r == Input::Dropped(reason) || r == Input::Dropped(DropReason::Paws),
                            "{kind}: {r:?}, expected Dropped({reason:?}): {packet:02x?}"
                        );
                    }
                }
            }
            if injected == HOSTILE {
                // The attack hit connections that were moving data: much was still to come.
                let got: u64 = up.iter().chain(down.iter()).map(|(_, r)| r.received).sum();
                eprintln!(
                    "attack over at {now}: {got} of {} bytes delivered",
                    2 * CONNS as u64 * BYTES
                );
                assert!(
                    got > 0 && got < 2 * CONNS as u64 * BYTES,
                    "the transfers ran during the attack"
                );
                // Attack over: let the transfers finish and close.
                for (s, _) in up.iter_mut().chain(down.iter_mut()) {
                    s.shutdown_at_end = true;
                }
            }
        } else if (0..CONNS).all(|i| resets.contains(&i) || (up[i].1.eof && down[i].1.eof)) {
            finished = true;
            break;
        }
        if !sim.step(limit) {
            break;
        }
    }
    assert!(finished, "transfers did not finish by {}", sim.now());
    assert_eq!(injected, HOSTILE);

    // Every surviving connection delivered exactly its stream, both ways (the receivers
    // checked every byte against the pattern as it came).
    for i in 0..CONNS {
        if resets.contains(&i) {
            continue;
        }
        assert_eq!(up[i].1.received, BYTES, "connection {i} upstream");
        assert_eq!(down[i].1.received, BYTES, "connection {i} downstream");
    }
    assert!(
        resets.is_empty(),
        "no crafted packet may reset a connection: {resets:?}"
    );

    // Every packet B was handed is accounted for: accepted or dropped, each drop counted by
    // its reason.
    let node = sim.node::<Counted>(b);
    let st = node.stack.stats();
    assert_eq!(st.packets_in, node.calls);
    assert_eq!(st.packets_in, node.accepted + st.dropped_total());
    for (reason, n) in st.drops() {
        assert_eq!(
            n,
            node.drops.get(&reason).copied().unwrap_or(0),
            "drops for {reason:?}"
        );
    }
    eprintln!(
        "{} packets into B ({} accepted), by {}; drops: {:?}",
        st.packets_in,
        node.accepted,
        sim.now(),
        st.drops().filter(|d| d.1 > 0).collect::<Vec<_>>()
    );
    eprintln!(
        "B: challenge ACKs {} (+{} suppressed), RSTs out {}, replies suppressed {}, echo replies {}, ICMP errors applied {}, retransmits {}, RTOs {}",
        st.challenge_acks,
        st.challenge_acks_suppressed,
        st.resets_out,
        st.replies_suppressed,
        st.icmp_echo_replies,
        st.icmp_errors_applied,
        st.retransmitted_segments,
        st.rto_expirations
    );
    for (k, (n, acc)) in &by_kind {
        eprintln!("  {k:26} {n:6} sent, {acc:6} accepted");
    }
}
