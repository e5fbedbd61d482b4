//! In-memory bulk transfer: two stacks in one process, packets handed from one to the other
//! in memory (no simulator, no link model), MTU 1500, checksums computed and verified on both
//! sides, 256 KiB send and receive buffers. sanstcp↔sanstcp and smoltcp↔smoltcp run the same
//! loop, and a memcpy plus Internet checksum over the same bytes is the physical reference.
//!
//! Time is the wall clock: `now` is read once per loop turn and passed to both stacks, as a
//! real event loop would. Every received byte is compared with what was sent.
//!
//! `INMEM_BYTES` (bytes, optional K/M/G suffix) shrinks the transfer (default 1 GiB);
//! `INMEM_ROUNDS` sets how many times each measurement runs (default 5; the best counts).

#[allow(dead_code)]
mod common;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant as WallInstant};

use common::smoltcp_node::SmoltcpNode;
use common::Pattern;
use sanstcp::sim::Node;
use sanstcp::wire::checksum;
use sanstcp::{
    ConnId, ConnectOptions, Instant, ListenOptions, ListenerId, RecvError, SendError, Stack,
    StackConfig, TcpState,
};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;

const MTU: usize = 1500;
const BUFFER: usize = 256 * 1024;
/// Wall-clock limit of one transfer; past it the run counts as failed.
const WALL_LIMIT: Duration = Duration::from_secs(300);
/// Most packets moved in one direction in one loop turn (a guard, never reached normally).
const MAX_BURST: usize = 1 << 16;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 5001;

/// Two endpoints joined in memory: A sends, B receives.
trait Ends {
    type N: Node;
    fn name(&self) -> &'static str;
    fn nodes(&mut self) -> (&mut Self::N, &mut Self::N);
    /// Whether both ends are established (accepting on B as needed).
    fn established(&mut self) -> bool;
    /// Queues data on A; `Ok(0)` when the buffer is full.
    fn send(&mut self, data: &[u8]) -> Result<usize, String>;
    /// Reads on B; `Ok(0)` when nothing is there now.
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, String>;
    /// A one-line account of retransmissions and the like, for the table.
    fn notes(&self) -> String;
}

struct Sans {
    a: Stack,
    b: Stack,
    listener: ListenerId,
    ca: ConnId,
    cb: Option<ConnId>,
}

fn sans_config(addr: Ipv4Addr, seed: u64) -> StackConfig {
    let mut c = StackConfig::new(vec![IpAddr::V4(addr)], [seed as u8; 16], seed);
    c.mtu = MTU;
    c.send_buffer = BUFFER;
    c.recv_buffer = BUFFER;
    c.verify_checksums = true;
    c
}

impl Sans {
    fn new(now: Instant) -> Sans {
        let mut a = Stack::new(sans_config(A, 1)).expect("config");
        let mut b = Stack::new(sans_config(B, 2)).expect("config");
        let server = SocketAddr::new(IpAddr::V4(B), PORT);
        let listener = b.listen(server, ListenOptions::default()).expect("listen");
        let opts = ConnectOptions {
            send_buffer: Some(BUFFER),
            recv_buffer: Some(BUFFER),
            ..ConnectOptions::default()
        };
        let ca = a.connect(now, server, opts).expect("connect");
        Sans {
            a,
            b,
            listener,
            ca,
            cb: None,
        }
    }
}

fn drain_events(s: &mut Stack) {
    for _ in 0..1_000_000 {
        if s.poll_event().is_none() {
            break;
        }
    }
}

impl Ends for Sans {
    type N = Stack;
    fn name(&self) -> &'static str {
        "sanstcp"
    }
    fn nodes(&mut self) -> (&mut Stack, &mut Stack) {
        (&mut self.a, &mut self.b)
    }
    fn established(&mut self) -> bool {
        drain_events(&mut self.a);
        drain_events(&mut self.b);
        if self.cb.is_none() {
            self.cb = self.b.accept(self.listener);
        }
        let est =
            |s: &Stack, c: ConnId| s.info(c).is_some_and(|i| i.state == TcpState::Established);
        self.cb.is_some_and(|cb| est(&self.b, cb)) && est(&self.a, self.ca)
    }
    fn send(&mut self, data: &[u8]) -> Result<usize, String> {
        drain_events(&mut self.a);
        match self.a.send(self.ca, data) {
            Ok(n) => Ok(n),
            Err(SendError::WouldBlock) => Ok(0),
            Err(e) => Err(format!("send: {e}")),
        }
    }
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, String> {
        drain_events(&mut self.b);
        let cb = self.cb.ok_or("not accepted")?;
        match self.b.recv(cb, buf) {
            Ok(0) => Err("unexpected end of stream".into()),
            Ok(n) => Ok(n),
            Err(RecvError::WouldBlock) => Ok(0),
            Err(e) => Err(format!("recv: {e}")),
        }
    }
    fn notes(&self) -> String {
        let (sa, sb) = (self.a.stats(), self.b.stats());
        format!(
            "rexmit {}, rto {}, drops {}",
            sa.retransmitted_segments,
            sa.rto_expirations,
            sa.dropped_total() + sb.dropped_total(),
        )
    }
}

struct Smol {
    a: SmoltcpNode,
    b: SmoltcpNode,
    ha: SocketHandle,
    hb: SocketHandle,
}

impl Smol {
    fn new() -> Smol {
        let cc = tcp::CongestionControl::Reno;
        let mut a = SmoltcpNode::new(A, 24, MTU, 1);
        let mut b = SmoltcpNode::new(B, 24, MTU, 2);
        let ha = a.add_tcp(BUFFER, BUFFER, cc);
        let hb = b.add_tcp(BUFFER, BUFFER, cc);
        b.listen(hb, PORT);
        a.connect(ha, SocketAddr::new(IpAddr::V4(B), PORT), 49152);
        Smol { a, b, ha, hb }
    }
}

impl Ends for Smol {
    type N = SmoltcpNode;
    fn name(&self) -> &'static str {
        "smoltcp"
    }
    fn nodes(&mut self) -> (&mut SmoltcpNode, &mut SmoltcpNode) {
        (&mut self.a, &mut self.b)
    }
    fn established(&mut self) -> bool {
        self.a.tcp_ref(self.ha).state() == tcp::State::Established
            && self.b.tcp_ref(self.hb).state() == tcp::State::Established
    }
    fn send(&mut self, data: &[u8]) -> Result<usize, String> {
        self.a
            .tcp(self.ha)
            .send_slice(data)
            .map_err(|e| format!("send: {e}"))
    }
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, String> {
        self.b
            .tcp(self.hb)
            .recv_slice(buf)
            .map_err(|e| format!("recv: {e}"))
    }
    fn notes(&self) -> String {
        format!("stuck polls {}+{}", self.a.stuck_polls, self.b.stuck_polls)
    }
}

/// Moves everything each side has to send to the other, once each way. Returns the packets
/// moved A→B and B→A.
fn exchange<N: Node>(a: &mut N, b: &mut N, now: Instant, buf: &mut [u8]) -> (u64, u64) {
    let mut ab = 0;
    for _ in 0..MAX_BURST {
        let Some(n) = a.poll_transmit(now, buf) else {
            break;
        };
        b.handle_packet(now, &buf[..n]);
        ab += 1;
    }
    let mut ba = 0;
    for _ in 0..MAX_BURST {
        let Some(n) = b.poll_transmit(now, buf) else {
            break;
        };
        a.handle_packet(now, &buf[..n]);
        ba += 1;
    }
    (ab, ba)
}

/// Fires due timers; returns the earliest deadline still ahead.
fn timers<N: Node>(nodes: [&mut N; 2], now: Instant) -> Option<Instant> {
    let mut next: Option<Instant> = None;
    for n in nodes {
        if n.poll_timeout().is_some_and(|t| t <= now) {
            n.handle_timeout(now);
        }
        if let Some(t) = n.poll_timeout() {
            next = Some(next.map_or(t, |x| x.min(t)));
        }
    }
    next
}

struct Outcome {
    secs: f64,
    packets: (u64, u64),
    idle_waits: u64,
}

/// Transfers `total` bytes from A to B; the clock starts once both ends are established.
fn transfer<E: Ends>(
    e: &mut E,
    clock: WallInstant,
    total: u64,
    pattern: &Pattern,
) -> Result<Outcome, String> {
    let now = || Instant::from_nanos(clock.elapsed().as_nanos() as u64);
    let mut buf = vec![0u8; 65536];
    let mut rbuf = vec![0u8; 65536];
    let mut packets = (0u64, 0u64);
    let mut idle_waits = 0u64;

    let turn = |e: &mut E, buf: &mut [u8], packets: &mut (u64, u64), idle_waits: &mut u64| {
        let t = now();
        let (a, b) = e.nodes();
        let (ab, ba) = exchange(a, b, t, buf);
        packets.0 += ab;
        packets.1 += ba;
        let next = timers([a, b], t);
        if ab + ba == 0 {
            // Nothing moved: only a timer can make progress. Wait for it (wall time passes,
            // as it would for a real program).
            if let Some(next) = next {
                let wait = next.saturating_duration_since(now());
                if !wait.is_zero() {
                    *idle_waits += 1;
                    std::thread::sleep(wait.min(Duration::from_millis(10)));
                }
            }
        }
    };

    let setup = WallInstant::now();
    while !e.established() {
        if setup.elapsed() > Duration::from_secs(10) {
            return Err("handshake did not complete in 10 s".into());
        }
        turn(e, &mut buf, &mut packets, &mut idle_waits);
    }

    let start = WallInstant::now();
    let (mut sent, mut received) = (0u64, 0u64);
    let mut turns = 0u64;
    while received < total {
        turns += 1;
        if turns & 1023 == 0 && start.elapsed() > WALL_LIMIT {
            return Err(format!(
                "not done after {:?}: {received} of {total} bytes",
                WALL_LIMIT
            ));
        }
        for _ in 0..1024 {
            if sent >= total {
                break;
            }
            let n = e.send(pattern.chunk_max(sent, total - sent))?;
            if n == 0 {
                break;
            }
            sent += n as u64;
        }
        for _ in 0..1024 {
            let n = e.recv(&mut rbuf)?;
            if n == 0 {
                break;
            }
            if !pattern.check(received, &rbuf[..n]) {
                return Err(format!("corrupt data in bytes {received}..+{n}"));
            }
            received += n as u64;
            if received > total {
                return Err(format!("received {received} bytes, more than {total} sent"));
            }
        }
        if received < total {
            turn(e, &mut buf, &mut packets, &mut idle_waits);
        }
    }
    Ok(Outcome {
        secs: start.elapsed().as_secs_f64(),
        packets,
        idle_waits,
    })
}

/// Checks that B drops a data segment from A with one flipped payload bit (so the checksums
/// the transfer relies on really are verified). Time is virtual here.
fn checksum_selfcheck<E: Ends>(mut e: E) -> Result<(), String> {
    let mut buf = vec![0u8; 65536];
    let mut now = Instant::from_secs(1);
    for _ in 0..1000 {
        if e.established() {
            break;
        }
        let (a, b) = e.nodes();
        exchange(a, b, now, &mut buf);
        timers([a, b], now);
        now = now + Duration::from_millis(1);
    }
    if !e.established() {
        return Err("handshake did not complete".into());
    }
    let payload = [0x55u8; 1000];
    if e.send(&payload)? != payload.len() {
        return Err("send took less than 1000 bytes".into());
    }
    let (a, b) = e.nodes();
    let mut corrupted = 0;
    for _ in 0..16 {
        let Some(n) = a.poll_transmit(now, &mut buf) else {
            break;
        };
        if n >= payload.len() + 40 {
            buf[n - 1] ^= 0x10;
            corrupted += 1;
        }
        b.handle_packet(now, &buf[..n]);
    }
    if corrupted == 0 {
        return Err("no data segment went out".into());
    }
    let mut rbuf = [0u8; 2048];
    match e.recv(&mut rbuf)? {
        0 => Ok(()),
        n => Err(format!("{n} bytes of a corrupted segment were delivered")),
    }
}

/// memcpy of every byte plus an Internet checksum over the copy: the least work a stack that
/// checksums in software has to do per byte.
fn reference(total: u64, pattern: &Pattern) -> f64 {
    let mut dst = vec![0u8; 65536];
    let start = WallInstant::now();
    let mut pos = 0u64;
    let mut acc = 0u16;
    while pos < total {
        let src = pattern.chunk_max(pos, (total - pos).min(dst.len() as u64));
        let d = &mut dst[..src.len()];
        d.copy_from_slice(src);
        acc = checksum::combine(&[acc, checksum::data(black_box(d))]);
        pos += src.len() as u64;
    }
    black_box(acc);
    start.elapsed().as_secs_f64()
}

fn gbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 * 8.0 / secs / 1e9
}

fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1u64 << 10),
        'm' | 'M' => (&s[..s.len() - 1], 1 << 20),
        'g' | 'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

fn env_or(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => parse_bytes(&v).unwrap_or_else(|| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// One stack's result over the rounds: the best time, or the first failure.
#[derive(Default)]
struct Best {
    secs: Option<f64>,
    failure: Option<String>,
}

impl Best {
    fn add(&mut self, secs: f64) {
        self.secs = Some(self.secs.map_or(secs, |s| s.min(secs)));
    }
}

fn run_one<E: Ends>(
    mut e: E,
    clock: WallInstant,
    total: u64,
    pattern: &Pattern,
    round: u64,
    best: &mut Best,
) {
    match transfer(&mut e, clock, total, pattern) {
        Ok(o) => {
            println!(
                "{:<10} {:>5} {:>10.2} {:>9.3}   {}, A->B {} B->A {}, idle waits {}",
                e.name(),
                round,
                gbps(total, o.secs),
                o.secs,
                e.notes(),
                o.packets.0,
                o.packets.1,
                o.idle_waits
            );
            best.add(o.secs);
        }
        Err(msg) => {
            println!(
                "{:<10} {:>5} {:>10} {:>9}   FAILED: {msg}",
                e.name(),
                round,
                "-",
                "-"
            );
            best.failure.get_or_insert(msg);
        }
    }
}

fn main() {
    let total = env_or("INMEM_BYTES", 1 << 30);
    let rounds = env_or("INMEM_ROUNDS", 5).max(1);
    let pattern = Pattern::new(0x5eed);
    let clock = WallInstant::now();
    let wall = WallInstant::now();

    println!(
        "inmem: {} bytes ({:.3} GiB) A->B per run, MTU {MTU}, {} KiB send/recv buffers, checksums computed and verified, in-memory hand-off, wall clock; {rounds} rounds, best counts",
        total,
        total as f64 / (1u64 << 30) as f64,
        BUFFER / 1024
    );
    println!(
        "smoltcp 0.14: Medium::Ip, Reno, default ack delay and Nagle; sanstcp: defaults (NewReno)"
    );
    let check = |r: Result<(), String>| match r {
        Ok(()) => "dropped".to_string(),
        Err(e) => format!("NOT DROPPED ({e})"),
    };
    println!(
        "checksum self-check, a segment with one flipped payload bit: sanstcp {}, smoltcp {}",
        check(checksum_selfcheck(Sans::new(Instant::from_secs(1)))),
        check(checksum_selfcheck(Smol::new()))
    );
    println!();
    println!(
        "{:<10} {:>5} {:>10} {:>9}   notes",
        "what", "round", "Gbit/s", "secs"
    );

    let (mut sans, mut smol, mut limit) = (Best::default(), Best::default(), Best::default());
    for round in 1..=rounds {
        let secs = reference(total, &pattern);
        println!(
            "{:<10} {:>5} {:>10.2} {:>9.3}   memcpy + checksum::data over the same bytes",
            "reference",
            round,
            gbps(total, secs),
            secs
        );
        limit.add(secs);
        let now = Instant::from_nanos(clock.elapsed().as_nanos() as u64);
        // Alternate which stack goes first, so neither always runs on a warmer machine.
        if round % 2 == 1 {
            run_one(Sans::new(now), clock, total, &pattern, round, &mut sans);
            run_one(Smol::new(), clock, total, &pattern, round, &mut smol);
        } else {
            run_one(Smol::new(), clock, total, &pattern, round, &mut smol);
            let now = Instant::from_nanos(clock.elapsed().as_nanos() as u64);
            run_one(Sans::new(now), clock, total, &pattern, round, &mut sans);
        }
    }

    let rate = |b: &Best| b.secs.map(|s| gbps(total, s));
    let show = |b: &Best| match (rate(b), &b.failure) {
        (_, Some(_)) => "FAILED".to_string(),
        (Some(r), None) => format!("{r:.1} Gbit/s"),
        (None, None) => "-".to_string(),
    };
    let ratio = |x: &Best, y: &Best| match (rate(x), rate(y), &x.failure, &y.failure) {
        (Some(a), Some(b), None, None) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".to_string(),
    };
    println!();
    println!(
        "sanstcp / smoltcp {}, sanstcp / reference {}, smoltcp / reference {}",
        ratio(&sans, &smol),
        ratio(&sans, &limit),
        ratio(&smol, &limit)
    );
    if let Some(f) = &sans.failure {
        println!("sanstcp failure: {f}");
    }
    if let Some(f) = &smol.failure {
        println!("smoltcp failure: {f}");
    }
    println!("wall time {:.1} s", wall.elapsed().as_secs_f64());
    println!(
        "inmem: sanstcp {}, smoltcp {}, ratio {}, limit {}",
        show(&sans),
        show(&smol),
        ratio(&sans, &smol),
        show(&limit)
    );
}
