//! Limits under load: a listener with small queues and a stack with a connection limit take
//! 100,000 connection attempts of every kind (spoofed SYNs, forged ACKs, clients that complete
//! the handshake and then reset or fall silent, before or after the application accepts them),
//! and a connection survives thousands of blind in-window RSTs and SYNs (RFC 5961).
//!
//! The first test models the listener from the outside, with the stack's own counters only:
//!
//! - half-open connections (the SYN queue) = `passive_opens` − `Incoming` events −
//!   `attempt_fails`: every passive open, stateful or rebuilt from a cookie, starts in the SYN
//!   queue in SYN-RECEIVED and leaves it by completing (one `Incoming` event) or by closing
//!   from SYN-RECEIVED, which RFC 4022's tcpAttemptFails counts whatever the reason (its
//!   SYN-ACKs went unanswered, or an exact RST);
//! - the accept queue = `Incoming` events − accepted − connections reset while queued
//!   (`estab_resets`, resets from ESTABLISHED, minus the resets the application was told
//!   about: the clients never send a FIN and the application resets instead of closing, so
//!   nothing else ends an established connection here);
//! - `connection_count()` = SYN queue + accept queue + what the application holds, exactly
//!   (plus, at the very end, the one connection the application closed gracefully).
//!
//! After every call it checks these against `syn_backlog`, `backlog` and `max_connections`,
//! and at the end that every packet was accepted or dropped under a counted reason. Then, with
//! the SYN queue full of spoofed half-open connections, a sanstcp client still connects (through
//! a SYN cookie) and exchanges data both ways.
//!
//! The second test aims 10,000 RSTs with in-window sequence numbers (never RCV.NXT), 2,000
//! in-window SYNs and 2,000 in-window data segments with impossible acknowledgements at each end
//! of a connection that is moving data: every one is dropped, the connection stays up, challenge
//! ACKs go out within their rate limits, and afterwards a bulk transfer both ways is byte-exact.

mod common;

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::{Pair, Receiver, Sender};
use sanstcp::sim::Rng;
use sanstcp::wire::{ip_protocol, IpRepr, TcpFlags, TcpOptions, TcpRepr};
use sanstcp::{
    CloseReason, ConnId, ConnectOptions, DropReason, Event, Input, Instant, ListenOptions,
    ListenerId, RecvError, Stack, StackConfig, SynCookieMode, TcpState,
};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PORT: u16 = 80;
const MAX_CONNECTIONS: usize = 1000;
const SYN_BACKLOG: usize = 64;
const BACKLOG: usize = 64;
const ATTEMPTS: u32 = 100_000;
/// One attempt every 100 µs: 10 s of virtual time.
const SPACING: Duration = Duration::from_micros(100);
/// How long a scripted client takes to answer the server.
const RTT: Duration = Duration::from_millis(1);
/// The application looks at its listener this often ...
const ROUND: Duration = Duration::from_millis(2);
/// ... and accepts at most this many connections each time (2,000 per second) ...
const ACCEPTS_PER_ROUND: usize = 4;
/// ... except every this many rounds, when it takes the whole accept queue.
const DRAIN_EVERY: u64 = 100;
/// Spoofed sources: 10.128.0.0/9.
const SPOOF_NET: u32 = 0x0a80_0000;
const SPOOF_MASK: u32 = 0xff80_0000;

fn server_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(SERVER), PORT)
}

fn spoofed(rng: &mut Rng) -> SocketAddr {
    let ip = Ipv4Addr::from(SPOOF_NET | (rng.next_u32() & !SPOOF_MASK));
    SocketAddr::new(IpAddr::V4(ip), 1024 + rng.gen_range(64_000) as u16)
}

/// An IPv4 packet carrying `tcp` from `src` to `dst`, checksums filled.
fn packet(src: SocketAddr, dst: SocketAddr, tcp: &TcpRepr<'_>) -> Vec<u8> {
    let ip = IpRepr {
        src_addr: src.ip(),
        dst_addr: dst.ip(),
        protocol: ip_protocol::TCP,
        payload_len: tcp.segment_len(),
        hop_limit: 64,
        ecn: 0,
    };
    let mut buf = vec![0u8; ip.total_len()];
    let h = ip.header_len();
    ip.emit(&mut buf[..h]);
    tcp.emit(&mut buf[h..], &src.ip(), &dst.ip());
    buf
}

/// A segment from `src` to `dst` (ports from the addresses).
#[allow(clippy::too_many_arguments)]
fn segment(
    src: SocketAddr,
    dst: SocketAddr,
    flags: TcpFlags,
    seq: u32,
    ack: u32,
    options: TcpOptions,
    payload: &[u8],
) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq,
        ack,
        flags,
        window: 65535,
        urgent: 0,
        options,
        payload,
    };
    packet(src, dst, &tcp)
}

/// SYN options like a real client's: some with timestamps (TSval `tsval`), some without.
fn syn_options(rng: &mut Rng, tsval: Option<u32>) -> TcpOptions {
    let mut o = TcpOptions {
        mss: Some([536, 1220, 1380, 1460][rng.gen_range(4) as usize]),
        ..TcpOptions::default()
    };
    if rng.gen_bool(0.8) {
        o.window_scale = Some(rng.gen_range(15) as u8);
    }
    o.sack_permitted = rng.gen_bool(0.7);
    o.timestamps = tsval.map(|v| (v, 0));
    o
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A spoofed SYN: nobody answers its SYN-ACK.
    Spoofed,
    /// A forged ACK with random numbers: a blind guess at a cookie.
    ForgedAck,
    /// Completes the handshake, maybe sends a request, then resets.
    ResetLater,
    /// Completes the handshake, maybe sends a request, then never says anything again.
    Silent,
}

/// A scripted client that really answers the server (`ResetLater`, `Silent`).
struct Client {
    kind: Kind,
    addr: SocketAddr,
    /// Its timestamp clock's offset, if its SYN offered timestamps.
    ts_offset: Option<u32>,
    /// The server's ISN and latest TSval, from its SYN-ACK.
    server_isn: Option<u32>,
    server_ts: Option<u32>,
    /// Request bytes to send with the handshake's end.
    request: usize,
    request_sent: bool,
    snd_nxt: u32,
    reset_after: Duration,
    reset_scheduled: bool,
    gone: bool,
    acks: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Ack(u32),
    Reset(u32),
}

/// The server, its application, the scripted clients and the bookkeeping of the checks.
struct World {
    server: Stack,
    listener: ListenerId,
    rng: Rng,
    clients: Vec<Client>,
    by_addr: HashMap<SocketAddr, u32>,
    /// Client actions by time: (time, order, action), earliest first.
    actions: BinaryHeap<std::cmp::Reverse<(Instant, u64, Action)>>,
    order: u64,
    /// What the application holds: accepted and not yet released, with the release time.
    held: BTreeMap<ConnId, Instant>,
    /// A held connection whose data the test reads itself.
    manual: Option<ConnId>,
    /// Application rounds since it last took the whole accept queue.
    rounds: u64,
    /// Connections the application closed gracefully, still finishing their close.
    orphans: u64,
    accepted: u64,
    incoming: u64,
    seen_resets: u64,
    /// Returns of `handle_packet`, counted here.
    inputs_accepted: u64,
    inputs_dropped: HashMap<DropReason, u64>,
    /// Packets from the server to the final legitimate client.
    to_legit: Vec<Vec<u8>>,
    legit_addr: Option<IpAddr>,
    peak_conns: usize,
    peak_half_open: u64,
    peak_queued: u64,
    buf: Vec<u8>,
}

impl World {
    fn new(seed: u64) -> World {
        let mut cfg = StackConfig::new(vec![IpAddr::V4(SERVER)], [0x11; 16], seed);
        cfg.max_connections = MAX_CONNECTIONS;
        cfg.syn_cookies = SynCookieMode::Auto;
        // Unanswered SYN-ACKs give up after 1 + 2 s, so the SYN queue turns over.
        cfg.syn_retries = 1;
        let mut server = Stack::new(cfg).expect("config");
        let listener = server
            .listen(
                server_addr(),
                ListenOptions {
                    backlog: BACKLOG,
                    syn_backlog: SYN_BACKLOG,
                },
            )
            .expect("listen");
        World {
            server,
            listener,
            rng: Rng::new(seed),
            clients: Vec::new(),
            by_addr: HashMap::new(),
            actions: BinaryHeap::new(),
            order: 0,
            held: BTreeMap::new(),
            manual: None,
            rounds: 0,
            orphans: 0,
            accepted: 0,
            incoming: 0,
            seen_resets: 0,
            inputs_accepted: 0,
            inputs_dropped: HashMap::new(),
            to_legit: Vec::new(),
            legit_addr: None,
            peak_conns: 0,
            peak_half_open: 0,
            peak_queued: 0,
            buf: vec![0u8; 65536],
        }
    }

    fn schedule(&mut self, at: Instant, a: Action) {
        self.order += 1;
        self.actions.push(std::cmp::Reverse((at, self.order, a)));
    }

    /// Hands a packet to the server and settles everything that follows.
    fn feed(&mut self, now: Instant, pkt: &[u8]) -> Input {
        let r = self.server.handle_packet(now, pkt);
        match r {
            Input::Accepted => self.inputs_accepted += 1,
            Input::Dropped(reason) => *self.inputs_dropped.entry(reason).or_default() += 1,
        }
        self.settle(now);
        r
    }

    /// After any call: take the server's packets and events until both are quiet, then check
    /// the limits.
    fn settle(&mut self, now: Instant) {
        for _ in 0..1000 {
            let mut quiet = true;
            while let Some(tx) = self.server.poll_transmit(now, &mut self.buf) {
                quiet = false;
                let pkt = self.buf[..tx.len].to_vec();
                self.server_sent(now, &pkt);
            }
            while let Some(ev) = self.server.poll_event() {
                quiet = false;
                self.app_event(ev);
            }
            if quiet {
                break;
            }
        }
        self.check();
    }

    /// The SYN queue and accept queue as the counters say, and the whole table.
    fn queues(&self) -> (u64, u64) {
        let st = self.server.stats();
        let left_syn_queue = self.incoming + st.attempt_fails;
        assert!(
            st.passive_opens >= left_syn_queue,
            "more left the SYN queue than entered it: {st:?}"
        );
        let died_queued = st.estab_resets - self.seen_resets;
        let left_accept_queue = self.accepted + died_queued;
        assert!(
            self.incoming >= left_accept_queue,
            "more left the accept queue than entered it"
        );
        (
            st.passive_opens - left_syn_queue,
            self.incoming - left_accept_queue,
        )
    }

    fn check(&mut self) {
        let conns = self.server.connection_count();
        assert!(
            conns <= MAX_CONNECTIONS,
            "connection_count() {conns} > max_connections {MAX_CONNECTIONS}"
        );
        let (half_open, queued) = self.queues();
        assert!(
            half_open <= SYN_BACKLOG as u64,
            "{half_open} half-open connections > syn_backlog {SYN_BACKLOG}"
        );
        assert!(
            queued <= BACKLOG as u64,
            "{queued} queued connections > backlog {BACKLOG}"
        );
        assert_eq!(
            conns as u64,
            half_open + queued + self.held.len() as u64 + self.orphans,
            "connection_count() is not SYN queue {half_open} + accept queue {queued} + held {} \
             + closing {}",
            self.held.len(),
            self.orphans
        );
        self.peak_conns = self.peak_conns.max(conns);
        self.peak_half_open = self.peak_half_open.max(half_open);
        self.peak_queued = self.peak_queued.max(queued);
    }

    /// A packet the server sent: to a scripted client, to the final client, or into the void.
    fn server_sent(&mut self, now: Instant, pkt: &[u8]) {
        let (ip, payload) = IpRepr::parse(pkt).expect("the server sends valid IP");
        let seg = TcpRepr::parse(payload, &ip.src_addr, &ip.dst_addr, true)
            .expect("the server sends valid TCP");
        if Some(ip.dst_addr) == self.legit_addr {
            self.to_legit.push(pkt.to_vec());
            return;
        }
        let dst = SocketAddr::new(ip.dst_addr, seg.dst_port);
        let Some(&i) = self.by_addr.get(&dst) else {
            return;
        };
        let c = &mut self.clients[i as usize];
        if c.gone {
            return;
        }
        if seg.flags.contains(TcpFlags::RST) {
            c.gone = true;
            return;
        }
        if let Some((tsval, _)) = seg.options.timestamps {
            c.server_ts = Some(tsval);
        }
        if seg.flags.contains(TcpFlags::SYN | TcpFlags::ACK) && c.acks < 4 {
            // The SYN-ACK, or its retransmission because the ACK was dropped.
            c.server_isn = Some(seg.seq);
            c.acks += 1;
            self.schedule(now + RTT, Action::Ack(i));
        }
    }

    /// The client's options on a segment after the SYN: timestamps if both agreed.
    fn client_options(c: &Client, now: Instant) -> TcpOptions {
        let mut o = TcpOptions::default();
        if let (Some(off), Some(ecr)) = (c.ts_offset, c.server_ts) {
            o.timestamps = Some(((now.as_millis() as u32).wrapping_add(off), ecr));
        }
        o
    }

    fn client_action(&mut self, now: Instant, a: Action) {
        match a {
            Action::Ack(i) => {
                let c = &self.clients[i as usize];
                if c.gone {
                    return;
                }
                let Some(server_isn) = c.server_isn else {
                    return;
                };
                let o = Self::client_options(c, now);
                let ack = server_isn.wrapping_add(1);
                let pkt = segment(c.addr, server_addr(), TcpFlags::ACK, c.snd_nxt, ack, o, &[]);
                let (addr, request, sent) = (c.addr, c.request, c.request_sent);
                self.feed(now, &pkt);
                if !sent && request > 0 {
                    let data: Vec<u8> = (0..request).map(|k| (k * 7 + i as usize) as u8).collect();
                    let seq = self.clients[i as usize].snd_nxt;
                    let pkt = segment(
                        addr,
                        server_addr(),
                        TcpFlags::ACK | TcpFlags::PSH,
                        seq,
                        ack,
                        o,
                        &data,
                    );
                    let c = &mut self.clients[i as usize];
                    c.snd_nxt = c.snd_nxt.wrapping_add(request as u32);
                    c.request_sent = true;
                    self.feed(now, &pkt);
                }
                let c = &mut self.clients[i as usize];
                if c.kind == Kind::ResetLater && !c.reset_scheduled {
                    c.reset_scheduled = true;
                    let at = now + c.reset_after;
                    self.schedule(at, Action::Reset(i));
                }
            }
            Action::Reset(i) => {
                let c = &mut self.clients[i as usize];
                if c.gone {
                    return;
                }
                c.gone = true;
                let pkt = segment(
                    c.addr,
                    server_addr(),
                    TcpFlags::RST,
                    c.snd_nxt,
                    0,
                    TcpOptions::default(),
                    &[],
                );
                self.feed(now, &pkt);
            }
        }
    }

    /// Connection attempt `i`.
    fn attempt(&mut self, now: Instant, i: u32) {
        let roll = self.rng.gen_range(100);
        let kind = match roll {
            0..=44 => Kind::Spoofed,
            45..=49 => Kind::ForgedAck,
            50..=74 => Kind::ResetLater,
            _ => Kind::Silent,
        };
        match kind {
            Kind::Spoofed => {
                let src = spoofed(&mut self.rng);
                let ts = self.rng.gen_bool(0.6).then(|| self.rng.next_u32());
                let o = syn_options(&mut self.rng, ts);
                let seq = self.rng.next_u32();
                let pkt = segment(src, server_addr(), TcpFlags::SYN, seq, 0, o, &[]);
                self.feed(now, &pkt);
            }
            Kind::ForgedAck => {
                let src = spoofed(&mut self.rng);
                let (seq, ack) = (self.rng.next_u32(), self.rng.next_u32());
                let pkt = segment(
                    src,
                    server_addr(),
                    TcpFlags::ACK,
                    seq,
                    ack,
                    TcpOptions::default(),
                    &[],
                );
                self.feed(now, &pkt);
            }
            Kind::ResetLater | Kind::Silent => {
                // 10.64.0.0/10, a distinct address and port per client.
                let ip = Ipv4Addr::from(0x0a40_0000 | (i >> 6));
                let addr = SocketAddr::new(IpAddr::V4(ip), 10_000 + (i & 63) as u16);
                let isn = self.rng.next_u32();
                let ts_offset = self.rng.gen_bool(0.5).then(|| self.rng.next_u32());
                let tsval = ts_offset.map(|o| (now.as_millis() as u32).wrapping_add(o));
                let o = syn_options(&mut self.rng, tsval);
                let request = if self.rng.gen_bool(0.5) {
                    1 + self.rng.gen_range(300) as usize
                } else {
                    0
                };
                let reset_after = Duration::from_millis(1 + self.rng.gen_range(400));
                let index = self.clients.len() as u32;
                self.clients.push(Client {
                    kind,
                    addr,
                    ts_offset,
                    server_isn: None,
                    server_ts: None,
                    request,
                    request_sent: false,
                    snd_nxt: isn.wrapping_add(1),
                    reset_after,
                    reset_scheduled: false,
                    gone: false,
                    acks: 0,
                });
                self.by_addr.insert(addr, index);
                let pkt = segment(addr, server_addr(), TcpFlags::SYN, isn, 0, o, &[]);
                self.feed(now, &pkt);
            }
        }
    }

    /// The application's view of an event.
    fn app_event(&mut self, ev: Event) {
        match ev {
            Event::Incoming { listener } => {
                assert_eq!(listener, self.listener);
                self.incoming += 1;
            }
            Event::Readable { conn }
                if self.held.contains_key(&conn) && self.manual != Some(conn) =>
            {
                let mut buf = [0u8; 2048];
                for _ in 0..1000 {
                    match self.server.recv(conn, &mut buf) {
                        Ok(0) | Err(RecvError::WouldBlock) => break,
                        Ok(_) => {}
                        Err(e) => panic!("recv on a held connection: {e}"),
                    }
                }
            }
            Event::Closed { conn, reason } if self.held.remove(&conn).is_some() => {
                // Only the clients' RSTs end connections the application holds.
                assert_eq!(reason, CloseReason::Reset, "held connection closed");
                self.seen_resets += 1;
                self.server.close(conn);
            }
            _ => {}
        }
    }

    /// One look at the listener: accept some (or all), release what has been held long enough.
    fn app_round(&mut self, now: Instant) {
        self.rounds += 1;
        let limit = if self.rounds == DRAIN_EVERY {
            self.rounds = 0;
            usize::MAX
        } else {
            ACCEPTS_PER_ROUND
        };
        let mut taken = 0usize;
        while taken < limit {
            let Some(c) = self.server.accept(self.listener) else {
                break;
            };
            taken += 1;
            self.accepted += 1;
            let hold = Duration::from_millis(100 + self.rng.gen_range(1200));
            self.held.insert(c, now + hold);
            self.settle(now);
        }
        assert!(
            taken <= BACKLOG,
            "{taken} connections accepted at once from a backlog of {BACKLOG}"
        );
        let due: Vec<ConnId> = self
            .held
            .iter()
            .filter(|(_, &t)| t <= now)
            .map(|(&c, _)| c)
            .collect();
        for c in due {
            self.held.remove(&c);
            self.server.abort(c);
            self.settle(now);
        }
    }

    /// Every packet handed to the server was accepted or dropped, and every drop is in the
    /// stack's counters under the reason `handle_packet` returned.
    fn assert_accounted(&self) {
        let st = self.server.stats();
        let dropped: u64 = self.inputs_dropped.values().sum();
        assert_eq!(
            st.packets_in,
            self.inputs_accepted + dropped,
            "every packet is accepted or dropped"
        );
        for r in DropReason::ALL {
            assert_eq!(
                st.dropped(r),
                self.inputs_dropped.get(&r).copied().unwrap_or(0),
                "drops for {} as counted by the stack and as returned",
                r.name()
            );
        }
        assert_eq!(st.dropped_total(), dropped);
    }

    fn timers(&mut self, now: Instant) {
        if self.server.poll_timeout().is_some_and(|t| t <= now) {
            self.server.handle_timeout(now);
            self.settle(now);
        }
    }
}

#[test]
fn limits_hold_under_100k_connection_attempts() {
    for seed in [0x11_1175, 2, 3] {
        attempts(seed);
    }
}

/// 100,000 attempts with the randomness of `seed`, then the final client.
fn attempts(seed: u64) {
    let mut w = World::new(seed);
    let start = Instant::from_secs(1);
    let end_attempts = start + SPACING * ATTEMPTS;
    let mut next_attempt = 0u32;
    let mut next_round = start;
    let mut now = start;
    let mut steps = 0u64;
    loop {
        steps += 1;
        assert!(steps < 10_000_000, "step budget");
        let attempt_at = (next_attempt < ATTEMPTS).then(|| start + SPACING * next_attempt);
        let action_at = w.actions.peek().map(|std::cmp::Reverse((t, _, _))| *t);
        let timer_at = w.server.poll_timeout();
        let Some(next) = [attempt_at, action_at, timer_at, Some(next_round)]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        if next > end_attempts + Duration::from_millis(10) {
            break;
        }
        assert!(next >= now, "time goes forward");
        now = next;
        w.timers(now);
        while let Some(&std::cmp::Reverse((t, _, a))) = w.actions.peek() {
            if t > now {
                break;
            }
            w.actions.pop();
            w.client_action(now, a);
        }
        if attempt_at == Some(now) {
            w.attempt(now, next_attempt);
            next_attempt += 1;
        }
        if next_round <= now {
            w.app_round(now);
            next_round = now + ROUND;
        }
    }
    assert_eq!(next_attempt, ATTEMPTS);

    // The limits were reached, and what exceeded them was dropped and counted.
    let st = w.server.stats().clone();
    println!(
        "seed {seed}: after {ATTEMPTS} attempts at {now}: peak connections {} (limit {MAX_CONNECTIONS}), \
         peak half-open {} (syn_backlog {SYN_BACKLOG}), peak queued {} (backlog {BACKLOG}), \
         accepted {}, cookies sent {} accepted {}, passive opens {}, timeouts {}, \
         refused {}, resets {}",
        w.peak_conns,
        w.peak_half_open,
        w.peak_queued,
        w.accepted,
        st.syn_cookies_sent,
        st.syn_cookies_accepted,
        st.passive_opens,
        st.timeouts,
        st.attempt_fails,
        st.estab_resets
    );
    let drops: Vec<String> = st
        .drops()
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| format!("{} {n}", r.name()))
        .collect();
    println!("drops: {}", drops.join(", "));
    assert_eq!(
        w.peak_conns, MAX_CONNECTIONS,
        "the connection limit was reached"
    );
    assert_eq!(w.peak_half_open, SYN_BACKLOG as u64, "the SYN queue filled");
    assert_eq!(w.peak_queued, BACKLOG as u64, "the accept queue filled");
    assert!(st.dropped(DropReason::TooManyConnections) > 0);
    assert!(st.dropped(DropReason::AcceptQueueFull) > 0);
    assert!(st.dropped(DropReason::BadSynCookie) > 0);
    assert!(st.syn_cookies_sent > 0 && st.syn_cookies_accepted > 0);
    w.assert_accounted();

    // The end: the application lets everything go, the flood goes on and fills the SYN
    // queue again, and a real client still gets in, through a SYN cookie.
    let held: Vec<ConnId> = w.held.keys().copied().collect();
    for c in held {
        w.held.remove(&c);
        w.server.abort(c);
        w.settle(now);
    }
    while let Some(c) = w.server.accept(w.listener) {
        w.accepted += 1;
        w.server.abort(c);
        w.settle(now);
    }
    for _ in 0..SYN_BACKLOG {
        let src = spoofed(&mut w.rng);
        let seq = w.rng.next_u32();
        let pkt = segment(
            src,
            server_addr(),
            TcpFlags::SYN,
            seq,
            0,
            TcpOptions::default(),
            &[],
        );
        w.feed(now, &pkt);
    }
    assert_eq!(w.queues().0, SYN_BACKLOG as u64, "the SYN queue is full");
    final_client(&mut w, now);
    w.assert_accounted();
    println!(
        "final client done; server: {} connections, {} packets in, {} dropped",
        w.server.connection_count(),
        w.server.stats().packets_in,
        w.server.stats().dropped_total()
    );
}

/// A sanstcp client connects while the SYN queue is full of spoofed half-open connections,
/// and exchanges 20,000 bytes each way with the server, byte-exact.
fn final_client(w: &mut World, start: Instant) {
    let addr: IpAddr = "10.32.0.1".parse().unwrap();
    w.legit_addr = Some(addr);
    let mut client = Stack::new(StackConfig::new(vec![addr], [0x22; 16], 22)).unwrap();
    let c = client
        .connect(start, server_addr(), ConnectOptions::default())
        .unwrap();
    let cookies = w.server.stats().syn_cookies_sent;
    let accepted_by_cookie = w.server.stats().syn_cookies_accepted;
    let mut to_client = Sender::new(20_000, 1);
    let mut at_client = Receiver::new(1);
    let mut to_server = Sender::new(20_000, 2);
    let mut at_server = Receiver::new(2);
    let mut server_conn: Option<ConnId> = None;
    let mut now = start;
    let mut buf = vec![0u8; 65536];
    let mut finished = false;
    for _ in 0..100_000 {
        // The applications on both ends.
        if server_conn.is_none() {
            server_conn = w.server.accept(w.listener);
            if let Some(s) = server_conn {
                w.accepted += 1;
                w.held.insert(s, Instant::MAX);
                w.manual = Some(s);
                w.settle(now);
            }
        }
        if client.info(c).is_some_and(|i| i.state != TcpState::SynSent) {
            to_server.pump(&mut client, c).expect("client send");
            at_client.pump(&mut client, c).expect("client recv");
        }
        if let Some(s) = server_conn {
            to_client.pump(&mut w.server, s).expect("server send");
            at_server.pump(&mut w.server, s).expect("server recv");
            w.settle(now);
        }
        while let Some(ev) = client.poll_event() {
            if let Event::Closed { reason, .. } = ev {
                assert_eq!(reason, CloseReason::Normal, "final client closed");
            }
        }
        if at_server.eof && at_client.eof && to_client.shut && to_server.shut {
            finished = true;
            break;
        }
        // The packets, both ways, at this instant; time moves on once nothing is left.
        let mut moved = false;
        while let Some(tx) = client.poll_transmit(now, &mut buf) {
            moved = true;
            let pkt = buf[..tx.len].to_vec();
            let r = w.feed(now, &pkt);
            assert!(
                !matches!(r, Input::Dropped(DropReason::TooManyConnections)),
                "no room for the final client"
            );
        }
        for pkt in std::mem::take(&mut w.to_legit) {
            moved = true;
            client.handle_packet(now, &pkt);
        }
        if moved {
            continue;
        }
        let next = [client.poll_timeout(), w.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .expect("something pending while the exchange is not finished");
        now = now.max(next);
        client.handle_timeout(now);
        w.timers(now);
    }
    assert!(finished, "the final exchange did not finish by {now}");
    assert_eq!(at_server.received, 20_000);
    assert_eq!(at_client.received, 20_000);
    assert!(at_server.eof && at_client.eof);
    assert!(
        w.server.stats().syn_cookies_sent > cookies,
        "the final client got a SYN cookie"
    );
    assert_eq!(
        w.server.stats().syn_cookies_accepted,
        accepted_by_cookie + 1,
        "its connection was rebuilt from the cookie"
    );
    let s = server_conn.expect("accepted");
    w.held.remove(&s);
    w.manual = None;
    // Both sides closed; the server's end may still be finishing (CLOSING, TIME-WAIT).
    w.orphans = w
        .server
        .info(s)
        .map_or(0, |i| u64::from(i.state != TcpState::Closed));
    w.server.close(s);
    w.settle(now);
}

// ---- blind attacks on an established connection -------------------------------------------

/// What a blind attacker sends in one try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blind {
    /// RST (or RST-ACK) with a sequence number inside the window, never RCV.NXT.
    Rst,
    /// SYN with a sequence number inside the window.
    Syn,
    /// Data inside the window with an acknowledgement for data never sent.
    DataAckAhead,
    /// Data inside the window with an acknowledgement from long ago.
    DataAckOld,
}

/// Counts per stack: injections by kind and what the stack returned for them.
#[derive(Default, Debug)]
struct Tally {
    rst: u64,
    syn: u64,
    ahead: u64,
    old: u64,
    returned: HashMap<Input, u64>,
}

/// A blind segment for the connection `c` of `s`, as if from its peer.
fn blind_segment(rng: &mut Rng, s: &Stack, c: ConnId, kind: Blind) -> Vec<u8> {
    let info = s.info(c).expect("connection alive");
    assert_eq!(info.state, TcpState::Established, "connection survives");
    assert!(info.rcv_wnd >= 2, "a window to aim into");
    let in_window_not_next = info
        .rcv_nxt
        .wrapping_add(1 + rng.gen_range(u64::from(info.rcv_wnd - 1)) as u32);
    let in_window = info
        .rcv_nxt
        .wrapping_add(rng.gen_range(u64::from(info.rcv_wnd)) as u32);
    let payload = [0xeeu8; 64];
    let (flags, seq, ack, data): (TcpFlags, u32, u32, &[u8]) = match kind {
        Blind::Rst => {
            if rng.gen_bool(0.5) {
                (TcpFlags::RST, in_window_not_next, 0, &[])
            } else {
                (
                    TcpFlags::RST | TcpFlags::ACK,
                    in_window_not_next,
                    rng.next_u32(),
                    &[],
                )
            }
        }
        Blind::Syn => (TcpFlags::SYN, in_window, 0, &[]),
        Blind::DataAckAhead => {
            let ahead = (1 << 20) + rng.gen_range(1 << 29) as u32;
            (
                TcpFlags::ACK | TcpFlags::PSH,
                in_window,
                info.snd_nxt.wrapping_add(ahead),
                &payload,
            )
        }
        Blind::DataAckOld => {
            let back = (1 << 30) + rng.gen_range(1 << 29) as u32;
            (
                TcpFlags::ACK | TcpFlags::PSH,
                in_window,
                info.snd_una.wrapping_sub(back),
                &payload,
            )
        }
    };
    segment(
        info.remote,
        info.local,
        flags,
        seq,
        ack,
        TcpOptions::default(),
        data,
    )
}

fn inject(rng: &mut Rng, s: &mut Stack, c: ConnId, now: Instant, kind: Blind, tally: &mut Tally) {
    let pkt = blind_segment(rng, s, c, kind);
    let r = s.handle_packet(now, &pkt);
    let expected = match kind {
        Blind::Rst => {
            tally.rst += 1;
            DropReason::RstInWindow
        }
        Blind::Syn => {
            tally.syn += 1;
            DropReason::SynOnSynchronized
        }
        Blind::DataAckAhead => {
            tally.ahead += 1;
            DropReason::BadAck
        }
        Blind::DataAckOld => {
            tally.old += 1;
            DropReason::BadAck
        }
    };
    assert_eq!(r, Input::Dropped(expected), "{kind:?} at {now}");
    *tally.returned.entry(r).or_default() += 1;
    assert_eq!(
        s.info(c).map(|i| i.state),
        Some(TcpState::Established),
        "{kind:?} must not end the connection"
    );
}

#[test]
fn blind_rsts_and_syns_in_the_window_do_not_kill_a_connection() {
    let mut p = Pair::ideal(0xb11d);
    let (_l, ca, cb) = p.connect(ConnectOptions::default());
    let mut rng = Rng::new(0xb11d);
    // Both directions carry data during the attack, a little every 10 ms, so the windows move.
    let mut a_to_b = Sender::new(0, 101);
    let mut b_to_a = Sender::new(0, 202);
    a_to_b.shutdown_at_end = false;
    b_to_a.shutdown_at_end = false;
    let mut at_b = Receiver::new(101);
    let mut at_a = Receiver::new(202);
    let (mut ta, mut tb) = (Tally::default(), Tally::default());
    // Per stack: 10,000 RSTs, 2,000 SYNs, 1,000 data segments of each bad-ACK kind, in random
    // order, one on each end every 2 ms (28 s of virtual time).
    let mut kinds: Vec<Blind> = Vec::new();
    for (kind, n) in [
        (Blind::Rst, 10_000),
        (Blind::Syn, 2_000),
        (Blind::DataAckAhead, 1_000),
        (Blind::DataAckOld, 1_000),
    ] {
        kinds.resize(kinds.len() + n, kind);
    }
    for i in (1..kinds.len()).rev() {
        let j = rng.gen_range(i as u64 + 1) as usize;
        kinds.swap(i, j);
    }
    let start = p.now();
    for (k, kind) in kinds.iter().enumerate() {
        let t = start + Duration::from_millis(2 * k as u64 + 1);
        assert!(p.sim.advance_to(t));
        let now = p.now();
        inject(&mut rng, p.sa(), ca, now, *kind, &mut ta);
        inject(&mut rng, p.sb(), cb, now, *kind, &mut tb);
        if k % 5 == 0 {
            a_to_b.total += 1000;
            b_to_a.total += 1500;
            a_to_b.pump(p.sa(), ca).expect("A sends");
            b_to_a.pump(p.sb(), cb).expect("B sends");
            at_a.pump(p.sa(), ca).expect("A receives");
            at_b.pump(p.sb(), cb).expect("B receives");
        }
    }
    // Then a bulk transfer each way and a clean close, every byte checked.
    a_to_b.total += 1 << 20;
    b_to_a.total += 1 << 20;
    a_to_b.shutdown_at_end = true;
    b_to_a.shutdown_at_end = true;
    p.run(120, |p| {
        a_to_b.pump(p.sa(), ca).expect("A sends");
        b_to_a.pump(p.sb(), cb).expect("B sends");
        at_a.pump(p.sa(), ca).expect("A receives");
        at_b.pump(p.sb(), cb).expect("B receives");
        at_a.eof && at_b.eof
    });
    assert_eq!(at_b.received, a_to_b.total);
    assert_eq!(at_a.received, b_to_a.total);
    for (name, s, t) in [
        ("A", p.sa().stats().clone(), &ta),
        ("B", p.sb().stats().clone(), &tb),
    ] {
        println!(
            "{name}: {t:?}; challenge ACKs {} sent, {} suppressed; resets in {}",
            s.challenge_acks, s.challenge_acks_suppressed, s.resets_in
        );
        assert_eq!(s.dropped(DropReason::RstInWindow), t.rst);
        assert_eq!(s.dropped(DropReason::SynOnSynchronized), t.syn);
        assert!(s.dropped(DropReason::BadAck) >= t.ahead + t.old);
        // Every in-window RST, SYN and too-old ACK asks for a challenge ACK; the rate limits
        // decide how many go out.
        assert_eq!(
            s.challenge_acks + s.challenge_acks_suppressed,
            t.rst + t.syn + t.old
        );
        assert!(s.challenge_acks >= 1000, "challenge ACKs were sent");
        assert_eq!(s.resets_in, 0);
        assert_eq!(s.estab_resets, 0);
    }
}
