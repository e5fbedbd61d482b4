//! A scripted fake peer for state-machine tests: it builds IPv4/IPv6 + TCP (and ICMP) packets
//! with `sanstcp::wire`, feeds them to one [`Stack`] under test at explicit virtual times, and
//! collects and parses everything the stack transmits, stamped with the time it went out.
//!
//! Sequence numbers are relative: segments the peer sends use `seq` relative to the peer's ISS
//! (`peer_iss`) and `ack` relative to the stack's ISS for that 4-tuple (learned from the SYN or
//! SYN-ACK the stack sent); segments the stack sends are reported the same way (`rseq` relative
//! to the stack's ISS, `rack` relative to `peer_iss`).
//!
//! Time only moves when a test says so ([`Peer::advance_to`], [`Peer::expect_at`],
//! [`Peer::quiet_until`]); timers fire at exactly the deadlines the stack reports.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use sanstcp::wire::{ip_protocol, Icmpv4Repr, Icmpv6Repr, IpRepr, TcpFlags, TcpOptions, TcpRepr};
use sanstcp::{
    ConnId, ConnInfo, ConnectOptions, Event, Input, Instant, ListenOptions, ListenerId, Stack,
    StackConfig, TcpState,
};

pub const SYN: TcpFlags = TcpFlags::SYN;
pub const ACK: TcpFlags = TcpFlags::ACK;
pub const FIN: TcpFlags = TcpFlags::FIN;
pub const RST: TcpFlags = TcpFlags::RST;
pub const PSH: TcpFlags = TcpFlags::PSH;
pub const NONE: TcpFlags = TcpFlags(0);
pub const SYN_ACK: TcpFlags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::ACK.0);
pub const FIN_ACK: TcpFlags = TcpFlags(TcpFlags::FIN.0 | TcpFlags::ACK.0);
pub const RST_ACK: TcpFlags = TcpFlags(TcpFlags::RST.0 | TcpFlags::ACK.0);

/// The stack's IPv4 address and the peer's.
pub const US4: &str = "10.0.0.1";
pub const THEM4: &str = "10.0.0.2";
/// The stack's IPv6 address and the peer's.
pub const US6: &str = "fd00::1";
pub const THEM6: &str = "fd00::2";

/// The peer's initial sequence number (close to the wrap, so that relative arithmetic wraps).
pub const PEER_ISS: u32 = 0xffff_ff00;
/// The port the stack listens on in passive-open tests.
pub const SERVER_PORT: u16 = 80;
/// The peer's port in passive-open tests.
pub const CLIENT_PORT: u16 = 40000;

/// `ms` milliseconds after the epoch.
pub fn ms(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// `d` as an instant after the epoch.
pub fn at(d: Duration) -> Instant {
    Instant::ZERO + d
}

/// One nanosecond before `t`.
pub fn just_before(t: Instant) -> Instant {
    Instant::from_nanos(t.as_nanos() - 1)
}

/// A deterministic payload of `n` bytes, different for each `tag`.
pub fn data(tag: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(tag))
        .collect()
}

/// A stack config with the stack's IPv4 and IPv6 addresses and a fixed secret and seed.
pub fn config() -> StackConfig {
    StackConfig::new(
        vec![US4.parse().unwrap(), US6.parse().unwrap()],
        [0x42; 16],
        7,
    )
}

/// One TCP segment the stack sent.
#[derive(Clone)]
pub struct Seg {
    /// When `poll_transmit` returned it.
    pub at: Instant,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    /// `seq` relative to the stack's ISS for this 4-tuple (absolute if unknown).
    pub rseq: u32,
    /// `ack` relative to the peer's ISS.
    pub rack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub options: TcpOptions,
    pub payload: Vec<u8>,
    pub hop_limit: u8,
    /// The whole IP packet as transmitted.
    pub raw: Vec<u8>,
}

impl Seg {
    pub fn len(&self) -> usize {
        self.payload.len()
    }
    pub fn has(&self, f: TcpFlags) -> bool {
        self.flags.contains(f)
    }
}

impl fmt::Debug for Seg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{} {} > {} {} rseq {} rack {} win {} len {}{}{}]",
            self.at,
            self.src,
            self.dst,
            self.flags,
            self.rseq,
            self.rack,
            self.window,
            self.payload.len(),
            self.options
                .mss
                .map(|m| format!(" mss {m}"))
                .unwrap_or_default(),
            self.options
                .window_scale
                .map(|w| format!(" wscale {w}"))
                .unwrap_or_default(),
        )
    }
}

/// One non-TCP packet the stack sent (ICMP replies).
#[derive(Clone, Debug)]
pub struct Packet {
    pub at: Instant,
    pub ip: IpRepr,
    pub raw: Vec<u8>,
}

impl Packet {
    /// The IP payload.
    pub fn payload(&self) -> &[u8] {
        &self.raw[self.ip.header_len()..]
    }
}

/// The fake peer around one stack under test.
pub struct Peer {
    pub stack: Stack,
    now: Instant,
    /// The stack's side of the current connection.
    pub us: SocketAddr,
    /// The peer's side of the current connection.
    pub them: SocketAddr,
    pub peer_iss: u32,
    /// Window field the peer puts in its segments unless told otherwise.
    pub window: u16,
    /// Options the peer puts in its SYN / SYN-ACK in the open helpers.
    pub syn_options: TcpOptions,
    /// The stack's ISS per (stack address, peer address).
    isn: HashMap<(SocketAddr, SocketAddr), u32>,
    out: VecDeque<Seg>,
    other: VecDeque<Packet>,
    events: VecDeque<Event>,
}

impl Peer {
    /// A peer talking IPv4 to a stack built from `cfg`.
    pub fn new(cfg: StackConfig) -> Peer {
        Peer::with_addrs(cfg, US4, THEM4)
    }

    /// A peer talking IPv6 to a stack built from `cfg`.
    pub fn new_v6(cfg: StackConfig) -> Peer {
        Peer::with_addrs(cfg, US6, THEM6)
    }

    fn with_addrs(cfg: StackConfig, us: &str, them: &str) -> Peer {
        let stack = Stack::new(cfg).expect("valid config");
        Peer {
            stack,
            now: Instant::ZERO,
            us: SocketAddr::new(us.parse().unwrap(), SERVER_PORT),
            them: SocketAddr::new(them.parse().unwrap(), CLIENT_PORT),
            peer_iss: PEER_ISS,
            window: 65535,
            syn_options: TcpOptions {
                mss: Some(1460),
                ..TcpOptions::default()
            },
            isn: HashMap::new(),
            out: VecDeque::new(),
            other: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// A peer with the default config changed by `f`.
    pub fn with(f: impl FnOnce(&mut StackConfig)) -> Peer {
        let mut cfg = config();
        f(&mut cfg);
        Peer::new(cfg)
    }

    /// Like [`Peer::with`], over IPv6.
    pub fn with_v6(f: impl FnOnce(&mut StackConfig)) -> Peer {
        let mut cfg = config();
        f(&mut cfg);
        Peer::new_v6(cfg)
    }

    // ---- time -------------------------------------------------------------------------------

    pub fn now(&self) -> Instant {
        self.now
    }

    /// Collects everything the stack wants to send at the current time.
    pub fn flush(&mut self) {
        let mut buf = vec![0u8; 65536];
        for i in 0.. {
            assert!(i < 10_000, "the stack keeps transmitting at {}", self.now);
            let Some(t) = self.stack.poll_transmit(self.now, &mut buf) else {
                break;
            };
            assert!(
                t.len <= self.stack.config().mtu,
                "packet of {} bytes exceeds the MTU",
                t.len
            );
            self.record(buf[..t.len].to_vec());
        }
        while let Some(e) = self.stack.poll_event() {
            self.events.push_back(e);
        }
    }

    fn record(&mut self, raw: Vec<u8>) {
        let (ip, payload) = IpRepr::parse(&raw).expect("the stack emits valid IP");
        if ip.protocol != ip_protocol::TCP {
            self.other.push_back(Packet {
                at: self.now,
                ip,
                raw,
            });
            return;
        }
        let tcp = TcpRepr::parse(payload, &ip.src_addr, &ip.dst_addr, true)
            .expect("the stack emits valid TCP");
        let src = SocketAddr::new(ip.src_addr, tcp.src_port);
        let dst = SocketAddr::new(ip.dst_addr, tcp.dst_port);
        if tcp.flags.contains(TcpFlags::SYN) {
            self.isn.insert((src, dst), tcp.seq);
        }
        let base = self.isn.get(&(src, dst)).copied().unwrap_or(0);
        let seg = Seg {
            at: self.now,
            src,
            dst,
            seq: tcp.seq,
            ack: tcp.ack,
            rseq: tcp.seq.wrapping_sub(base),
            rack: tcp.ack.wrapping_sub(self.peer_iss),
            flags: tcp.flags,
            window: tcp.window,
            options: tcp.options,
            payload: tcp.payload.to_vec(),
            hop_limit: ip.hop_limit,
            raw: raw.clone(),
        };
        self.out.push_back(seg);
    }

    /// Moves time to `t`, running every timer at exactly its deadline on the way and collecting
    /// what the stack sends.
    pub fn advance_to(&mut self, t: Instant) {
        assert!(t >= self.now, "time runs forward: {} < {}", t, self.now);
        self.flush();
        for _ in 0..100_000 {
            match self.stack.poll_timeout() {
                Some(d) if d <= t => {
                    self.now = self.now.max(d);
                    self.stack.handle_timeout(self.now);
                    self.flush();
                }
                _ => {
                    self.now = t;
                    self.flush();
                    return;
                }
            }
        }
        panic!("timers keep firing at {}", self.now);
    }

    /// Moves time forward by `d`.
    pub fn advance(&mut self, d: Duration) {
        self.advance_to(self.now + d);
    }

    /// Moves time forward by `n` milliseconds.
    pub fn advance_ms(&mut self, n: u64) {
        self.advance(Duration::from_millis(n));
    }

    /// Moves time to `t`, asserting the stack sent nothing up to and including `t`.
    pub fn quiet_until(&mut self, t: Instant) {
        self.expect_none();
        self.advance_to(t);
        self.expect_none();
    }

    // ---- what the stack sent ------------------------------------------------------------------

    /// The next TCP segment the stack sent, if any (without advancing time).
    pub fn pop(&mut self) -> Option<Seg> {
        self.flush();
        self.out.pop_front()
    }

    /// The next non-TCP packet the stack sent, if any.
    pub fn pop_other(&mut self) -> Option<Packet> {
        self.flush();
        self.other.pop_front()
    }

    /// Every TCP segment sent so far and not yet taken.
    pub fn drain(&mut self) -> Vec<Seg> {
        self.flush();
        self.out.drain(..).collect()
    }

    /// Asserts that the next segment went out now, between the current endpoints, with these
    /// flags (PSH ignored), relative seq, relative ack (checked when `flags` has ACK) and
    /// payload length.
    #[track_caller]
    pub fn expect(&mut self, flags: TcpFlags, seq: u32, ack: u32, len: usize) -> Seg {
        let now = self.now;
        let seg = self.pop().unwrap_or_else(|| {
            panic!(
                "expected {flags} rseq {seq} rack {ack} len {len} at {now}, the stack sent nothing"
            )
        });
        self.check(&seg, now, flags, seq, ack, len);
        seg
    }

    /// Advances to `t` and asserts that the next segment went out exactly at `t` (nothing
    /// before), as in [`Peer::expect`].
    #[track_caller]
    pub fn expect_at(
        &mut self,
        t: Instant,
        flags: TcpFlags,
        seq: u32,
        ack: u32,
        len: usize,
    ) -> Seg {
        self.expect_none();
        self.advance_to(t);
        self.expect(flags, seq, ack, len)
    }

    /// Runs the timers until the stack sends something (at most `limit` from now) and returns it.
    #[track_caller]
    pub fn next_within(&mut self, limit: Duration) -> Seg {
        let end = self.now + limit;
        loop {
            if let Some(s) = self.pop() {
                return s;
            }
            match self.stack.poll_timeout() {
                Some(d) if d <= end => self.advance_to(d.max(self.now)),
                _ => panic!("nothing sent by {end}"),
            }
        }
    }

    #[track_caller]
    fn check(&self, seg: &Seg, at: Instant, flags: TcpFlags, seq: u32, ack: u32, len: usize) {
        let mask = TcpFlags(TcpFlags::ALL.0 & !TcpFlags::PSH.0);
        let ok_flags = seg.flags & mask == flags & mask;
        let ok_ack = !flags.contains(TcpFlags::ACK) || seg.rack == ack;
        let ok = seg.at == at
            && ok_flags
            && seg.rseq == seq
            && ok_ack
            && seg.payload.len() == len
            && seg.src == self.us
            && seg.dst == self.them;
        assert!(
            ok,
            "expected [{at} {} > {} {flags} rseq {seq} rack {ack} len {len}], got {seg:?}",
            self.us, self.them
        );
    }

    /// Asserts the stack has nothing to send now.
    #[track_caller]
    pub fn expect_none(&mut self) {
        self.flush();
        let n = self.out.len();
        let first: Vec<&Seg> = self.out.iter().take(4).collect();
        assert!(
            n == 0,
            "expected silence at {}, got {n} segments, first {first:?}",
            self.now
        );
        let first: Vec<&Packet> = self.other.iter().take(2).collect();
        assert!(
            first.is_empty(),
            "expected silence at {}, got packets {first:?}",
            self.now
        );
    }

    // ---- events -----------------------------------------------------------------------------

    /// Every event reported so far and not yet taken.
    pub fn events(&mut self) -> Vec<Event> {
        self.flush();
        self.events.drain(..).collect()
    }

    /// The `StateChanged` transitions among the events so far (the other events are kept).
    pub fn transitions(&mut self) -> Vec<(TcpState, TcpState)> {
        self.flush();
        let mut keep = VecDeque::new();
        let mut out = Vec::new();
        for e in self.events.drain(..) {
            match e {
                Event::StateChanged { from, to, .. } => out.push((from, to)),
                other => keep.push_back(other),
            }
        }
        self.events = keep;
        out
    }

    /// The events so far other than `StateChanged` (the transitions are discarded).
    pub fn plain_events(&mut self) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| !matches!(e, Event::StateChanged { .. }))
            .collect()
    }

    /// The connection's state (panics on a stale id).
    #[track_caller]
    pub fn state(&self, c: ConnId) -> TcpState {
        self.info(c).state
    }

    #[track_caller]
    pub fn info(&self, c: ConnId) -> ConnInfo {
        self.stack.info(c).expect("live connection id")
    }

    // ---- what the peer sends ----------------------------------------------------------------

    /// A segment from the peer; numbers are relative until changed with `abs_*`.
    pub fn tx(&mut self, flags: TcpFlags) -> Tx<'_> {
        let window = self.window;
        Tx {
            peer: self,
            flags,
            seq: 0,
            ack: 0,
            seq_abs: false,
            ack_abs: false,
            payload: Vec::new(),
            window,
            options: TcpOptions::default(),
            src: None,
            dst: None,
        }
    }

    /// Sends `<SEQ=seq><ACK=ack><CTL=flags>` with `payload` (relative numbers) now.
    pub fn send(&mut self, flags: TcpFlags, seq: u32, ack: u32, payload: &[u8]) -> Input {
        self.tx(flags).seq(seq).ack(ack).data(payload).send()
    }

    /// Hands a raw IP packet to the stack now.
    pub fn inject(&mut self, packet: &[u8]) -> Input {
        self.flush();
        let r = self.stack.handle_packet(self.now, packet);
        self.flush();
        r
    }

    /// The stack's ISS for the current 4-tuple.
    #[track_caller]
    pub fn stack_iss(&self) -> u32 {
        *self
            .isn
            .get(&(self.us, self.them))
            .expect("the stack's SYN was seen")
    }

    /// Builds an IP packet from `src` to `dst` carrying `body` (already serialized).
    pub fn ip_packet(src: IpAddr, dst: IpAddr, protocol: u8, body: &[u8]) -> Vec<u8> {
        let ip = IpRepr {
            src_addr: src,
            dst_addr: dst,
            protocol,
            payload_len: body.len(),
            hop_limit: 64,
            ecn: 0,
        };
        let mut buf = vec![0u8; ip.total_len()];
        let h = ip.header_len();
        ip.emit(&mut buf[..h]);
        buf[h..].copy_from_slice(body);
        buf
    }

    /// An ICMPv4 echo request (or ICMPv6, by the family of the endpoints) from the peer.
    pub fn ping(&mut self, ident: u16, seq_no: u16, payload: &[u8]) -> Input {
        let (src, dst) = (self.them.ip(), self.us.ip());
        let pkt = match (src, dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => {
                let r = Icmpv4Repr::EchoRequest {
                    ident,
                    seq_no,
                    data: payload,
                };
                let mut body = vec![0u8; r.buffer_len()];
                r.emit(&mut body);
                Peer::ip_packet(src, dst, ip_protocol::ICMP, &body)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let r = Icmpv6Repr::EchoRequest {
                    ident,
                    seq_no,
                    data: payload,
                };
                let mut body = vec![0u8; r.buffer_len()];
                r.emit(&mut body, &s, &d);
                Peer::ip_packet(src, dst, ip_protocol::ICMPV6, &body)
            }
            _ => unreachable!(),
        };
        self.inject(&pkt)
    }

    /// An ICMP "fragmentation needed" (IPv4) or "packet too big" (IPv6) from a router at
    /// `router`, quoting the first `quote` bytes of `seg`'s IP packet.
    pub fn too_big(&mut self, router: IpAddr, mtu: u16, seg: &Seg, quote: usize) -> Input {
        let quoted = seg.raw[..quote.min(seg.raw.len())].to_vec();
        self.icmp_error(router, 4, mtu, &quoted)
    }

    /// An ICMP error from `router` quoting `quoted` (an IP header and the start of a segment):
    /// for IPv4 "destination unreachable" with `code` (4 = fragmentation needed, with `mtu`);
    /// for IPv6 "packet too big" with `mtu` when `code` is 4, else "destination unreachable".
    pub fn icmp_error(&mut self, router: IpAddr, code: u8, mtu: u16, quoted: &[u8]) -> Input {
        let dst = self.us.ip();
        let pkt = match (router, dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => {
                let r = Icmpv4Repr::DstUnreachable {
                    code,
                    next_hop_mtu: mtu,
                    invoking: quoted,
                };
                let mut body = vec![0u8; r.buffer_len()];
                r.emit(&mut body);
                Peer::ip_packet(router, dst, ip_protocol::ICMP, &body)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let r = if code == 4 {
                    Icmpv6Repr::PacketTooBig {
                        mtu: u32::from(mtu),
                        invoking: quoted,
                    }
                } else {
                    Icmpv6Repr::DstUnreachable {
                        code,
                        invoking: quoted,
                    }
                };
                let mut body = vec![0u8; r.buffer_len()];
                r.emit(&mut body, &s, &d);
                Peer::ip_packet(router, dst, ip_protocol::ICMPV6, &body)
            }
            _ => unreachable!(),
        };
        self.inject(&pkt)
    }

    // ---- opening connections ----------------------------------------------------------------

    /// Active open at the current time: `connect` to `them` (port [`SERVER_PORT`]), the SYN,
    /// the peer's SYN-ACK with [`Peer::syn_options`] at the same instant, the final ACK.
    #[track_caller]
    pub fn active_open(&mut self, opts: ConnectOptions) -> ConnId {
        let c = self.connect(opts);
        self.expect(SYN, 0, 0, 0);
        let o = self.syn_options;
        assert_eq!(
            self.tx(SYN_ACK).seq(0).ack(1).options(o).send(),
            Input::Accepted
        );
        self.expect(ACK, 1, 1, 0);
        assert_eq!(self.state(c), TcpState::Established);
        c
    }

    /// `connect` to the peer's [`SERVER_PORT`]; learns the local address the stack picked.
    #[track_caller]
    pub fn connect(&mut self, opts: ConnectOptions) -> ConnId {
        self.them.set_port(SERVER_PORT);
        let c = self
            .stack
            .connect(self.now, self.them, opts)
            .expect("connect");
        self.us = self.stack.info(c).expect("new connection").local;
        c
    }

    /// Listens on the stack's [`SERVER_PORT`] (the current `us` address).
    #[track_caller]
    pub fn listen(&mut self, opts: ListenOptions) -> ListenerId {
        self.us.set_port(SERVER_PORT);
        self.stack.listen(self.us, opts).expect("listen")
    }

    /// Passive open at the current time on a new listener: the peer's SYN with
    /// [`Peer::syn_options`], the SYN-ACK, the peer's ACK, `accept`.
    #[track_caller]
    pub fn passive_open(&mut self) -> (ListenerId, ConnId) {
        let l = self.listen(ListenOptions::default());
        let c = self.handshake_in(l);
        (l, c)
    }

    /// The passive handshake from the peer's current port to listener `l`.
    #[track_caller]
    pub fn handshake_in(&mut self, l: ListenerId) -> ConnId {
        let o = self.syn_options;
        assert_eq!(self.tx(SYN).seq(0).options(o).send(), Input::Accepted);
        self.expect(SYN_ACK, 0, 1, 0);
        assert_eq!(self.send(ACK, 1, 1, &[]), Input::Accepted);
        let c = self
            .stack
            .accept(l)
            .expect("an established connection to accept");
        assert_eq!(self.state(c), TcpState::Established);
        c
    }
}

/// A segment under construction; see [`Peer::tx`].
pub struct Tx<'a> {
    peer: &'a mut Peer,
    flags: TcpFlags,
    seq: u32,
    ack: u32,
    seq_abs: bool,
    ack_abs: bool,
    payload: Vec<u8>,
    window: u16,
    options: TcpOptions,
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
}

impl Tx<'_> {
    /// Sequence number relative to the peer's ISS.
    pub fn seq(mut self, s: u32) -> Self {
        self.seq = s;
        self.seq_abs = false;
        self
    }
    /// Acknowledgement number relative to the stack's ISS.
    pub fn ack(mut self, a: u32) -> Self {
        self.ack = a;
        self.ack_abs = false;
        self
    }
    /// Absolute sequence number.
    pub fn abs_seq(mut self, s: u32) -> Self {
        self.seq = s;
        self.seq_abs = true;
        self
    }
    /// Absolute acknowledgement number.
    pub fn abs_ack(mut self, a: u32) -> Self {
        self.ack = a;
        self.ack_abs = true;
        self
    }
    pub fn data(mut self, d: &[u8]) -> Self {
        self.payload = d.to_vec();
        self
    }
    pub fn win(mut self, w: u16) -> Self {
        self.window = w;
        self
    }
    pub fn options(mut self, o: TcpOptions) -> Self {
        self.options = o;
        self
    }
    pub fn mss(mut self, m: u16) -> Self {
        self.options.mss = Some(m);
        self
    }
    pub fn wscale(mut self, s: u8) -> Self {
        self.options.window_scale = Some(s);
        self
    }
    /// Send from another peer port.
    pub fn src_port(mut self, p: u16) -> Self {
        let mut a = self.src.unwrap_or(self.peer.them);
        a.set_port(p);
        self.src = Some(a);
        self
    }
    /// Send to another stack port.
    pub fn dst_port(mut self, p: u16) -> Self {
        let mut a = self.dst.unwrap_or(self.peer.us);
        a.set_port(p);
        self.dst = Some(a);
        self
    }

    /// The packet's bytes.
    pub fn build(&self) -> Vec<u8> {
        let src = self.src.unwrap_or(self.peer.them);
        let dst = self.dst.unwrap_or(self.peer.us);
        let seq = if self.seq_abs {
            self.seq
        } else {
            self.peer.peer_iss.wrapping_add(self.seq)
        };
        let ack = if self.ack_abs {
            self.ack
        } else {
            let base = self.peer.isn.get(&(dst, src)).copied().unwrap_or(0);
            base.wrapping_add(self.ack)
        };
        let tcp = TcpRepr {
            src_port: src.port(),
            dst_port: dst.port(),
            seq,
            ack,
            flags: self.flags,
            window: self.window,
            urgent: 0,
            options: self.options,
            payload: &self.payload,
        };
        let mut body = vec![0u8; tcp.segment_len()];
        tcp.emit(&mut body, &src.ip(), &dst.ip());
        Peer::ip_packet(src.ip(), dst.ip(), ip_protocol::TCP, &body)
    }

    /// Hands the segment to the stack at the current time.
    pub fn send(self) -> Input {
        let pkt = self.build();
        self.peer.inject(&pkt)
    }
}
