//! Connection rate: whole lifecycles per second on one core. A lifecycle is a handshake, one
//! 100-byte request, one 1000-byte response and a close, and it only counts once both ends
//! have let go of it: the client (the active closer) holds TIME-WAIT for 2·MSL of virtual
//! time and the stack frees it from `handle_timeout`, so that cost is inside the figure.
//!
//! Two sanstcp stacks in one process, a client (10.0.0.1) and a server (10.0.0.2:80), with
//! `CONNRATE_CONCURRENCY` (default 1000) lifecycles in flight at a time, so per-connection
//! costs dominate rather than per-turn ones. Each loop turn the client tops up its
//! connections, both applications handle their events (accept, recv, check, send, close),
//! then the network moves every packet until both sides are quiet and the virtual clock
//! moves on by [`STEP`], firing due timers (TIME-WAIT expiry). MSL is 1 ms of virtual time.
//!
//! The network is measured two ways: packets handed from one stack to the other directly in
//! memory (`direct`), and the same two stacks as nodes of the simulator joined by an ideal
//! link (`sim`), to show what the simulator itself costs. The summary line takes `direct`.
//!
//! Every request and response byte is checked: the request carries the lifecycle number and
//! a slice of a random block chosen by it, and the response another slice. The run fails on
//! a wrong byte, an unexpected event or reason, a drop, or connections left over at the end.
//!
//! `CONNRATE_LIFECYCLES` (optional K/M suffix, default 1M) sets lifecycles per run,
//! `CONNRATE_ROUNDS` (default 3) the runs per network (the best counts).

#[allow(dead_code)]
mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant as WallInstant};

use common::Pattern;
use sanstcp::sim::{LinkConfig, NodeId, Sim};
use sanstcp::{
    CloseReason, ConnId, ConnectOptions, Event, Instant, ListenOptions, ListenerId, RecvError,
    Stack, StackConfig,
};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 80;
const REQUEST_LEN: usize = 100;
const RESPONSE_LEN: usize = 1000;
/// Virtual time per loop turn.
const STEP: Duration = Duration::from_micros(50);
/// Maximum segment lifetime (virtual): TIME-WAIT lasts 2 ms, 40 turns.
const MSL: Duration = Duration::from_millis(1);
/// Turns without a completed lifecycle before the run counts as stuck.
const STUCK_TURNS: u64 = 100_000;
/// Wall-clock limit of one run.
const WALL_LIMIT: Duration = Duration::from_secs(300);

fn config(addr: Ipv4Addr, seed: u64) -> StackConfig {
    let mut c = StackConfig::new(vec![IpAddr::V4(addr)], [seed as u8; 16], seed);
    c.msl = MSL;
    // 64k ports: at the default rates some ten thousand client connections sit in TIME-WAIT.
    c.ephemeral_ports = (1024, 65535);
    c.verify_checksums = true;
    c
}

/// Where the packets go between the two stacks.
trait Net {
    fn name(&self) -> &'static str;
    fn client(&mut self) -> &mut Stack;
    fn server(&mut self) -> &mut Stack;
    /// Moves every packet until both sides are quiet, then the clock to `until`, firing due
    /// timers and moving what they send.
    fn run(&mut self, until: Instant);
    /// Packets moved so far.
    fn packets(&self) -> u64;
}

struct Direct {
    client: Stack,
    server: Stack,
    now: Instant,
    buf: Vec<u8>,
    packets: u64,
}

impl Direct {
    /// Moves packets both ways until neither side has anything to send.
    fn settle(&mut self) {
        loop {
            let mut moved = 0;
            while let Some(t) = self.client.poll_transmit(self.now, &mut self.buf) {
                self.server.handle_packet(self.now, &self.buf[..t.len]);
                moved += 1;
            }
            while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf) {
                self.client.handle_packet(self.now, &self.buf[..t.len]);
                moved += 1;
            }
            self.packets += moved;
            if moved == 0 {
                break;
            }
        }
    }
}

impl Net for Direct {
    fn name(&self) -> &'static str {
        "direct"
    }
    fn client(&mut self) -> &mut Stack {
        &mut self.client
    }
    fn server(&mut self) -> &mut Stack {
        &mut self.server
    }
    fn run(&mut self, until: Instant) {
        self.settle();
        self.now = self.now.max(until);
        for s in [&mut self.client, &mut self.server] {
            if s.poll_timeout().is_some_and(|t| t <= self.now) {
                s.handle_timeout(self.now);
            }
        }
        self.settle();
    }
    fn packets(&self) -> u64 {
        self.packets
    }
}

struct Simulated {
    sim: Sim,
    client: NodeId,
    server: NodeId,
}

impl Net for Simulated {
    fn name(&self) -> &'static str {
        "sim"
    }
    fn client(&mut self) -> &mut Stack {
        self.sim.node_mut::<Stack>(self.client)
    }
    fn server(&mut self) -> &mut Stack {
        self.sim.node_mut::<Stack>(self.server)
    }
    fn run(&mut self, until: Instant) {
        assert!(self.sim.advance_to(until), "sim: step budget exhausted");
    }
    fn packets(&self) -> u64 {
        self.sim.stats().delivered
    }
}

/// What the client knows about one of its connections.
#[derive(Clone, Copy, Default)]
struct ClientConn {
    /// `ConnId::to_raw`, 0 when the slot is unused.
    raw: u64,
    lifecycle: u64,
    got: usize,
    /// The response is complete and the connection closed: waiting for TIME-WAIT to end.
    closing: bool,
}

/// What the server knows about one of its connections.
#[derive(Clone, Copy)]
struct ServerConn {
    raw: u64,
    request: [u8; REQUEST_LEN],
    got: usize,
    answered: bool,
    closed: bool,
}

impl Default for ServerConn {
    fn default() -> ServerConn {
        ServerConn {
            raw: 0,
            request: [0; REQUEST_LEN],
            got: 0,
            answered: false,
            closed: false,
        }
    }
}

/// The slot of a connection in a per-stack table indexed like the stack's own.
fn slot_of(c: ConnId) -> usize {
    c.to_raw() as u32 as usize
}

/// The request of lifecycle `n`: `n` in 8 bytes, then a slice of the pattern chosen by `n`
/// (below 1 MiB, so the block has at least 4 KiB left after it).
fn request_offset(n: u64) -> u64 {
    n.wrapping_mul(97) % (1 << 20)
}

fn response_offset(n: u64) -> u64 {
    n.wrapping_mul(101).wrapping_add(7) % (1 << 20)
}

struct Run<'p> {
    pattern: &'p Pattern,
    total: u64,
    concurrency: u64,
    listener: ListenerId,
    clients: Vec<ClientConn>,
    servers: Vec<ServerConn>,
    started: u64,
    /// Lifecycles whose exchange is still going on the client (not yet closed there).
    active: u64,
    /// Lifecycles the client saw end normally after TIME-WAIT.
    client_done: u64,
    server_done: u64,
    request_bytes: u64,
    response_bytes: u64,
    peak_client_conns: usize,
    peak_server_conns: usize,
    rbuf: Vec<u8>,
}

impl Run<'_> {
    fn client_turn(&mut self, s: &mut Stack, now: Instant) -> Result<(), String> {
        // Events first: a Closed event names a slot the stack has already freed for reuse.
        while let Some(e) = s.poll_event() {
            match e {
                Event::Connected { conn } => {
                    let st = self.client(conn)?;
                    let n = st.lifecycle;
                    let mut req = [0u8; REQUEST_LEN];
                    req[..8].copy_from_slice(&n.to_le_bytes());
                    req[8..]
                        .copy_from_slice(&self.pattern.chunk(request_offset(n))[..REQUEST_LEN - 8]);
                    let sent = s
                        .send(conn, &req)
                        .map_err(|e| format!("client send: {e}"))?;
                    if sent != REQUEST_LEN {
                        return Err(format!("client send took {sent} of {REQUEST_LEN}"));
                    }
                }
                Event::Readable { conn } => {
                    let i = slot_of(conn);
                    self.client(conn)?;
                    loop {
                        match s.recv(conn, &mut self.rbuf) {
                            Ok(0) => return Err("client: end of stream before the response".into()),
                            Ok(n) => {
                                let st = &mut self.clients[i];
                                let pos = response_offset(st.lifecycle) + st.got as u64;
                                if st.got + n > RESPONSE_LEN
                                    || !self.pattern.check(pos, &self.rbuf[..n])
                                {
                                    return Err(format!(
                                        "client: wrong response bytes in lifecycle {}",
                                        st.lifecycle
                                    ));
                                }
                                st.got += n;
                                self.response_bytes += n as u64;
                            }
                            Err(RecvError::WouldBlock) => break,
                            Err(e) => return Err(format!("client recv: {e}")),
                        }
                    }
                    let st = &mut self.clients[i];
                    if st.got == RESPONSE_LEN && !st.closing {
                        st.closing = true;
                        self.active -= 1;
                        s.close(conn);
                    }
                }
                // The server's FIN reaches the closed (orphaned) connection: FIN-WAIT-2 to
                // TIME-WAIT.
                Event::PeerClosed { conn } => {
                    if !self.client(conn)?.closing {
                        return Err("client: the server closed first".into());
                    }
                }
                Event::Closed { conn, reason } => {
                    let st = *self.client(conn)?;
                    if reason != CloseReason::Normal || !st.closing {
                        return Err(format!(
                            "client: lifecycle {} closed ({reason:?}) after {} response bytes",
                            st.lifecycle, st.got
                        ));
                    }
                    self.clients[slot_of(conn)].raw = 0;
                    self.client_done += 1;
                }
                Event::Writable { .. } => {}
                other => return Err(format!("client: unexpected {other:?}")),
            }
        }
        let server = SocketAddr::new(IpAddr::V4(SERVER), PORT);
        while self.active < self.concurrency && self.started < self.total {
            let c = s
                .connect(now, server, ConnectOptions::default())
                .map_err(|e| format!("connect: {e}"))?;
            let i = slot_of(c);
            if i >= self.clients.len() {
                self.clients.resize(i + 1, ClientConn::default());
            }
            if self.clients[i].raw != 0 {
                return Err(format!("client slot {i} reused while still in use: started {} active {} done {} old {:x} new {:x}", self.started, self.active, self.client_done, self.clients[i].raw, c.to_raw()));
            }
            self.clients[i] = ClientConn {
                raw: c.to_raw(),
                lifecycle: self.started,
                got: 0,
                closing: false,
            };
            self.started += 1;
            self.active += 1;
        }
        self.peak_client_conns = self.peak_client_conns.max(s.connection_count());
        Ok(())
    }

    fn client(&self, c: ConnId) -> Result<&ClientConn, String> {
        match self.clients.get(slot_of(c)) {
            Some(st) if st.raw == c.to_raw() => Ok(st),
            _ => Err(format!("client: event for an unknown connection {c:?}")),
        }
    }

    fn server_turn(&mut self, s: &mut Stack) -> Result<(), String> {
        while let Some(e) = s.poll_event() {
            match e {
                Event::Incoming { .. } => {
                    while let Some(c) = s.accept(self.listener) {
                        let i = slot_of(c);
                        if i >= self.servers.len() {
                            self.servers.resize(i + 1, ServerConn::default());
                        }
                        if self.servers[i].raw != 0 {
                            return Err(format!("server slot {i} reused while still in use"));
                        }
                        self.servers[i] = ServerConn {
                            raw: c.to_raw(),
                            ..ServerConn::default()
                        };
                    }
                }
                Event::Readable { conn } => {
                    let i = self.server_slot(conn)?;
                    loop {
                        match s.recv(conn, &mut self.rbuf) {
                            Ok(0) => break,
                            Ok(n) => {
                                let st = &mut self.servers[i];
                                if st.got + n > REQUEST_LEN {
                                    return Err("server: more than one request".into());
                                }
                                st.request[st.got..st.got + n].copy_from_slice(&self.rbuf[..n]);
                                st.got += n;
                            }
                            Err(RecvError::WouldBlock) => break,
                            Err(e) => return Err(format!("server recv: {e}")),
                        }
                    }
                    let st = &mut self.servers[i];
                    if st.got == REQUEST_LEN && !st.answered {
                        let n = u64::from_le_bytes(st.request[..8].try_into().unwrap_or_default());
                        if n >= self.started
                            || !self.pattern.check(request_offset(n), &st.request[8..])
                        {
                            return Err(format!("server: wrong request bytes (lifecycle {n})"));
                        }
                        self.request_bytes += REQUEST_LEN as u64;
                        st.answered = true;
                        let resp = &self.pattern.chunk(response_offset(n))[..RESPONSE_LEN];
                        let sent = s
                            .send(conn, resp)
                            .map_err(|e| format!("server send: {e}"))?;
                        if sent != RESPONSE_LEN {
                            return Err(format!("server send took {sent} of {RESPONSE_LEN}"));
                        }
                    }
                }
                Event::PeerClosed { conn } => {
                    let i = self.server_slot(conn)?;
                    let st = &mut self.servers[i];
                    if !st.answered || st.closed {
                        return Err("server: the client closed before the response".into());
                    }
                    st.closed = true;
                    s.close(conn);
                }
                Event::Closed { conn, reason } => {
                    let i = self.server_slot(conn)?;
                    if reason != CloseReason::Normal || !self.servers[i].closed {
                        return Err(format!("server: connection closed ({reason:?})"));
                    }
                    self.servers[i].raw = 0;
                    self.server_done += 1;
                }
                Event::Writable { .. } => {}
                other => return Err(format!("server: unexpected {other:?}")),
            }
        }
        self.peak_server_conns = self.peak_server_conns.max(s.connection_count());
        Ok(())
    }

    fn server_slot(&self, c: ConnId) -> Result<usize, String> {
        let i = slot_of(c);
        match self.servers.get(i) {
            Some(st) if st.raw == c.to_raw() => Ok(i),
            _ => Err(format!("server: event for an unknown connection {c:?}")),
        }
    }
}

struct Outcome {
    secs: f64,
    packets: u64,
    virtual_ms: f64,
    peak_client: usize,
    peak_server: usize,
}

fn lifecycles<N: Net>(
    net: &mut N,
    start: Instant,
    total: u64,
    concurrency: u64,
    pattern: &Pattern,
) -> Result<Outcome, String> {
    let listener = net
        .server()
        .listen(
            SocketAddr::new(IpAddr::V4(SERVER), PORT),
            ListenOptions {
                backlog: (2 * concurrency) as usize,
                syn_backlog: (2 * concurrency) as usize,
            },
        )
        .map_err(|e| format!("listen: {e}"))?;
    let mut run = Run {
        pattern,
        total,
        concurrency,
        listener,
        clients: Vec::new(),
        servers: Vec::new(),
        started: 0,
        active: 0,
        client_done: 0,
        server_done: 0,
        request_bytes: 0,
        response_bytes: 0,
        peak_client_conns: 0,
        peak_server_conns: 0,
        rbuf: vec![0u8; 4096],
    };
    let wall = WallInstant::now();
    let mut now = start;
    let (mut last_done, mut idle_turns) = (0, 0u64);
    while run.client_done < total || run.server_done < total {
        run.client_turn(net.client(), now)?;
        run.server_turn(net.server())?;
        now = now + STEP;
        net.run(now);
        if run.client_done == last_done {
            idle_turns += 1;
            if idle_turns > STUCK_TURNS {
                return Err(format!("stuck: {} of {total} done", run.client_done));
            }
        } else {
            (last_done, idle_turns) = (run.client_done, 0);
            if wall.elapsed() > WALL_LIMIT {
                return Err(format!(
                    "not done after {WALL_LIMIT:?}: {} of {total}",
                    run.client_done
                ));
            }
        }
    }
    let secs = wall.elapsed().as_secs_f64();
    let (c, s) = (
        net.client().connection_count(),
        net.server().connection_count(),
    );
    if c != 0 || s != 0 {
        return Err(format!("connections left over: client {c}, server {s}"));
    }
    if run.request_bytes != total * REQUEST_LEN as u64
        || run.response_bytes != total * RESPONSE_LEN as u64
    {
        return Err(format!(
            "byte counts: requests {}, responses {}",
            run.request_bytes, run.response_bytes
        ));
    }
    let drops = net.client().stats().dropped_total() + net.server().stats().dropped_total();
    if drops != 0 {
        return Err(format!("{drops} packets dropped"));
    }
    Ok(Outcome {
        secs,
        packets: net.packets(),
        virtual_ms: now.saturating_duration_since(start).as_secs_f64() * 1e3,
        peak_client: run.peak_client_conns,
        peak_server: run.peak_server_conns,
    })
}

fn direct(start: Instant) -> Direct {
    Direct {
        client: Stack::new(config(CLIENT, 1)).expect("config"),
        server: Stack::new(config(SERVER, 2)).expect("config"),
        now: start,
        buf: vec![0u8; 65536],
        packets: 0,
    }
}

fn simulated(start: Instant) -> Simulated {
    let mut sim = Sim::new(3);
    sim.set_start(start);
    let client = sim.add_node(Box::new(Stack::new(config(CLIENT, 1)).expect("config")));
    let server = sim.add_node(Box::new(Stack::new(config(SERVER, 2)).expect("config")));
    sim.connect(client, server, LinkConfig::ideal(), LinkConfig::ideal());
    Simulated {
        sim,
        client,
        server,
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

/// Runs one measurement, prints its row, returns the rate.
fn measure<N: Net>(
    mut net: N,
    start: Instant,
    round: u64,
    total: u64,
    concurrency: u64,
    pattern: &Pattern,
) -> Result<f64, String> {
    let name = net.name();
    match lifecycles(&mut net, start, total, concurrency, pattern) {
        Ok(o) => {
            let rate = total as f64 / o.secs;
            println!(
                "{name:<8} {round:>5} {rate:>14.0} {:>8.3} {:>9.2} {:>8.0} {:>8.3} {:>7} {:>7}",
                o.secs,
                o.packets as f64 / total as f64,
                1e9 * o.secs / total as f64,
                o.virtual_ms / 1e3,
                o.peak_client,
                o.peak_server
            );
            Ok(rate)
        }
        Err(e) => {
            println!("{name:<8} {round:>5}   FAILED: {e}");
            Err(e)
        }
    }
}

fn main() {
    let total = env_or("CONNRATE_LIFECYCLES", 1_000_000).max(1);
    let concurrency = env_or("CONNRATE_CONCURRENCY", 1000).max(1);
    let rounds = env_or("CONNRATE_ROUNDS", 3).max(1);
    let pattern = Pattern::new(0xc0ffee);
    let wall = WallInstant::now();
    println!(
        "connrate: {total} lifecycles per run (handshake, {REQUEST_LEN}-byte request, {RESPONSE_LEN}-byte response, client closes first and holds TIME-WAIT), {concurrency} in flight, MSL {} ms virtual, {} us virtual per turn, checksums computed and verified, every byte checked; {rounds} rounds, best counts",
        MSL.as_millis(),
        STEP.as_micros()
    );
    println!("direct: packets handed over in memory; sim: the same two stacks as nodes of the simulator over an ideal link");
    println!();
    println!(
        "{:<8} {:>5} {:>14} {:>8} {:>9} {:>8} {:>8} {:>7} {:>7}",
        "network",
        "round",
        "lifecycles/s",
        "secs",
        "pkts/lc",
        "ns/lc",
        "virt s",
        "peak C",
        "peak S"
    );
    let mut best = [None::<f64>; 2];
    let mut failure = None;
    for round in 1..=rounds {
        let start = Instant::from_secs(1);
        let results = [
            measure(direct(start), start, round, total, concurrency, &pattern),
            measure(simulated(start), start, round, total, concurrency, &pattern),
        ];
        for (b, r) in best.iter_mut().zip(results) {
            match r {
                Ok(rate) => *b = Some(b.map_or(rate, |x: f64| x.max(rate))),
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
    }
    println!();
    println!("peak C / peak S: most connections the client / server stack held at once (TIME-WAIT included)");
    println!("wall time {:.1} s", wall.elapsed().as_secs_f64());
    let show = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.0}"));
    match failure {
        Some(e) => println!("connrate: FAILED: {e}"),
        None => println!(
            "connrate: {} lifecycles/s (in memory; simulator with an ideal link {}/s; target 500000)",
            show(best[0]),
            show(best[1])
        ),
    }
}
