//! A SYN flood against one listener while legitimate clients keep connecting.
//!
//! The server is one sanstcp stack (10.0.0.1) listening on port 80 with a small SYN queue
//! (`syn_backlog` 128), a large accept queue (4096) and `SynCookieMode::Auto`, so that once the
//! flood has filled the SYN queue every further SYN is answered with a SYN cookie. The flood is
//! a stream of spoofed SYNs at a fixed rate of virtual time: random sources in 10.128.0.0/9,
//! random ports, sequence numbers and windows, valid checksums, and the option sets of real
//! clients (Linux, Windows, macOS, tunnels with a smaller MSS, old stacks with only an MSS or
//! nothing; a tenth ask for ECN). Their SYN-ACKs are discarded: spoofed sources never answer.
//!
//! Meanwhile 200 legitimate clients, each a sanstcp stack of its own behind a link with its own
//! one-way delay (1 to 10 ms), connect at random moments during the flood, send a 100-byte
//! request, read a 3000-byte response to its end and close; every byte is checked both ways.
//! No simulator: this file moves the packets itself, so the flood never pays for a link model.
//!
//! Measured for each flood rate (virtual SYNs per second):
//! - SYNs per CPU second: flood SYNs over the wall-clock time of the server's `handle_packet`
//!   and the `poll_transmit` calls that take its answer, nothing else (building the SYNs and
//!   the legitimate traffic are outside the clock). One thread, so one core.
//! - cookies sent and accepted (`stats()`), SYN-ACKs thrown away;
//! - legitimate clients whose handshake completed, and whose whole exchange completed, with
//!   the time from `connect` to the end of the exchange (median, 99th percentile, maximum) and
//!   to the handshake, and what the server and the clients dropped, by reason;
//! - the largest `connection_count()` seen after any call, which must stay at most
//!   `syn_backlog` + the number of legitimate clients;
//! - the process's peak heap (a counting allocator) and heap allocations per flood SYN;
//! - that every packet handed to the server was accepted or dropped for a counted reason
//!   (`packets_in == accepted + dropped_total()`).
//!
//! `SYNFLOOD_SECS` (default 2) sets how long each flood lasts in virtual time and
//! `SYNFLOOD_RATES` (comma-separated millions of SYNs per second, default `0,0.1,1,4`) which
//! rates run. The last line summarises the highest rate.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant as WallInstant};

use sanstcp::sim::Rng;
use sanstcp::wire::{ip_protocol, IpRepr, TcpFlags, TcpOptions, TcpRepr};
use sanstcp::{
    ConnId, ConnectOptions, Event, Input, Instant, ListenOptions, ListenerId, RecvError, SendError,
    Stack, StackConfig, SynCookieMode,
};

// ---- a counting allocator ----------------------------------------------------------------

/// Wraps the system allocator and counts live bytes, the peak of live bytes and allocations.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

fn grew(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; the counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// ---- parameters ---------------------------------------------------------------------------

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PORT: u16 = 80;
const SYN_BACKLOG: usize = 128;
const ACCEPT_BACKLOG: usize = 4096;
const CLIENTS: usize = 200;
const REQUEST_LEN: usize = 100;
const RESPONSE_LEN: usize = 3000;
/// Flood sources: 10.128.0.0/9.
const FLOOD_NET: u32 = 0x0a80_0000;
const FLOOD_MASK: u32 = 0xff80_0000;
/// Most flood SYNs built and then processed in one timed batch.
const BATCH: usize = 4096;
/// Bytes per SYN in the batch arena: 20 IP + 20 TCP + at most 40 of options.
const STRIDE: usize = 80;
/// After the flood stops, how long the legitimate clients may still take.
const GRACE: Duration = Duration::from_secs(2);
/// Loop turns of one run: a guard far above what a run needs.
const MAX_TURNS: u64 = 50_000_000;

fn in_flood_net(a: IpAddr) -> bool {
    matches!(a, IpAddr::V4(v4) if u32::from(v4) & FLOOD_MASK == FLOOD_NET)
}

fn client_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8)
}

/// The client index of a legitimate client's address.
fn client_index(a: IpAddr) -> Option<usize> {
    let IpAddr::V4(v4) = a else { return None };
    let [x, y, z, w] = v4.octets();
    if x != 10 || y != 0 || z == 0 || w == 0 || w > 250 {
        return None;
    }
    let i = usize::from(z - 1) * 250 + usize::from(w - 1);
    (i < CLIENTS).then_some(i)
}

/// Byte `pos` of the request (`dir` 0) or response (`dir` 1) of client `i`.
fn pattern(i: usize, dir: u64, pos: usize) -> u8 {
    let x = (pos as u64 ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (dir << 60))
        .wrapping_mul(0x2545_f491_4f6c_dd1d);
    (x >> 29) as u8
}

/// The request of client `i`: its index in 4 bytes, then the pattern.
fn request(i: usize) -> Vec<u8> {
    let mut r: Vec<u8> = (0..REQUEST_LEN).map(|p| pattern(i, 0, p)).collect();
    r[..4].copy_from_slice(&(i as u32).to_be_bytes());
    r
}

// ---- the flood ----------------------------------------------------------------------------

/// Writes one spoofed SYN to `buf` (at least [`STRIDE`] bytes); returns its length.
fn build_syn(rng: &mut Rng, buf: &mut [u8]) -> usize {
    let src = Ipv4Addr::from(FLOOD_NET | (rng.next_u32() & !FLOOD_MASK));
    let (src, dst) = (IpAddr::V4(src), IpAddr::V4(SERVER));
    let mut options = TcpOptions::default();
    let tsval = rng.next_u32();
    let window;
    match rng.gen_range(100) {
        // Linux.
        0..=49 => {
            options.mss = Some(1460);
            options.sack_permitted = true;
            options.timestamps = Some((tsval, 0));
            options.window_scale = Some(7);
            window = 64240;
        }
        // Windows.
        50..=74 => {
            options.mss = Some(1460);
            options.window_scale = Some(8);
            options.sack_permitted = true;
            window = 64240;
        }
        // macOS.
        75..=84 => {
            options.mss = Some(1460);
            options.window_scale = Some(6);
            options.sack_permitted = true;
            options.timestamps = Some((tsval, 0));
            window = 65535;
        }
        // Behind a tunnel: a smaller MSS, any shift.
        85..=92 => {
            options.mss = Some([1360, 1400, 1440, 1380][rng.gen_range(4) as usize]);
            options.sack_permitted = true;
            options.timestamps = Some((tsval, 0));
            options.window_scale = Some(rng.gen_range(15) as u8);
            window = 29200;
        }
        // An old stack: the MSS only.
        93..=97 => {
            options.mss = Some(if rng.gen_bool(0.5) { 536 } else { 1460 });
            window = 8192;
        }
        // Nothing at all.
        _ => window = 4096,
    }
    let mut flags = TcpFlags::SYN;
    if rng.gen_bool(0.1) {
        flags |= TcpFlags::ECE | TcpFlags::CWR;
    }
    let tcp = TcpRepr {
        src_port: 1024 + rng.gen_range(65535 - 1024) as u16,
        dst_port: PORT,
        seq: rng.next_u32(),
        ack: 0,
        flags,
        window,
        urgent: 0,
        options,
        payload: &[],
    };
    let ip = IpRepr {
        src_addr: src,
        dst_addr: dst,
        protocol: ip_protocol::TCP,
        payload_len: tcp.segment_len(),
        hop_limit: 40 + rng.gen_range(88) as u8,
        ecn: 0,
    };
    let h = ip.header_len();
    ip.emit(&mut buf[..h]);
    h + tcp.emit(&mut buf[h..], &src, &dst)
}

/// Flood SYN `k` arrives at this many nanoseconds of virtual time.
fn flood_time(k: u64, rate: f64) -> u64 {
    (k as f64 * 1e9 / rate) as u64
}

// ---- the network between the clients and the server ---------------------------------------

/// A packet on its way: to the server (`to == None`) or to client `to`.
struct InFlight {
    at: u64,
    seq: u64,
    to: Option<usize>,
    data: Vec<u8>,
}

impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        // A max-heap pops the earliest arrival first, ties to the earlier send.
        other
            .at
            .cmp(&self.at)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}

impl Eq for InFlight {}

#[derive(Default)]
struct Net {
    heap: BinaryHeap<InFlight>,
    seq: u64,
}

impl Net {
    fn send(&mut self, at: u64, to: Option<usize>, data: &[u8]) {
        self.seq += 1;
        self.heap.push(InFlight {
            at,
            seq: self.seq,
            to,
            data: data.to_vec(),
        });
    }
    fn next_at(&self) -> Option<u64> {
        self.heap.peek().map(|p| p.at)
    }
}

// ---- the legitimate side -------------------------------------------------------------------

#[derive(Default)]
struct Client {
    stack: Option<Stack>,
    delay_ns: u64,
    start_ns: u64,
    conn: Option<ConnId>,
    connected_at: Option<u64>,
    done_at: Option<u64>,
    received: usize,
    done: bool,
    failure: Option<String>,
}

/// What the server application knows about one accepted connection.
struct Served {
    /// The request read so far.
    request: Vec<u8>,
    /// Response bytes queued.
    sent: usize,
    /// The client index, once the request is complete.
    client: Option<usize>,
}

struct World {
    server: Stack,
    listener: ListenerId,
    served: HashMap<ConnId, Served>,
    clients: Vec<Client>,
    net: Net,
    buf: Vec<u8>,
    /// Returns of `handle_packet` on the server: accepted, dropped.
    server_inputs: (u64, u64),
    max_conns: usize,
    synacks_discarded: u64,
    /// Server packets to neither a client nor the flood network.
    unroutable: u64,
    server_errors: Vec<String>,
}

fn server_config(seed: u64) -> StackConfig {
    let mut c = StackConfig::new(vec![IpAddr::V4(SERVER)], [0x5f; 16], seed);
    c.syn_cookies = SynCookieMode::Auto;
    c
}

impl World {
    fn new(seed: u64) -> World {
        let mut server = Stack::new(server_config(seed)).expect("server config");
        let listener = server
            .listen(
                SocketAddr::new(IpAddr::V4(SERVER), PORT),
                ListenOptions {
                    backlog: ACCEPT_BACKLOG,
                    syn_backlog: SYN_BACKLOG,
                },
            )
            .expect("listen");
        World {
            server,
            listener,
            served: HashMap::new(),
            clients: Vec::new(),
            net: Net::default(),
            buf: vec![0u8; 65536],
            server_inputs: (0, 0),
            max_conns: 0,
            synacks_discarded: 0,
            unroutable: 0,
            server_errors: Vec::new(),
        }
    }

    fn note_input(&mut self, r: Input) {
        match r {
            Input::Accepted => self.server_inputs.0 += 1,
            Input::Dropped(_) => self.server_inputs.1 += 1,
        }
        self.max_conns = self.max_conns.max(self.server.connection_count());
    }

    /// Takes every packet the server has queued at `now` and routes it.
    fn drain_server(&mut self, now: u64) {
        let t = Instant::from_nanos(now);
        for _ in 0..1_000_000 {
            let Some(tx) = self.server.poll_transmit(t, &mut self.buf) else {
                break;
            };
            if in_flood_net(tx.dst) {
                self.synacks_discarded += 1;
            } else if let Some(i) = client_index(tx.dst) {
                let at = now + self.clients[i].delay_ns;
                self.net.send(at, Some(i), &self.buf[..tx.len]);
            } else {
                self.unroutable += 1;
            }
        }
        self.max_conns = self.max_conns.max(self.server.connection_count());
    }

    /// The server application: accept, read the request, answer, close.
    fn serve_events(&mut self) {
        for _ in 0..1_000_000 {
            let Some(ev) = self.server.poll_event() else {
                break;
            };
            match ev {
                Event::Incoming { .. } => {
                    while let Some(c) = self.server.accept(self.listener) {
                        self.served.insert(
                            c,
                            Served {
                                request: Vec::new(),
                                sent: 0,
                                client: None,
                            },
                        );
                        self.serve(c);
                    }
                }
                Event::Readable { conn }
                | Event::Writable { conn }
                | Event::PeerClosed { conn } => self.serve(conn),
                Event::Closed { conn, reason } if self.served.remove(&conn).is_some() => {
                    self.server_errors
                        .push(format!("server connection closed early: {reason:?}"));
                    self.server.close(conn);
                }
                _ => {}
            }
        }
    }

    fn serve(&mut self, c: ConnId) {
        let Some(s) = self.served.get_mut(&c) else {
            return;
        };
        let mut buf = [0u8; 512];
        while s.client.is_none() {
            match self.server.recv(c, &mut buf) {
                Ok(0) => {
                    self.server_errors.push("request cut short".into());
                    break;
                }
                Ok(n) => {
                    s.request.extend_from_slice(&buf[..n]);
                    if s.request.len() >= REQUEST_LEN {
                        let i = u32::from_be_bytes([
                            s.request[0],
                            s.request[1],
                            s.request[2],
                            s.request[3],
                        ]) as usize;
                        if i >= CLIENTS || s.request != request(i) {
                            self.server_errors.push("request corrupt".into());
                            self.served.remove(&c);
                            self.server.abort(c);
                            return;
                        }
                        s.client = Some(i);
                    }
                }
                Err(RecvError::WouldBlock) => break,
                Err(e) => {
                    self.server_errors.push(format!("server recv: {e}"));
                    break;
                }
            }
        }
        let Some(i) = s.client else { return };
        while s.sent < RESPONSE_LEN {
            let chunk: Vec<u8> = (s.sent..RESPONSE_LEN).map(|p| pattern(i, 1, p)).collect();
            match self.server.send(c, &chunk) {
                Ok(n) => s.sent += n,
                Err(SendError::WouldBlock) => return,
                Err(e) => {
                    self.server_errors.push(format!("server send: {e}"));
                    return;
                }
            }
        }
        // Everything is queued: the stack sends it, then the FIN, and frees the connection.
        self.served.remove(&c);
        self.server.close(c);
    }

    /// Client `i`'s application, then its packets onto the network.
    fn client_turn(&mut self, i: usize, now: u64) {
        let c = &mut self.clients[i];
        let Some(stack) = c.stack.as_mut() else {
            return;
        };
        let Some(conn) = c.conn else { return };
        for _ in 0..10_000 {
            let Some(ev) = stack.poll_event() else { break };
            match ev {
                Event::Connected { .. } => {
                    c.connected_at = Some(now);
                    let req = request(i);
                    match stack.send(conn, &req) {
                        Ok(n) if n == req.len() => {}
                        other => c.failure = Some(format!("request send: {other:?}")),
                    }
                }
                Event::Readable { .. } | Event::PeerClosed { .. } if !c.done => {
                    let mut buf = [0u8; 4096];
                    loop {
                        match stack.recv(conn, &mut buf) {
                            Ok(0) => {
                                if c.received == RESPONSE_LEN {
                                    c.done = true;
                                    c.done_at = Some(now);
                                } else {
                                    c.failure =
                                        Some(format!("response cut at {} bytes", c.received));
                                }
                                stack.close(conn);
                                break;
                            }
                            Ok(n) => {
                                let ok = buf[..n]
                                    .iter()
                                    .enumerate()
                                    .all(|(k, b)| *b == pattern(i, 1, c.received + k));
                                if !ok || c.received + n > RESPONSE_LEN {
                                    c.failure = Some("response corrupt".into());
                                }
                                c.received += n;
                            }
                            Err(RecvError::WouldBlock) => break,
                            Err(e) => {
                                c.failure = Some(format!("recv: {e}"));
                                break;
                            }
                        }
                    }
                }
                Event::Closed { reason, .. } if !c.done && c.failure.is_none() => {
                    c.failure = Some(format!("closed: {reason:?}"));
                }
                _ => {}
            }
        }
        let t = Instant::from_nanos(now);
        for _ in 0..100_000 {
            let Some(tx) = stack.poll_transmit(t, &mut self.buf) else {
                break;
            };
            if tx.dst == IpAddr::V4(SERVER) {
                self.net.send(now + c.delay_ns, None, &self.buf[..tx.len]);
            }
        }
    }

    fn next_timer(&self) -> Option<u64> {
        let clients = self
            .clients
            .iter()
            .filter_map(|c| c.stack.as_ref()?.poll_timeout());
        clients
            .chain(self.server.poll_timeout())
            .map(Instant::as_nanos)
            .min()
    }
}

// ---- one run --------------------------------------------------------------------------------

struct RunResult {
    rate: f64,
    flood_syns: u64,
    flood_secs: f64,
    allocs: u64,
    cookies_sent: u64,
    cookies_accepted: u64,
    synacks_discarded: u64,
    handshakes: usize,
    exchanges: usize,
    /// Milliseconds from `connect` to the handshake, and to the last response byte and FIN:
    /// median, 99th percentile, maximum.
    handshake_ms: [f64; 3],
    exchange_ms: [f64; 3],
    max_conns: usize,
    heap_peak: usize,
    accounted: bool,
    drops: Vec<(&'static str, u64)>,
    /// Drops on the clients, summed.
    client_drops: Vec<(&'static str, u64)>,
    failures: Vec<String>,
    wall: f64,
}

impl RunResult {
    fn per_cpu_sec(&self) -> Option<f64> {
        (self.flood_secs > 0.0).then(|| self.flood_syns as f64 / self.flood_secs)
    }
}

fn run(rate: f64, secs: f64, seed: u64) -> RunResult {
    let wall = WallInstant::now();
    let heap_before = LIVE.load(Ordering::Relaxed);
    PEAK.store(heap_before, Ordering::Relaxed);
    let flood_end = (secs * 1e9) as u64;
    let end = flood_end + GRACE.as_nanos() as u64;
    let mut w = World::new(seed);
    let mut rng = Rng::new(seed ^ 0x5f1d);
    for i in 0..CLIENTS {
        let mut cfg = StackConfig::new(
            vec![IpAddr::V4(client_addr(i))],
            [i as u8 ^ 0xa5; 16],
            seed.wrapping_add(i as u64 + 1),
        );
        cfg.syn_cookies = SynCookieMode::Never;
        let span = flood_end.saturating_sub(450_000_000).max(1);
        w.clients.push(Client {
            stack: Some(Stack::new(cfg).expect("client config")),
            delay_ns: 1_000_000 + rng.gen_range(9_000_000),
            start_ns: 50_000_000 + rng.gen_range(span),
            ..Client::default()
        });
    }
    let mut flood_rng = rng.fork();
    let mut arena = vec![0u8; BATCH * STRIDE];
    let mut lens = vec![0usize; BATCH];
    let mut times = vec![0u64; BATCH];
    let mut k = 0u64;
    let (mut flood_ns, mut allocs) = (0u128, 0u64);
    let bound = SYN_BACKLOG + CLIENTS;
    let mut turns = 0u64;
    loop {
        turns += 1;
        if turns > MAX_TURNS {
            w.server_errors.push("turn budget exhausted".into());
            break;
        }
        let starts = w
            .clients
            .iter()
            .filter(|c| c.conn.is_none())
            .map(|c| c.start_ns)
            .min();
        let other = [w.net.next_at(), w.next_timer(), starts]
            .into_iter()
            .flatten()
            .min();
        // Flood SYNs due before the next other thing happens, in one timed batch.
        let flood_until = other.unwrap_or(u64::MAX).min(flood_end);
        if rate > 0.0 && flood_time(k, rate) < flood_until {
            let mut n = 0;
            while n < BATCH && flood_time(k, rate) < flood_until {
                times[n] = flood_time(k, rate);
                lens[n] = build_syn(&mut flood_rng, &mut arena[n * STRIDE..(n + 1) * STRIDE]);
                n += 1;
                k += 1;
            }
            let mut out = std::mem::take(&mut w.buf);
            let mut legit_out: Vec<(u64, Vec<u8>)> = Vec::new();
            let (mut accepted, mut dropped, mut discarded) = (0u64, 0u64, 0u64);
            let mut max_conns = 0usize;
            let allocs_before = ALLOCS.load(Ordering::Relaxed);
            let t0 = WallInstant::now();
            for j in 0..n {
                let now = Instant::from_nanos(times[j]);
                let pkt = &arena[j * STRIDE..j * STRIDE + lens[j]];
                match w.server.handle_packet(now, pkt) {
                    Input::Accepted => accepted += 1,
                    Input::Dropped(_) => dropped += 1,
                }
                while let Some(tx) = w.server.poll_transmit(now, &mut out) {
                    if in_flood_net(tx.dst) {
                        discarded += 1;
                    } else {
                        legit_out.push((times[j], out[..tx.len].to_vec()));
                    }
                }
                max_conns = max_conns.max(w.server.connection_count());
            }
            flood_ns += t0.elapsed().as_nanos();
            allocs += ALLOCS.load(Ordering::Relaxed) - allocs_before;
            w.buf = out;
            w.server_inputs.0 += accepted;
            w.server_inputs.1 += dropped;
            w.synacks_discarded += discarded;
            w.max_conns = w.max_conns.max(max_conns);
            for (t, p) in legit_out {
                // Not expected (a flood SYN makes no packet for a client), but never lost.
                match p
                    .get(16..20)
                    .map(|d| IpAddr::from([d[0], d[1], d[2], d[3]]))
                {
                    Some(d) if client_index(d).is_some() => {
                        let i = client_index(d).unwrap_or(0);
                        w.net.send(t + w.clients[i].delay_ns, Some(i), &p);
                    }
                    _ => w.unroutable += 1,
                }
            }
            w.serve_events();
            w.drain_server(times[n - 1]);
            continue;
        }
        let Some(now) = other.filter(|&t| t <= end) else {
            break;
        };
        let all_done = w.clients.iter().all(|c| c.done || c.failure.is_some());
        if all_done && now >= flood_end {
            break;
        }
        let t = Instant::from_nanos(now);
        // Deliveries due now.
        let mut touched = vec![false; CLIENTS];
        while w.net.next_at().is_some_and(|a| a <= now) {
            let Some(p) = w.net.heap.pop() else { break };
            match p.to {
                None => {
                    let r = w.server.handle_packet(t, &p.data);
                    w.note_input(r);
                }
                Some(i) => {
                    if let Some(s) = w.clients[i].stack.as_mut() {
                        s.handle_packet(t, &p.data);
                    }
                    touched[i] = true;
                }
            }
        }
        // Timers due now.
        if w.server.poll_timeout().is_some_and(|d| d <= t) {
            w.server.handle_timeout(t);
        }
        for (i, c) in w.clients.iter_mut().enumerate() {
            let Some(s) = c.stack.as_mut() else { continue };
            if s.poll_timeout().is_some_and(|d| d <= t) {
                s.handle_timeout(t);
                touched[i] = true;
            }
            if c.conn.is_none() && c.start_ns <= now {
                let server = SocketAddr::new(IpAddr::V4(SERVER), PORT);
                match s.connect(t, server, ConnectOptions::default()) {
                    Ok(id) => c.conn = Some(id),
                    Err(e) => c.failure = Some(format!("connect: {e}")),
                }
                touched[i] = true;
            }
        }
        w.serve_events();
        w.drain_server(now);
        for (i, was) in touched.into_iter().enumerate() {
            if was {
                w.client_turn(i, now);
            }
        }
    }
    let st = w.server.stats();
    let accounted = st.packets_in == w.server_inputs.0 + w.server_inputs.1
        && w.server_inputs.1 == st.dropped_total();
    let mut failures: Vec<String> = w
        .clients
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.done)
        .map(|(i, c)| {
            format!(
                "client {i}: {}",
                c.failure.clone().unwrap_or_else(|| "unfinished".into())
            )
        })
        .collect();
    failures.extend(w.server_errors.iter().cloned());
    if w.max_conns > bound {
        failures.push(format!(
            "connection_count() reached {} > syn_backlog + clients = {bound}",
            w.max_conns
        ));
    }
    if w.unroutable > 0 {
        failures.push(format!("{} server packets had nowhere to go", w.unroutable));
    }
    if !accounted {
        failures.push(format!(
            "packets_in {} != accepted {} + dropped {} (dropped_total {})",
            st.packets_in,
            w.server_inputs.0,
            w.server_inputs.1,
            st.dropped_total()
        ));
    }
    let drops = st
        .drops()
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| (r.name(), n))
        .collect();
    let mut client_drops: Vec<(&'static str, u64)> = Vec::new();
    for s in w.clients.iter().filter_map(|c| c.stack.as_ref()) {
        for (r, n) in s.stats().drops().filter(|(_, n)| *n > 0) {
            match client_drops.iter_mut().find(|(name, _)| *name == r.name()) {
                Some(e) => e.1 += n,
                None => client_drops.push((r.name(), n)),
            }
        }
    }
    let since_start = |pick: fn(&Client) -> Option<u64>| {
        let mut v: Vec<f64> = w
            .clients
            .iter()
            .filter_map(|c| pick(c).map(|t| (t - c.start_ns) as f64 / 1e6))
            .collect();
        percentiles(&mut v)
    };
    let handshake_ms = since_start(|c| c.connected_at);
    let exchange_ms = since_start(|c| c.done_at);
    RunResult {
        rate,
        flood_syns: k,
        flood_secs: flood_ns as f64 / 1e9,
        allocs,
        cookies_sent: st.syn_cookies_sent,
        cookies_accepted: st.syn_cookies_accepted,
        synacks_discarded: w.synacks_discarded,
        handshakes: w
            .clients
            .iter()
            .filter(|c| c.connected_at.is_some())
            .count(),
        exchanges: w.clients.iter().filter(|c| c.done).count(),
        handshake_ms,
        exchange_ms,
        max_conns: w.max_conns,
        heap_peak: PEAK.load(Ordering::Relaxed).saturating_sub(heap_before),
        accounted,
        drops,
        client_drops,
        failures,
        wall: wall.elapsed().as_secs_f64(),
    }
}

/// Median, 99th percentile and maximum of `v` (zeros when empty).
fn percentiles(v: &mut [f64]) -> [f64; 3] {
    if v.is_empty() {
        return [0.0; 3];
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(CmpOrdering::Equal));
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    [at(0.5), at(0.99), v[v.len() - 1]]
}

fn main() {
    let wall = WallInstant::now();
    let secs: f64 = std::env::var("SYNFLOOD_SECS")
        .ok()
        .map(|s| s.parse().expect("SYNFLOOD_SECS is a number"))
        .unwrap_or(2.0f64)
        .clamp(0.5, 60.0);
    let rates: Vec<f64> = std::env::var("SYNFLOOD_RATES")
        .ok()
        .map(|s| {
            s.split(',')
                .map(|r| r.trim().parse::<f64>().expect("SYNFLOOD_RATES: numbers") * 1e6)
                .collect()
        })
        .unwrap_or_else(|| vec![0.0, 0.1e6, 1e6, 4e6]);
    println!(
        "synflood: one listener (syn_backlog {SYN_BACKLOG}, backlog {ACCEPT_BACKLOG}, SYN cookies Auto, defaults otherwise) under spoofed SYNs from 10.128.0.0/9 for {secs} s of virtual time, real-client option mixes, SYN-ACKs discarded; {CLIENTS} sanstcp clients (1-10 ms one-way) each connect during the flood, send {REQUEST_LEN} B, read {RESPONSE_LEN} B, close; {} s of virtual grace after the flood",
        GRACE.as_secs()
    );
    println!(
        "per CPU s: flood SYNs / wall time of the server's handle_packet + poll_transmit for them (one thread); conns max: largest connection_count() after any call (bound syn_backlog + clients = {}); heap: peak live heap of the run over its start; allocs/SYN: heap allocations inside the timed flood work per SYN",
        SYN_BACKLOG + CLIENTS
    );
    println!();
    println!(
        "{:>9} {:>10} {:>12} {:>8} {:>10} {:>8} {:>10} {:>11} {:>10} {:>17} {:>10} {:>9} {:>8} {:>10} {:>7}",
        "M SYN/s",
        "flood SYNs",
        "per CPU s",
        "ns/SYN",
        "cookies",
        "ck acc",
        "SYN-ACKs",
        "handshakes",
        "exchanges",
        "exch ms p50/99/max",
        "conns max",
        "heap MiB",
        "allocs",
        "accounted",
        "wall s"
    );
    let mut results = Vec::new();
    for (n, &rate) in rates.iter().enumerate() {
        let r = run(rate, secs, 0x5eed + n as u64);
        let per = r.per_cpu_sec();
        println!(
            "{:>9.2} {:>10} {:>12} {:>8} {:>10} {:>8} {:>10} {:>11} {:>10} {:>17} {:>10} {:>9.2} {:>8} {:>10} {:>7.1}",
            r.rate / 1e6,
            r.flood_syns,
            per.map_or("-".into(), |p| format!("{:.2}M", p / 1e6)),
            per.map_or("-".into(), |p| format!("{:.0}", 1e9 / p)),
            r.cookies_sent,
            r.cookies_accepted,
            r.synacks_discarded,
            format!("{}/{CLIENTS}", r.handshakes),
            format!("{}/{CLIENTS}", r.exchanges),
            format!(
                "{:.0}/{:.0}/{:.0}",
                r.exchange_ms[0], r.exchange_ms[1], r.exchange_ms[2]
            ),
            format!("{}/{}", r.max_conns, SYN_BACKLOG + CLIENTS),
            r.heap_peak as f64 / (1 << 20) as f64,
            if r.flood_syns > 0 {
                format!("{:.3}", r.allocs as f64 / r.flood_syns as f64)
            } else {
                "-".into()
            },
            if r.accounted { "yes" } else { "NO" },
            r.wall,
        );
        results.push(r);
    }
    println!();
    for r in &results {
        let list = |d: &[(&str, u64)]| {
            if d.is_empty() {
                "none".to_string()
            } else {
                d.iter()
                    .map(|(n, c)| format!("{n} {c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        println!(
            "{:>5.2}M SYN/s: handshake ms p50/p99/max {:.1}/{:.1}/{:.1}; server drops: {}; client drops: {}",
            r.rate / 1e6,
            r.handshake_ms[0],
            r.handshake_ms[1],
            r.handshake_ms[2],
            list(&r.drops),
            list(&r.client_drops),
        );
        for f in r.failures.iter().take(10) {
            println!("{:>5.2}M SYN/s: FAILED: {f}", r.rate / 1e6);
        }
        if r.failures.len() > 10 {
            println!(
                "{:>5.2}M SYN/s: ... and {} more failures",
                r.rate / 1e6,
                r.failures.len() - 10
            );
        }
    }
    println!("wall time {:.1} s", wall.elapsed().as_secs_f64());
    let Some(top) = results
        .iter()
        .max_by(|a, b| a.rate.partial_cmp(&b.rate).unwrap_or(CmpOrdering::Equal))
    else {
        println!("synflood: no rate ran");
        return;
    };
    let verdict = if results.iter().all(|r| r.failures.is_empty()) {
        String::new()
    } else {
        format!(
            ", FAILURES {}",
            results.iter().map(|r| r.failures.len()).sum::<usize>()
        )
    };
    println!(
        "synflood: {:.1}M SYN/s virtual, {} SYN/s per CPU second, legitimate {:.1}% ({}/{CLIENTS}), cookies {}{verdict}",
        top.rate / 1e6,
        top.per_cpu_sec()
            .map_or("-".into(), |p| format!("{:.1}M", p / 1e6)),
        top.handshakes as f64 * 100.0 / CLIENTS as f64,
        top.handshakes,
        top.cookies_sent,
    );
}
