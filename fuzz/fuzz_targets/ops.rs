//! Fuzz target `ops`: arbitrary application calls on two stacks joined by a fuzzer-driven wire.
//!
//! Stack A (10.0.0.1, fd00::1) and stack B (10.0.0.2, fd00::2) start empty. The input is a
//! 6-byte configuration block (per side: buffers, Nagle, delayed ACK, MTU, keep-alive,
//! timestamps, SACK, ECN, pacing, congestion control, SYN cookies) and then `[op][len u16][body]` records (see `sanstcp_fuzz::Records`), each body
//! decoded with `arbitrary`: listen, connect (ephemeral or fixed local port, so simultaneous
//! opens and 4-tuple reuse happen; per-connection buffer sizes down to one byte), accept, send,
//! recv, shutdown, close, abort, set_nodelay, set_keepalive, close_listener, time steps and
//! jumps to the next deadline, delivering / dropping / duplicating / reordering packets on the
//! wire, and calls with made-up (stale) connection and listener ids. Each side's data is a
//! test pattern unique to the connection; the end of the input is followed by a settling phase
//! (ideal wire, everything read, time advanced to each deadline).
//!
//! Checked after every op: no panic; every packet out parses back with valid checksums;
//! every data byte a stack sends lies at the right stream offset of what its application
//! queued; what each application reads is byte-exact the prefix of what the peer connection's
//! application sent (the peer found by 4-tuple and ISN), and end of stream comes only after all
//! of it (a FIN is never early) and only after `PeerClosed` or a normal close; per-connection
//! invariants through `info()` (SND.UNA ≤ SND.NXT ≤ SND.MAX, windows within the buffers, ...);
//! an id the application holds answers `info()` with its own 4-tuple, a released or made-up id
//! answers every call with "invalid connection"; fatal outcomes are sticky (`send` returns the
//! error of the `Closed` reason) and reported once; the `Stats` counters agree with the
//! packets in and out; `poll_timeout` is never left in the past. After settling, every
//! connection pair where neither end failed nor was released has delivered all its bytes.
#![no_main]

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sanstcp::{
    CloseReason, ConnId, ConnectOptions, Event, Instant, ListenOptions, ListenerId, RecvError,
    SendError, StackConfig, StateError, TcpState,
};
use sanstcp_fuzz::{
    apply_algorithms, apply_features, check_info, decode, pattern_bytes, summary, trace, Limits,
    Records, SentSegment, Tracker,
};

const ADDR4: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];
const ADDR6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1),
    Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2),
];
const PORTS: [u16; 4] = [80, 81, 443, 5000];
const LOCAL_PORTS: [u16; 4] = [0, 5000, 80, 6000];
const SEND_BUFFERS: [Option<usize>; 4] = [None, Some(1), Some(10), Some(3000)];
const RECV_BUFFERS: [Option<usize>; 5] = [None, Some(1), Some(100), Some(5000), Some(70_000)];
const WIRE_LIMIT: usize = 1024;
const MAX_SEND: usize = 8192;

/// The configuration block at the start of the input; each byte but `extra` holds one
/// nibble per side.
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

#[derive(Arbitrary, Debug)]
struct ListenSpec {
    side: bool,
    addr: u8,
    port: u8,
    backlog: u8,
    syn_backlog: u8,
}

#[derive(Arbitrary, Debug)]
struct ConnectSpec {
    side: bool,
    v6: bool,
    port: u8,
    local_port: u8,
    nodelay: bool,
    send_buffer: u8,
    recv_buffer: u8,
}

#[derive(Arbitrary, Debug)]
struct ConnSpec {
    conn: u8,
    len: u16,
    flag: u8,
}

#[derive(Arbitrary, Debug)]
struct TimeSpec {
    ms: u16,
    jump: bool,
}

#[derive(Arbitrary, Debug)]
struct WireSpec {
    dir: bool,
    n: u8,
}

#[derive(Arbitrary, Debug)]
struct StaleSpec {
    side: bool,
    raw: u64,
    what: u8,
}

/// (local, remote) of one end of a connection.
type Tuple = (SocketAddr, SocketAddr);

/// One connection an application got from `connect` or `accept`.
struct Conn {
    side: usize,
    id: ConnId,
    local: SocketAddr,
    remote: SocketAddr,
    iss: u32,
    limits: Limits,
    /// Released with close/abort: the id must be stale.
    released: bool,
    /// The reason of its `Closed` event.
    closed: Option<CloseReason>,
    /// A `PeerClosed` event came.
    peer_closed: bool,
    /// Bytes read.
    received: u64,
    /// End of stream read.
    eof: bool,
    /// Pattern stream of the bytes it sends.
    stream: u64,
}

struct World {
    now: Instant,
    stacks: [Tracker; 2],
    cfgs: [StackConfig; 2],
    /// Packets from side 0 to side 1, and from side 1 to side 0.
    wire: [VecDeque<Vec<u8>>; 2],
    listeners: Vec<(usize, ListenerId, bool)>,
    conns: Vec<Conn>,
    /// What each connection's application sent, by (local, remote) of the sender: (ISS, bytes).
    sent: HashMap<Tuple, Vec<(u32, Vec<u8>)>>,
}

fuzz_target!(|data: &[u8]| {
    let (setup_bytes, rest) = data.split_at(data.len().min(SETUP_LEN));
    let (setup, _) = decode::<Setup>(setup_bytes);
    let mut w = World::new(setup);
    for (op, body) in Records::new(rest) {
        w.op(op, body);
        w.settle();
    }
    w.finish();
});

fn config(side: usize, s: Setup) -> StackConfig {
    let mut cfg = StackConfig::new(
        vec![IpAddr::V4(ADDR4[side]), IpAddr::V6(ADDR6[side])],
        [side as u8 + 1; 16],
        side as u64 + 1,
    );
    cfg.mtu = [1500, 1280, 9000, 1400][usize::from(s.mtu >> (side * 2)) % 4];
    let b = s.buffers >> (side * 4);
    cfg.send_buffer = [256 * 1024, 4096, 1000, 100_000][usize::from(b & 3)];
    cfg.recv_buffer = [256 * 1024, 2048, 65_535, 700][usize::from((b >> 2) & 3)];
    let f = s.flags >> (side * 4);
    cfg.nagle = f & 1 == 0;
    if f & 2 != 0 {
        cfg.delayed_ack = Duration::ZERO;
    }
    if f & 4 != 0 {
        cfg.keepalive = Some(Duration::from_secs(30));
        cfg.keepalive_interval = Duration::from_secs(5);
        cfg.keepalive_probes = 3;
    }
    cfg.report_state_changes = f & 8 != 0;
    apply_features(&mut cfg, s.features >> (side * 4));
    apply_algorithms(&mut cfg, s.algorithms >> (side * 4));
    cfg.msl = Duration::from_secs(if s.extra & 1 != 0 { 1 } else { 10 });
    cfg.fin_wait_2_timeout = Duration::from_secs(30);
    cfg.max_connections = 8 + usize::from(s.extra >> 4);
    cfg.initial_window = 1 + u32::from((s.extra >> 1) & 7);
    cfg
}

fn reason_error(r: CloseReason) -> SendError {
    match r {
        CloseReason::Normal => SendError::Closed,
        CloseReason::Reset => SendError::Reset,
        CloseReason::TimedOut => SendError::TimedOut,
        CloseReason::Refused => SendError::Refused,
        CloseReason::Aborted => SendError::Aborted,
    }
}

fn recv_reason(e: RecvError) -> Option<CloseReason> {
    match e {
        RecvError::Reset => Some(CloseReason::Reset),
        RecvError::TimedOut => Some(CloseReason::TimedOut),
        RecvError::Refused => Some(CloseReason::Refused),
        RecvError::Aborted => Some(CloseReason::Aborted),
        _ => None,
    }
}

impl World {
    fn new(setup: Setup) -> World {
        let cfgs = [config(0, setup), config(1, setup)];
        World {
            now: Instant::from_secs(1),
            stacks: [Tracker::new(cfgs[0].clone()), Tracker::new(cfgs[1].clone())],
            cfgs,
            wire: [VecDeque::new(), VecDeque::new()],
            listeners: Vec::new(),
            conns: Vec::new(),
            sent: HashMap::new(),
        }
    }

    fn op(&mut self, op: u8, body: &[u8]) {
        trace!("{} op {} body {:02x?}", self.now, op % 17, body);
        match op % 17 {
            0 => self.listen(decode::<ListenSpec>(body).0),
            1 => self.connect(decode::<ConnectSpec>(body).0),
            2 => {
                let (s, _) = decode::<ConnSpec>(body);
                self.accept(usize::from(s.conn));
            }
            3 => self.send(decode::<ConnSpec>(body).0),
            4 => {
                let (s, _) = decode::<ConnSpec>(body);
                if let Some(i) = self.pick(s.conn) {
                    self.recv(i, usize::from(s.len).max(1));
                }
            }
            5..=9 => {
                let (s, _) = decode::<ConnSpec>(body);
                if let Some(i) = self.pick(s.conn) {
                    self.call(i, op % 17, s.flag);
                }
            }
            10 => {
                let (s, _) = decode::<ConnSpec>(body);
                self.close_listener(usize::from(s.conn));
            }
            11 => self.advance(decode::<TimeSpec>(body).0),
            12 => {
                let (s, _) = decode::<WireSpec>(body);
                self.deliver(usize::from(s.dir), usize::from(s.n) + 1);
            }
            13 => {
                let (s, _) = decode::<WireSpec>(body);
                let q = &mut self.wire[usize::from(s.dir)];
                for _ in 0..=(s.n % 4) {
                    q.pop_front();
                }
            }
            14 => {
                let (s, _) = decode::<WireSpec>(body);
                let q = &mut self.wire[usize::from(s.dir)];
                if s.n & 1 == 0 {
                    if let Some(p) = q.front().cloned() {
                        q.push_back(p);
                    }
                } else if q.len() >= 2 {
                    let k = 1 + usize::from(s.n >> 1) % (q.len() - 1);
                    q.swap(0, k);
                }
            }
            15 => self.stale(decode::<StaleSpec>(body).0),
            _ => self.exchange(),
        }
    }

    fn pick(&self, i: u8) -> Option<usize> {
        if self.conns.is_empty() {
            None
        } else {
            Some(usize::from(i) % self.conns.len())
        }
    }

    // ---- API calls ------------------------------------------------------------------------------

    fn listen(&mut self, s: ListenSpec) {
        let side = usize::from(s.side);
        let ip = match s.addr % 5 {
            0 => IpAddr::V4(ADDR4[side]),
            1 => IpAddr::V6(ADDR6[side]),
            2 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            3 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => IpAddr::V4(ADDR4[1 - side]),
        };
        let local = SocketAddr::new(ip, PORTS[usize::from(s.port) % 4]);
        let opts = ListenOptions {
            backlog: usize::from(s.backlog % 8),
            syn_backlog: usize::from(s.syn_backlog % 8),
        };
        if let Ok(id) = self.stacks[side].stack.listen(local, opts) {
            assert!(
                opts.backlog > 0 && opts.syn_backlog > 0,
                "listen accepted a zero backlog"
            );
            assert!(
                !self
                    .listeners
                    .iter()
                    .any(|l| l.0 == side && l.1 == id && l.2),
                "listener id reused while live"
            );
            self.listeners.push((side, id, true));
        }
    }

    fn connect(&mut self, s: ConnectSpec) {
        let side = usize::from(s.side);
        let peer = 1 - side;
        let remote_ip = if s.v6 {
            IpAddr::V6(ADDR6[peer])
        } else {
            IpAddr::V4(ADDR4[peer])
        };
        let remote = SocketAddr::new(remote_ip, PORTS[usize::from(s.port) % 4]);
        let lport = LOCAL_PORTS[usize::from(s.local_port) % 4];
        let local = (lport != 0).then(|| {
            let ip = if s.v6 {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            };
            SocketAddr::new(ip, lport)
        });
        let opts = ConnectOptions {
            local,
            nodelay: s.nodelay,
            send_buffer: SEND_BUFFERS[usize::from(s.send_buffer) % 4],
            recv_buffer: RECV_BUFFERS[usize::from(s.recv_buffer) % 5],
        };
        let r = self.stacks[side].stack.connect(self.now, remote, opts);
        trace!("connect side {side} to {remote} {opts:?}: {r:?}");
        let Ok(id) = r else {
            return;
        };
        let info = self.stacks[side]
            .stack
            .info(id)
            .expect("new connection has info");
        assert_eq!(info.remote, remote);
        // Old packets of an earlier connection on this 4-tuple would, in a real network, have
        // died out before the tuple came back (the assumption behind TIME-WAIT and ISNs): take
        // them off the wire.
        let tuple = (info.local, info.remote);
        for q in &mut self.wire {
            q.retain(|p| !on_tuple(p, tuple));
        }
        let limits = Limits {
            send_buffer: opts.send_buffer.unwrap_or(self.cfgs[side].send_buffer),
            recv_buffer: opts.recv_buffer.unwrap_or(self.cfgs[side].recv_buffer),
        };
        self.add_conn(side, id, limits);
    }

    fn add_conn(&mut self, side: usize, id: ConnId, limits: Limits) {
        let info = self.stacks[side]
            .stack
            .info(id)
            .expect("connection has info");
        assert!(
            !self
                .conns
                .iter()
                .any(|c| c.side == side && c.id == id && !c.released),
            "an id handed out twice"
        );
        self.sent
            .entry((info.local, info.remote))
            .or_default()
            .push((info.iss, Vec::new()));
        let stream = self.conns.len() as u64 + 1;
        self.conns.push(Conn {
            side,
            id,
            local: info.local,
            remote: info.remote,
            iss: info.iss,
            limits,
            released: false,
            closed: None,
            peer_closed: false,
            received: 0,
            eof: false,
            stream,
        });
    }

    fn accept(&mut self, i: usize) {
        if self.listeners.is_empty() {
            return;
        }
        let (side, l, live) = self.listeners[i % self.listeners.len()];
        let got = self.stacks[side].stack.accept(l);
        if !live {
            assert!(
                got.is_none(),
                "accept on a closed listener returned a connection"
            );
        }
        trace!("accept side {side} {l:?}: {got:?}");
        if let Some(id) = got {
            let limits = Limits {
                send_buffer: self.cfgs[side].send_buffer,
                recv_buffer: self.cfgs[side].recv_buffer,
            };
            self.add_conn(side, id, limits);
        }
    }

    fn send(&mut self, s: ConnSpec) {
        let Some(i) = self.pick(s.conn) else { return };
        let c = &self.conns[i];
        let key = (c.local, c.remote);
        let log_len = self.log(key, c.iss).len() as u64;
        let len = usize::from(s.len) % (MAX_SEND + 1);
        let data = pattern_bytes(c.stream, log_len, len);
        let r = self.stacks[c.side].stack.send(c.id, &data);
        trace!("send conn {i} len {len}: {r:?}");
        let c = &self.conns[i];
        if c.released {
            assert_eq!(
                r,
                Err(SendError::InvalidConnection),
                "send on a released id"
            );
            return;
        }
        if let Some(reason) = c.closed {
            assert_eq!(
                r,
                Err(reason_error(reason)),
                "fatal outcome not sticky on send"
            );
            return;
        }
        match r {
            Ok(n) => {
                assert!(n <= len && (n > 0 || len == 0), "send took {n} of {len}");
                self.stacks[c.side].app_sent += n as u64;
                let iss = c.iss;
                self.log_mut(key, iss).extend_from_slice(&data[..n]);
            }
            Err(SendError::WouldBlock) => assert!(len > 0, "WouldBlock for an empty send"),
            Err(SendError::Closed) => {}
            Err(e) => panic!("send failed with {e:?} on a connection that did not close"),
        }
    }

    fn recv(&mut self, i: usize, max: usize) {
        let (side, id) = (self.conns[i].side, self.conns[i].id);
        let mut buf = vec![0u8; max];
        let r = self.stacks[side].stack.recv(id, &mut buf);
        trace!("recv conn {i} (side {side}, {:?}) max {max}: {:?}", id, r);
        let c = &self.conns[i];
        if c.released {
            assert_eq!(
                r,
                Err(RecvError::InvalidConnection),
                "recv on a released id"
            );
            return;
        }
        match r {
            Ok(0) => {
                let info = self.stacks[side].stack.info(id).expect("held");
                let fin_state = matches!(
                    info.state,
                    TcpState::CloseWait
                        | TcpState::LastAck
                        | TcpState::Closing
                        | TcpState::TimeWait
                );
                assert!(
                    c.peer_closed || fin_state || c.closed == Some(CloseReason::Normal),
                    "end of stream without a FIN or a normal close"
                );
                let complete = {
                    let mut logs = self.peer_logs(c, info.irs).peekable();
                    logs.peek().is_none() || logs.any(|l| l.len() as u64 == c.received)
                };
                assert!(complete, "end of stream before all the peer's bytes");
                self.conns[i].eof = true;
            }
            Ok(n) => {
                assert!(!c.eof, "data after end of stream");
                let info = self.stacks[side].stack.info(id).expect("held");
                let from = c.received as usize;
                // Any connection at the other end of the 4-tuple with that ISS: with SYN cookies
                // a duplicate handshake ACK can rightly reopen a closed connection just like it.
                let ok = self
                    .peer_logs(c, info.irs)
                    .any(|l| l.get(from..from + n) == Some(&buf[..n]));
                assert!(
                    ok,
                    "received bytes differ from those sent, at offset {from}"
                );
                self.stacks[side].app_received += n as u64;
                self.conns[i].received += n as u64;
            }
            Err(RecvError::WouldBlock | RecvError::NotConnected) => {}
            Err(RecvError::InvalidConnection) => panic!("recv: a held id is invalid"),
            Err(e) => assert_eq!(
                recv_reason(e),
                c.closed,
                "recv error {e:?} without a matching Closed event"
            ),
        }
    }

    fn call(&mut self, i: usize, op: u8, flag: u8) {
        let (side, id, released) = (self.conns[i].side, self.conns[i].id, self.conns[i].released);
        let st = &mut self.stacks[side].stack;
        match op {
            5 => {
                let r = st.shutdown(id);
                if released {
                    assert_eq!(
                        r,
                        Err(StateError::InvalidConnection),
                        "shutdown on a released id"
                    );
                } else if self.conns[i]
                    .closed
                    .is_some_and(|r| r != CloseReason::Normal)
                {
                    assert_eq!(r, Err(StateError::Failed), "shutdown after a fatal close");
                } else {
                    assert_ne!(
                        r,
                        Err(StateError::InvalidConnection),
                        "shutdown: a held id is invalid"
                    );
                }
            }
            6 | 7 => {
                if op == 6 {
                    st.close(id);
                } else {
                    st.abort(id);
                }
                assert!(st.info(id).is_none(), "a released id still answers info()");
                self.conns[i].released = true;
            }
            8 => {
                let r = st.set_nodelay(id, flag & 1 != 0);
                assert_eq!(r.is_err(), released, "set_nodelay validity");
            }
            _ => {
                let idle = (flag != 0).then(|| Duration::from_secs(u64::from(flag % 16)));
                let r = st.set_keepalive(id, idle);
                assert_eq!(r.is_err(), released, "set_keepalive validity");
            }
        }
    }

    fn close_listener(&mut self, i: usize) {
        if self.listeners.is_empty() {
            return;
        }
        let i = i % self.listeners.len();
        let (side, l, live) = self.listeners[i];
        let r = self.stacks[side].stack.close_listener(l);
        assert_eq!(
            r,
            live,
            "close_listener on a {} listener",
            if live { "live" } else { "closed" }
        );
        self.listeners[i].2 = false;
    }

    fn stale(&mut self, s: StaleSpec) {
        let side = usize::from(s.side);
        let id = ConnId::from_raw(s.raw);
        let held = self
            .conns
            .iter()
            .any(|c| c.side == side && c.id == id && !c.released);
        let st = &mut self.stacks[side].stack;
        if !held {
            assert!(st.info(id).is_none(), "a made-up id answers info()");
            match s.what % 6 {
                0 => assert_eq!(st.send(id, b"x"), Err(SendError::InvalidConnection)),
                1 => assert_eq!(
                    st.recv(id, &mut [0u8; 4]),
                    Err(RecvError::InvalidConnection)
                ),
                2 => assert_eq!(st.shutdown(id), Err(StateError::InvalidConnection)),
                3 => st.close(id),
                4 => st.abort(id),
                _ => assert!(st.set_nodelay(id, true).is_err()),
            }
        }
        let l = ListenerId::from_raw(s.raw);
        let live = self
            .listeners
            .iter()
            .any(|x| x.0 == side && x.1 == l && x.2);
        if !live {
            assert!(st.accept(l).is_none(), "accept on a made-up listener id");
            assert!(!st.close_listener(l), "close_listener on a made-up id");
        }
    }

    fn advance(&mut self, s: TimeSpec) {
        let next = self
            .stacks
            .iter()
            .filter_map(|t| t.stack.poll_timeout())
            .min();
        self.now = match next {
            Some(t) if s.jump => self.now.max(t),
            _ => self.now + Duration::from_millis(u64::from(s.ms)),
        };
        for t in &mut self.stacks {
            t.timeout(self.now);
        }
    }

    fn deliver(&mut self, dir: usize, n: usize) {
        for _ in 0..n {
            let Some(p) = self.wire[dir].pop_front() else {
                break;
            };
            let r = self.stacks[1 - dir].feed(self.now, &p);
            trace!("{} {} -> {}: {r:?}", self.now, dir, summary(&p));
        }
    }

    /// Ideal wire until nothing moves (bounded).
    fn exchange(&mut self) {
        for _ in 0..64 {
            self.pump();
            if self.wire.iter().all(VecDeque::is_empty) {
                break;
            }
            self.deliver(0, usize::MAX);
            self.deliver(1, usize::MAX);
        }
    }

    // ---- bookkeeping ----------------------------------------------------------------------------

    fn log(&self, key: (SocketAddr, SocketAddr), iss: u32) -> &Vec<u8> {
        let v = self.sent.get(&key).expect("send log");
        &v.iter().rev().find(|(i, _)| *i == iss).expect("send log").1
    }

    fn log_mut(&mut self, key: (SocketAddr, SocketAddr), iss: u32) -> &mut Vec<u8> {
        let v = self.sent.get_mut(&key).expect("send log");
        &mut v
            .iter_mut()
            .rev()
            .find(|(i, _)| *i == iss)
            .expect("send log")
            .1
    }

    /// What the peers of `c` sent: the connections at the other end of the 4-tuple whose ISS
    /// is `c`'s IRS.
    fn peer_logs<'a>(&'a self, c: &Conn, irs: u32) -> impl Iterator<Item = &'a Vec<u8>> + 'a {
        self.sent
            .get(&(c.remote, c.local))
            .into_iter()
            .flatten()
            .filter(move |(i, _)| *i == irs)
            .map(|(_, d)| d)
    }

    /// Every data byte a stack sends is at the right offset of what its application queued.
    fn check_segment(&self, seg: &SentSegment) {
        if seg.payload.is_empty() {
            return;
        }
        let ok = self.sent.get(&(seg.local, seg.remote)).is_some_and(|logs| {
            logs.iter().any(|(iss, data)| {
                let off = seg.seq.wrapping_sub(iss.wrapping_add(1)) as usize;
                data.get(off..off + seg.payload.len()) == Some(&seg.payload[..])
            })
        });
        assert!(
            ok,
            "a stack sent bytes its application never queued there: {seg:?}; logs {:?}",
            self.sent.get(&(seg.local, seg.remote)).map(|l| l
                .iter()
                .map(|(i, d)| (*i, d.len(), d.get(..8).map(<[u8]>::to_vec)))
                .collect::<Vec<_>>())
        );
    }

    /// Moves what both stacks have to send onto the wire.
    fn pump(&mut self) {
        for side in 0..2 {
            let now = self.now;
            let mut out = Vec::new();
            self.stacks[side].drain(now, |p, seg| out.push((p.to_vec(), seg)));
            for (p, seg) in out {
                trace!("{} {} emits {}", now, side, summary(&p));
                if let Some(seg) = seg {
                    self.check_segment(&seg);
                }
                let q = &mut self.wire[side];
                if q.len() == WIRE_LIMIT {
                    q.pop_front();
                }
                q.push_back(p);
            }
        }
    }

    fn events(&mut self) {
        for side in 0..2 {
            while let Some(e) = self.stacks[side].stack.poll_event() {
                match e {
                    Event::Closed { conn, reason } => {
                        if let Some(c) = self.find(side, conn) {
                            assert!(
                                self.conns[c].closed.is_none(),
                                "two Closed events for one connection"
                            );
                            self.conns[c].closed = Some(reason);
                        }
                    }
                    Event::PeerClosed { conn } => {
                        if let Some(c) = self.find(side, conn) {
                            self.conns[c].peer_closed = true;
                        }
                    }
                    Event::Incoming { listener } => {
                        assert!(
                            self.listeners
                                .iter()
                                .any(|l| l.0 == side && l.1 == listener),
                            "Incoming for a listener never opened"
                        );
                    }
                    _ => {}
                }
            }
        }
    }

    /// The latest connection of `side` with `id`.
    fn find(&self, side: usize, id: ConnId) -> Option<usize> {
        self.conns
            .iter()
            .rposition(|c| c.side == side && c.id == id)
    }

    fn settle(&mut self) {
        self.pump();
        self.events();
        for c in &self.conns {
            let st = &self.stacks[c.side].stack;
            if c.released {
                continue;
            }
            let info = st.info(c.id).expect("a held id answers info()");
            assert_eq!(
                (info.local, info.remote, info.iss),
                (c.local, c.remote, c.iss),
                "an id reached another connection"
            );
            check_info(&info, &self.cfgs[c.side], c.limits);
        }
        // Fatal outcomes are sticky; held connections never turn invalid.
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            if c.released {
                continue;
            }
            let r = self.stacks[c.side].stack.send(c.id, &[]);
            match c.closed {
                Some(reason) => assert_eq!(r, Err(reason_error(reason)), "sticky error"),
                None => assert!(
                    matches!(r, Ok(0) | Err(SendError::Closed)),
                    "empty send on a live connection: {r:?}"
                ),
            }
        }
        for t in &self.stacks {
            t.check_stats();
        }
    }

    /// Ideal wire, everything read, time moved to each deadline; then every pair of
    /// connections that neither failed nor was released has moved all its bytes.
    fn finish(&mut self) {
        let limit = self.now + Duration::from_secs(600);
        let mut last_progress = (self.now, 0u64);
        let mut quiet = false;
        for _ in 0..5000 {
            self.exchange();
            self.events();
            for i in 0..self.conns.len() {
                if !self.conns[i].released {
                    for _ in 0..64 {
                        let before = self.conns[i].received;
                        self.recv(i, 65536);
                        if self.conns[i].received == before {
                            break;
                        }
                    }
                }
            }
            self.settle();
            let total: u64 = self.conns.iter().map(|c| c.received).sum();
            if total > last_progress.1 {
                last_progress = (self.now, total);
            }
            let next = self
                .stacks
                .iter()
                .filter_map(|t| t.stack.poll_timeout())
                .min();
            match next {
                Some(t) if t <= limit => {
                    self.now = self.now.max(t);
                    for t in &mut self.stacks {
                        t.timeout(self.now);
                    }
                }
                Some(_) => break,
                None => {
                    quiet = true;
                    break;
                }
            }
        }
        // Judge only a run that went quiet, or one that stopped moving bytes for two minutes
        // (RTO and persist intervals are at most one): a one-byte window may just be slow.
        if !quiet && self.now.saturating_duration_since(last_progress.0) < Duration::from_secs(120)
        {
            return;
        }
        self.exchange();
        self.settle();
        for c in &self.conns {
            if c.released || c.closed.is_some() {
                continue;
            }
            let Some(info) = self.stacks[c.side].stack.info(c.id) else {
                continue;
            };
            if !info.state.is_synchronized() {
                continue;
            }
            let peer = self.conns.iter().rev().find(|p| {
                p.side != c.side && p.local == c.remote && p.remote == c.local && p.iss == info.irs
            });
            let Some(peer) = peer else { continue };
            if peer.released || peer.closed.is_some() {
                continue;
            }
            let sent = self.log((peer.local, peer.remote), peer.iss).len() as u64;
            assert_eq!(
                c.received, sent,
                "bytes lost on a live connection: {info:#?}"
            );
        }
    }
}

/// Whether an IP packet belongs to the 4-tuple (either direction).
fn on_tuple(p: &[u8], (a, b): (SocketAddr, SocketAddr)) -> bool {
    let Ok((ip, payload)) = sanstcp::wire::IpRepr::parse(p) else {
        return false;
    };
    if payload.len() < 4 || ip.protocol != sanstcp::wire::ip_protocol::TCP {
        return false;
    }
    let sp = u16::from_be_bytes([payload[0], payload[1]]);
    let dp = u16::from_be_bytes([payload[2], payload[3]]);
    let (s, d) = (
        SocketAddr::new(ip.src_addr, sp),
        SocketAddr::new(ip.dst_addr, dp),
    );
    (s, d) == (a, b) || (s, d) == (b, a)
}
