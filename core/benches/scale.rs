//! Scale: one server stack holding `SCALE_CONNS` (default 1,000,000) established, idle
//! connections.
//!
//! A client stack with 16 local addresses (10.1.0.1 to 10.1.0.16, ephemeral ports
//! 1024..=65535, so 16 × 64,512 possible connections to one server port) opens them to one
//! server stack (10.0.0.1:80) in batches of 4096; packets are handed over directly in memory,
//! checksums computed and verified. The server accepts every connection. Time is virtual.
//!
//! Measured:
//! - heap per connection, from a counting global allocator that charges every allocation and
//!   free to the stack whose call made it (the bench's own vectors are charged to neither):
//!   live heap of the server stack once the connections are open and idle (the handshakes'
//!   stale retransmission deadlines have come due and left the timer heap) divided by the
//!   connections, and the same for the client stack. Idle connections hold no buffer contents
//!   (the byte queues release their storage when they drain), so this is the connection state
//!   plus the table's share (slot, 4-tuple index, timer heap). The process's peak heap is
//!   shown too;
//! - the wall time to open them (both stacks' work, handshake packets moved in memory);
//! - the per-packet cost of a small exchange (64-byte request, 64-byte answer, every byte
//!   checked) with 1k, 100k and all connections held: on one connection (`one`), and
//!   round-robin over 1024 connections spread through the table (`spread`, which also pays
//!   for cache misses into a large table). The cost must not grow with the connections held.
//!
//! `SCALE_CONNS` (optional K/M suffix) shrinks or grows the run; `SCALE_ROUNDS` sets the
//! exchange rounds per measurement (default 200k).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant as WallInstant};

use sanstcp::{
    ConnId, ConnectOptions, Event, Instant, ListenOptions, ListenerId, RecvError, Stack,
    StackConfig,
};

// ---- a counting allocator that charges each stack ---------------------------------------

/// Which account allocations go to: the bench itself, the server stack, the client stack.
const OTHER: usize = 0;
const SERVER_SIDE: usize = 1;
const CLIENT_SIDE: usize = 2;

static SIDE: AtomicUsize = AtomicUsize::new(OTHER);
static LIVE: [AtomicI64; 3] = [AtomicI64::new(0), AtomicI64::new(0), AtomicI64::new(0)];
static TOTAL: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);

fn account(delta: i64) {
    LIVE[SIDE.load(Ordering::Relaxed)].fetch_add(delta, Ordering::Relaxed);
    let total = TOTAL.fetch_add(delta, Ordering::Relaxed) + delta;
    PEAK.fetch_max(total, Ordering::Relaxed);
}

struct Counting;

// SAFETY: every call is forwarded unchanged to `System`; the counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            account(layout.size() as i64);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            account(layout.size() as i64);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        account(-(layout.size() as i64));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            account(new_size as i64 - layout.size() as i64);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` with allocations charged to `side`.
fn charged<R>(side: usize, f: impl FnOnce() -> R) -> R {
    let before = SIDE.swap(side, Ordering::Relaxed);
    let r = f();
    SIDE.store(before, Ordering::Relaxed);
    r
}

fn live(side: usize) -> i64 {
    LIVE[side].load(Ordering::Relaxed)
}

// ---- the two stacks -----------------------------------------------------------------------

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PORT: u16 = 80;
const CLIENT_ADDRS: u8 = 16;
const PORTS: (u16, u16) = (1024, 65535);
const BATCH: usize = 4096;
const MSG: usize = 64;
/// Connections the `spread` exchange cycles through.
const SPREAD: usize = 1024;
/// Virtual time per exchange round.
const ROUND_STEP: Duration = Duration::from_micros(10);

fn client_addr(k: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 0, 1 + k)
}

struct World {
    client: Stack,
    server: Stack,
    listener: ListenerId,
    now: Instant,
    buf: Vec<u8>,
    packets: u64,
    /// Connections held, in opening order; `server_ids[i]` is the far end of `client_ids[i]`
    /// only once [`World::pair`] matched them.
    client_ids: Vec<ConnId>,
    server_ids: Vec<ConnId>,
}

impl World {
    fn new() -> World {
        let mut cc = StackConfig::new(
            (0..CLIENT_ADDRS)
                .map(|k| IpAddr::V4(client_addr(k)))
                .collect(),
            [1; 16],
            1,
        );
        cc.ephemeral_ports = PORTS;
        let mut sc = StackConfig::new(vec![IpAddr::V4(SERVER)], [2; 16], 2);
        sc.verify_checksums = true;
        cc.verify_checksums = true;
        let (client, mut server) = (
            charged(CLIENT_SIDE, || Stack::new(cc).expect("config")),
            charged(SERVER_SIDE, || Stack::new(sc).expect("config")),
        );
        let opts = ListenOptions {
            backlog: 2 * BATCH,
            syn_backlog: 2 * BATCH,
        };
        let listener = charged(SERVER_SIDE, || {
            server.listen(SocketAddr::new(IpAddr::V4(SERVER), PORT), opts)
        })
        .expect("listen");
        World {
            client,
            server,
            listener,
            now: Instant::from_secs(1),
            buf: vec![0u8; 65536],
            packets: 0,
            client_ids: Vec::new(),
            server_ids: Vec::new(),
        }
    }

    /// Moves packets both ways until neither side sends, then fires due timers.
    fn settle(&mut self) {
        let (client, server, now, buf) =
            (&mut self.client, &mut self.server, self.now, &mut self.buf);
        loop {
            let mut moved = 0u64;
            while let Some(t) = charged(CLIENT_SIDE, || client.poll_transmit(now, buf)) {
                charged(SERVER_SIDE, || server.handle_packet(now, &buf[..t.len]));
                moved += 1;
            }
            while let Some(t) = charged(SERVER_SIDE, || server.poll_transmit(now, buf)) {
                charged(CLIENT_SIDE, || client.handle_packet(now, &buf[..t.len]));
                moved += 1;
            }
            self.packets += moved;
            if moved == 0 {
                break;
            }
        }
        for (side, s) in [(CLIENT_SIDE, &mut *client), (SERVER_SIDE, &mut *server)] {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                charged(side, || s.handle_timeout(now));
            }
        }
    }

    /// Opens connections until `target` are held.
    fn open_to(&mut self, target: usize) -> Result<(), String> {
        let server = SocketAddr::new(IpAddr::V4(SERVER), PORT);
        let per_addr = usize::from(PORTS.1 - PORTS.0) + 1;
        while self.client_ids.len() < target {
            let batch = BATCH.min(target - self.client_ids.len());
            for _ in 0..batch {
                let k = self.client_ids.len() / per_addr;
                let local = SocketAddr::new(IpAddr::V4(client_addr(k as u8)), 0);
                let opts = ConnectOptions {
                    local: Some(local),
                    ..ConnectOptions::default()
                };
                let (client, now) = (&mut self.client, self.now);
                let c = charged(CLIENT_SIDE, || client.connect(now, server, opts))
                    .map_err(|e| format!("connect #{}: {e}", self.client_ids.len()))?;
                self.client_ids.push(c);
            }
            self.settle();
            let (client, server, listener) = (&mut self.client, &mut self.server, self.listener);
            let mut connected = 0;
            while let Some(e) = charged(CLIENT_SIDE, || client.poll_event()) {
                match e {
                    Event::Connected { .. } => connected += 1,
                    other => return Err(format!("client: unexpected {other:?}")),
                }
            }
            while let Some(e) = charged(SERVER_SIDE, || server.poll_event()) {
                if !matches!(e, Event::Incoming { .. }) {
                    return Err(format!("server: unexpected {e:?}"));
                }
            }
            while let Some(c) = charged(SERVER_SIDE, || server.accept(listener)) {
                self.server_ids.push(c);
            }
            if connected != batch || self.server_ids.len() != self.client_ids.len() {
                return Err(format!(
                    "batch of {batch}: {connected} connected, {} accepted of {}",
                    self.server_ids.len(),
                    self.client_ids.len()
                ));
            }
            self.now = self.now + Duration::from_micros(100);
        }
        Ok(())
    }

    /// `n` client connections spread evenly through those held, each with its server end.
    fn pairs(&self, n: usize) -> Result<Vec<(ConnId, ConnId)>, String> {
        let held = self.client_ids.len();
        let n = n.min(held);
        let mut want = std::collections::HashMap::new();
        for j in 0..n {
            let c = self.client_ids[j * held / n];
            let info = self.client.info(c).ok_or("client connection gone")?;
            want.insert(info.local, c);
        }
        let mut pairs = Vec::with_capacity(n);
        for &s in &self.server_ids {
            let info = self.server.info(s).ok_or("server connection gone")?;
            if let Some(&c) = want.get(&info.remote) {
                pairs.push((c, s));
            }
        }
        if pairs.len() != n {
            return Err(format!("matched {} of {n} connections", pairs.len()));
        }
        Ok(pairs)
    }

    /// `rounds` request/answer exchanges over `pairs` in turn; returns ns per packet.
    fn exchange(&mut self, pairs: &[(ConnId, ConnId)], rounds: u64) -> Result<f64, String> {
        let mut msg = [0u8; MSG];
        let mut rbuf = [0u8; 4096];
        let packets_before = self.packets;
        let start = WallInstant::now();
        for r in 0..rounds {
            let (c, s) = pairs[(r as usize) % pairs.len()];
            for (dir, (from, fside, to, tside)) in [
                (c, CLIENT_SIDE, s, SERVER_SIDE),
                (s, SERVER_SIDE, c, CLIENT_SIDE),
            ]
            .into_iter()
            .enumerate()
            {
                for (j, b) in msg.iter_mut().enumerate() {
                    *b = (r as u8).wrapping_mul(31).wrapping_add(j as u8) ^ (dir as u8);
                }
                let sender = if fside == CLIENT_SIDE {
                    &mut self.client
                } else {
                    &mut self.server
                };
                let n =
                    charged(fside, || sender.send(from, &msg)).map_err(|e| format!("send: {e}"))?;
                if n != MSG {
                    return Err(format!("send took {n} of {MSG}"));
                }
                self.settle();
                let mut got = 0;
                loop {
                    let receiver = if tside == CLIENT_SIDE {
                        &mut self.client
                    } else {
                        &mut self.server
                    };
                    match charged(tside, || receiver.recv(to, &mut rbuf[got..])) {
                        Ok(0) => return Err("end of stream".into()),
                        Ok(k) => got += k,
                        Err(RecvError::WouldBlock) => break,
                        Err(e) => return Err(format!("recv: {e}")),
                    }
                }
                if rbuf[..got] != msg[..] {
                    return Err(format!("round {r}: received {got} wrong or missing bytes"));
                }
            }
            // Readable events are not needed: each side reads right away.
            while charged(CLIENT_SIDE, || self.client.poll_event()).is_some() {}
            while charged(SERVER_SIDE, || self.server.poll_event()).is_some() {}
            self.now = self.now + ROUND_STEP;
        }
        let secs = start.elapsed().as_secs_f64();
        let packets = self.packets - packets_before;
        Ok(secs * 1e9 / packets.max(1) as f64)
    }
}

fn parse_count(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1_000u64),
        'm' | 'M' => (&s[..s.len() - 1], 1_000_000),
        _ => (s, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

fn env_or(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => parse_count(&v).unwrap_or_else(|| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

fn mib(b: i64) -> f64 {
    b as f64 / (1u64 << 20) as f64
}

fn run(conns: usize, rounds: u64) -> Result<String, String> {
    let limit = usize::from(CLIENT_ADDRS) * (usize::from(PORTS.1 - PORTS.0) + 1);
    if conns > limit {
        return Err(format!(
            "at most {limit} connections ({CLIENT_ADDRS} client addresses)"
        ));
    }
    let (server0, client0) = (live(SERVER_SIDE), live(CLIENT_SIDE));
    let mut w = World::new();
    let mut checkpoints: Vec<usize> = [1_000, 100_000, conns]
        .into_iter()
        .filter(|&n| n <= conns)
        .collect();
    checkpoints.dedup();
    println!(
        "{:>9} {:>9} {:>9} {:>11} {:>9} {:>9} {:>10} {:>10} {:>9} {:>9}",
        "held",
        "open s",
        "drain ms",
        "opened/s",
        "server B",
        "client B",
        "server MiB",
        "peak MiB",
        "one ns/p",
        "spread ns/p"
    );
    let mut open_secs = 0.0;
    let mut per_conn = 0.0;
    let mut costs = Vec::new();
    for &n in &checkpoints {
        let before = w.client_ids.len();
        let t = WallInstant::now();
        w.open_to(n)?;
        let secs = t.elapsed().as_secs_f64();
        open_secs += secs;
        let opened_rate = (n - before) as f64 / secs;
        // The handshakes left their SYN / SYN-ACK retransmission deadlines (RTO 1 s) in the
        // timer heaps as stale entries; let them come due now, outside the timed exchange,
        // and report what that costs. Then the connections are idle: no timer runs.
        let t = WallInstant::now();
        w.now = w.now + Duration::from_secs(2);
        w.settle();
        let drain_ms = t.elapsed().as_secs_f64() * 1e3;
        let server_bytes = live(SERVER_SIDE) - server0;
        let client_bytes = live(CLIENT_SIDE) - client0;
        let (sc, cc) = (w.server.connection_count(), w.client.connection_count());
        if sc != n || cc != n {
            return Err(format!("held: server {sc}, client {cc}, expected {n}"));
        }
        per_conn = server_bytes as f64 / n as f64;
        let one = w.pairs(1)?;
        let spread = w.pairs(SPREAD)?;
        // A short warm-up, then the measured rounds.
        w.exchange(&one, rounds / 10)?;
        let one_ns = w.exchange(&one, rounds)?;
        w.exchange(&spread, rounds / 10)?;
        let spread_ns = w.exchange(&spread, rounds)?;
        println!(
            "{n:>9} {:>9.3} {drain_ms:>9.1} {opened_rate:>11.0} {per_conn:>9.0} {:>9.0} {:>10.1} {:>10.1} {one_ns:>9.1} {spread_ns:>9.1}",
            secs,
            client_bytes as f64 / n as f64,
            mib(server_bytes),
            mib(PEAK.load(Ordering::Relaxed)),
        );
        costs.push((n, one_ns, spread_ns));
    }
    let drops = w.client.stats().dropped_total() + w.server.stats().dropped_total();
    if drops != 0 {
        return Err(format!("{drops} packets dropped"));
    }
    println!();
    println!(
        "server B / client B: live heap of that stack's calls per connection held, once idle (no buffer contents, no timer running); peak MiB: whole process"
    );
    println!(
        "open s: wall time to open the connections since the previous row (both stacks); {conns} in {open_secs:.2} s"
    );
    println!(
        "drain ms: wall time of the first handle_timeout after the virtual clock passed the handshakes' stale retransmission deadlines (both stacks)"
    );
    println!(
        "one / spread ns/p: wall ns per packet of a {MSG}-byte request/answer exchange on one connection / round-robin over {SPREAD} spread through the table ({rounds} rounds, both stacks' work and the byte checks)"
    );
    let first = costs.first().map_or(0.0, |c| c.1);
    let last = costs.last().map_or(0.0, |c| c.1);
    let growth = if first > 0.0 { last / first } else { 0.0 };
    let series = |f: fn(&(usize, f64, f64)) -> f64| {
        costs
            .iter()
            .map(|c| format!("{:.0}", f(c)))
            .collect::<Vec<_>>()
            .join("/")
    };
    let held = costs
        .iter()
        .map(|c| c.0.to_string())
        .collect::<Vec<_>>()
        .join("/");
    Ok(format!(
        "scale: {conns} connections, {per_conn:.0} bytes/connection (server heap; target <= 1024), opened in {open_secs:.1} s, ns/packet with {held} held: one {} (x{growth:.2}), spread {}",
        series(|c| c.1),
        series(|c| c.2)
    ))
}

fn main() {
    let conns = env_or("SCALE_CONNS", 1_000_000).max(1) as usize;
    let rounds = env_or("SCALE_ROUNDS", 200_000).max(10);
    let wall = WallInstant::now();
    println!(
        "scale: one server stack holding {conns} established idle connections from {CLIENT_ADDRS} client addresses x ports {}..={}, opened in batches of {BATCH}, in-memory hand-off, checksums verified, virtual time",
        PORTS.0, PORTS.1
    );
    println!();
    let summary = match run(conns, rounds) {
        Ok(s) => s,
        Err(e) => format!("scale: FAILED: {e}"),
    };
    println!("wall time {:.1} s", wall.elapsed().as_secs_f64());
    println!("{summary}");
}
