//! Goodput over the simulator's impaired links, sanstcp↔sanstcp against smoltcp↔smoltcp on
//! exactly the same links (same simulator seed, so the same loss draws for the same packet
//! sequence).
//!
//! Single-flow scenarios: client → server over one duplex link, 100 Mbit/s each way, one-way
//! delay RTT/2, a drop-tail queue of one bandwidth-delay product at each sender; random loss
//! (uniform or Gilbert-Elliott bursts) on the data direction only, the ACK direction is clean.
//!
//! Shared bottleneck: four client stacks, each on its own 1 Gbit/s zero-delay access link to a
//! router node that forwards packets unchanged, in order, after a random processing delay of
//! up to one bottleneck packet time (120 µs; see [`Router`] for why), and one 100 Mbit/s link
//! (25 ms each way, a one-BDP drop-tail queue, no random loss) from the router to the server,
//! which runs one connection per client. The flows start within 20 ms of each other and
//! compete only in the router's queue.
//!
//! Goodput is payload bytes over virtual time, from the moment a connection is established
//! until its receiver has read every byte; every byte is compared with what was sent. The
//! client writes the whole transfer and then shuts its side down, as a bulk sender does, so
//! the last (partial) segment goes out with the FIN instead of waiting a round trip for Nagle.
//! A transfer not done within its virtual-time bound is reported as failed with the bytes it
//! got. Both stacks use 4 MiB send and receive buffers: more than the largest BDP here
//! (2.5 MB at 200 ms), so the window never limits.
//!
//! "Steady" goodput is the goodput once the window allows: measured over the second half of
//! the bytes (from the moment the receiver has read half of them to the last byte). Slow start
//! takes at most a few seconds (about 2.5 s at 200 ms), while the first half of a 0 %-loss
//! transfer takes about 19 s, so the second half starts with the window open and covers about
//! 19 s (about 95 round trips at 200 ms) of steady state. It is the figure for "at 0 % loss,
//! at least 95 % of the link rate once the window allows" (100 Mbit/s link: Mbit/s = %). The
//! ceiling is 96.5 % for sanstcp: a 1500-byte packet carries 1448 bytes of payload with the
//! timestamp option.
//!
//! Congestion control: each stack runs each of its algorithms (sanstcp NewReno, its default,
//! and CUBIC; smoltcp's congestion-control features Reno and CUBIC), and the ratio is between
//! each stack's better one in the scenario (its "best"). smoltcp's third setting, no congestion
//! control at all, is not a congestion-control algorithm and is left out. `LOSSY_CC=reno` or
//! `LOSSY_CC=cubic` runs only the one family on both stacks.
//!
//! Fairness: Jain's index over the bytes each flow received from 10 s after the last flow was
//! established (slow start, its overshoot and the first recoveries are over by then) until the
//! first flow finished. The transfers are sized for about two minutes, so the window holds
//! 70 to 100 s, a dozen or more loss epochs per flow. With a drop-tail queue each loss epoch
//! hits only some of the flows (whose packets meet the full queue), so a flow's share depends
//! on how many epochs it was spared; over the 25 s the transfers used to last after start-up
//! that is a handful of epochs, and the index measured luck rather than how the flows share.
//!
//! Each scenario runs with several simulator seeds (`LOSSY_SEEDS`, default 5); the table shows
//! the mean goodput over them and sums the packet counters. `LOSSY_SCALE` (a float, default 1)
//! scales every transfer size; `LOSSY_ONLY=<text>` runs only the scenarios whose label contains
//! it; `LOSSY_PACING=1` turns sanstcp's pacing on (off by default, as in the stack).

#[allow(dead_code)]
mod common;

use std::any::Any;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant as WallInstant};

use common::smoltcp_node::SmoltcpNode;
use common::{jain, mbps, Pattern};
use sanstcp::sim::{BurstLoss, LinkConfig, LinkId, Node, NodeId, Rng, Sim};
use sanstcp::{
    CongestionAlgorithm, ConnId, ConnectOptions, Instant, ListenOptions, ListenerId, RecvError,
    SendError, Stack, StackConfig, TcpState,
};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;

const MTU: usize = 1500;
/// The MSS in the Mathis bound: what a 1500-byte MTU allows without options.
const MSS: f64 = 1460.0;
const LINK_BPS: u64 = 100_000_000;
const BUFFER: usize = 4 << 20;
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const BASE_PORT: u16 = 5001;
/// Steps of one run; a guard far above what any scenario needs.
const MAX_STEPS: u64 = 200_000_000;

/// Bytes per flow of the shared-bottleneck scenario relative to a single flow's: about two
/// minutes of virtual time instead of about 40 s (see the module comment on fairness).
const SHARED_DURATION_FACTOR: f64 = 3.0;
/// How long after the last flow is established the fairness window starts.
const FAIRNESS_WARMUP: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Sans(CongestionAlgorithm),
    Smol(tcp::CongestionControl),
}

/// The router's largest forwarding delay: one packet time at the bottleneck (1500 bytes at
/// 100 Mbit/s).
const ROUTER_JITTER_NS: u64 = 120_000;

/// A router: forwards every packet it gets, unchanged and in order, after a random processing
/// delay of up to [`ROUTER_JITTER_NS`]. Without it every event of the simulation is phase
/// locked to the bottleneck's packet clock: ACK-clocked bursts of the same flows meet the
/// full drop-tail queue at the same instants loss epoch after loss epoch, and the same flows
/// keep escaping the drops (Floyd and Jacobson's "phase effects", 1992; their remedy is this
/// random delay of up to one bottleneck service time). Real routers and hosts have that much
/// noise and more.
struct Router {
    /// Packets and when they may leave (never before the packet ahead of them).
    queue: VecDeque<(Instant, Vec<u8>)>,
    rng: Rng,
}

impl Node for Router {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        let at = Instant::from_nanos(now.as_nanos() + self.rng.gen_range(ROUTER_JITTER_NS));
        let at = self.queue.back().map_or(at, |&(last, _)| last.max(at));
        self.queue.push_back((at, packet.to_vec()));
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.queue.front()?.0 > now {
            return None;
        }
        let (_, p) = self.queue.pop_front()?;
        let n = p.len().min(buf.len());
        buf[..n].copy_from_slice(&p[..n]);
        Some(p.len())
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.queue.front().map(|&(at, _)| at)
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

fn sans_config(addr: Ipv4Addr, seed: u64, cc: CongestionAlgorithm) -> StackConfig {
    let mut c = StackConfig::new(vec![IpAddr::V4(addr)], [seed as u8; 16], seed);
    c.mtu = MTU;
    c.send_buffer = BUFFER;
    c.recv_buffer = BUFFER;
    c.congestion = cc;
    c.pacing = std::env::var("LOSSY_PACING").is_ok_and(|v| v == "1");
    c
}

/// The stacks and algorithms that run: each stack with each congestion-control algorithm,
/// unless `LOSSY_CC=reno` (sanstcp NewReno, smoltcp Reno) or `LOSSY_CC=cubic` (CUBIC on both)
/// picks one.
fn kinds() -> Vec<(Kind, &'static str)> {
    let only = std::env::var("LOSSY_CC")
        .ok()
        .map(|v| v.to_ascii_lowercase());
    let all = [
        (
            Kind::Sans(CongestionAlgorithm::NewReno),
            "s NewReno",
            "reno",
        ),
        (Kind::Sans(CongestionAlgorithm::Cubic), "s CUBIC", "cubic"),
        (Kind::Smol(tcp::CongestionControl::Reno), "sm Reno", "reno"),
        (
            Kind::Smol(tcp::CongestionControl::Cubic),
            "sm CUBIC",
            "cubic",
        ),
    ];
    all.into_iter()
        .filter(|(_, _, cc)| only.as_deref().is_none_or(|o| o.contains(cc)))
        .map(|(k, name, _)| (k, name))
        .collect()
}

/// One end of a connection, as the application sees it.
enum End {
    Sans {
        node: NodeId,
        listener: Option<ListenerId>,
        conn: Option<ConnId>,
    },
    Smol {
        node: NodeId,
        socket: SocketHandle,
    },
}

fn drain_events(s: &mut Stack) {
    for _ in 0..1_000_000 {
        if s.poll_event().is_none() {
            break;
        }
    }
}

impl End {
    fn established(&mut self, sim: &mut Sim) -> bool {
        match self {
            End::Sans {
                node,
                listener,
                conn,
            } => {
                let s = sim.node_mut::<Stack>(*node);
                drain_events(s);
                if conn.is_none() {
                    *conn = listener.and_then(|l| s.accept(l));
                }
                conn.and_then(|c| s.info(c))
                    .is_some_and(|i| i.state == TcpState::Established)
            }
            End::Smol { node, socket } => {
                sim.node::<SmoltcpNode>(*node).tcp_ref(*socket).state() == tcp::State::Established
            }
        }
    }

    /// Queues data; `Ok(0)` when the buffer is full.
    fn send(&mut self, sim: &mut Sim, data: &[u8]) -> Result<usize, String> {
        match self {
            End::Sans { node, conn, .. } => {
                let s = sim.node_mut::<Stack>(*node);
                drain_events(s);
                match s.send(conn.ok_or("no connection")?, data) {
                    Ok(n) => Ok(n),
                    Err(SendError::WouldBlock) => Ok(0),
                    Err(e) => Err(format!("send: {e}")),
                }
            }
            End::Smol { node, socket } => sim
                .node_mut::<SmoltcpNode>(*node)
                .tcp(*socket)
                .send_slice(data)
                .map_err(|e| format!("send: {e}")),
        }
    }

    /// Reads; `Ok(Some(0))` when nothing is there now, `Ok(None)` at the end of the stream.
    fn recv(&mut self, sim: &mut Sim, buf: &mut [u8]) -> Result<Option<usize>, String> {
        match self {
            End::Sans { node, conn, .. } => {
                let s = sim.node_mut::<Stack>(*node);
                drain_events(s);
                match s.recv(conn.ok_or("no connection")?, buf) {
                    Ok(0) => Ok(None),
                    Ok(n) => Ok(Some(n)),
                    Err(RecvError::WouldBlock) => Ok(Some(0)),
                    Err(e) => Err(format!("recv: {e}")),
                }
            }
            End::Smol { node, socket } => {
                match sim
                    .node_mut::<SmoltcpNode>(*node)
                    .tcp(*socket)
                    .recv_slice(buf)
                {
                    Ok(n) => Ok(Some(n)),
                    Err(tcp::RecvError::Finished) => Ok(None),
                    Err(e) => Err(format!("recv: {e}")),
                }
            }
        }
    }

    /// Half-closes: the FIN follows the data already queued.
    fn shutdown(&mut self, sim: &mut Sim) -> Result<(), String> {
        match self {
            End::Sans { node, conn, .. } => sim
                .node_mut::<Stack>(*node)
                .shutdown(conn.ok_or("no connection")?)
                .map_err(|e| format!("shutdown: {e}")),
            End::Smol { node, socket } => {
                sim.node_mut::<SmoltcpNode>(*node).tcp(*socket).close();
                Ok(())
            }
        }
    }
}

/// One transfer from a client to the server.
struct Flow {
    tx: End,
    rx: End,
    total: u64,
    /// Where in the pattern this flow's stream starts (flows differ, so crossed streams fail).
    offset: u64,
    sent: u64,
    /// Whether the client has shut its side down (after queuing the last byte).
    shut: bool,
    received: u64,
    established: Option<Instant>,
    /// When the receiver had read half of the bytes, and how many it had then.
    half: Option<(Instant, u64)>,
    done: Option<Instant>,
    /// When the client opens the connection, and whether it has.
    start_at: Instant,
    started: bool,
    remote: SocketAddr,
    local_port: u16,
}

impl Flow {
    /// Opens the connection from the client (the server side listens already).
    fn start(&mut self, sim: &mut Sim) {
        self.started = true;
        match &mut self.tx {
            End::Sans { node, conn, .. } => {
                let now = sim.now();
                let opts = ConnectOptions {
                    send_buffer: Some(BUFFER),
                    recv_buffer: Some(BUFFER),
                    ..ConnectOptions::default()
                };
                let c = sim
                    .node_mut::<Stack>(*node)
                    .connect(now, self.remote, opts)
                    .expect("connect");
                *conn = Some(c);
            }
            End::Smol { node, socket } => {
                sim.node_mut::<SmoltcpNode>(*node)
                    .connect(*socket, self.remote, self.local_port);
            }
        }
    }

    /// Application work at the current instant: send what fits, read and check what arrived.
    fn pump(&mut self, sim: &mut Sim, pattern: &Pattern, buf: &mut [u8]) -> Result<(), String> {
        if self.done.is_some() {
            return Ok(());
        }
        if self.established.is_none() {
            if !(self.tx.established(sim) && self.rx.established(sim)) {
                return Ok(());
            }
            self.established = Some(sim.now());
        }
        for _ in 0..64 {
            if self.sent >= self.total {
                break;
            }
            let chunk = pattern.chunk_max(self.offset + self.sent, self.total - self.sent);
            let n = self.tx.send(sim, chunk)?;
            if n == 0 {
                break;
            }
            self.sent += n as u64;
        }
        if self.sent == self.total && !self.shut {
            self.shut = true;
            self.tx.shutdown(sim)?;
        }
        for _ in 0..1024 {
            let Some(n) = self.rx.recv(sim, buf)? else {
                if self.received < self.total {
                    return Err(format!("end of stream after {} bytes", self.received));
                }
                break;
            };
            if n == 0 {
                break;
            }
            if !pattern.check(self.offset + self.received, &buf[..n]) {
                return Err(format!("corrupt data at byte {}", self.received));
            }
            self.received += n as u64;
            if self.received > self.total {
                return Err("more bytes received than sent".into());
            }
        }
        if self.half.is_none() && self.received >= self.total / 2 {
            self.half = Some((sim.now(), self.received));
        }
        if self.received == self.total {
            self.done = Some(sim.now());
        }
        Ok(())
    }

    /// Goodput over the second half of the bytes, Mbit/s (once done).
    fn steady(&self) -> Option<f64> {
        let (at, got) = self.half?;
        let done = self.done?;
        Some(mbps(
            self.total - got,
            done.saturating_duration_since(at).as_secs_f64(),
        ))
    }

    fn secs(&self, end: Instant) -> f64 {
        let start = self.established.unwrap_or(Instant::ZERO);
        end.saturating_duration_since(start).as_secs_f64()
    }
}

/// The impairment of a scenario's data direction.
#[derive(Clone, Copy)]
enum Loss {
    Uniform(f64),
    Burst(BurstLoss),
}

impl Loss {
    /// Long-run packet loss probability.
    fn mean(self) -> f64 {
        match self {
            Loss::Uniform(p) => p,
            Loss::Burst(b) => b.p_good_to_bad / (b.p_good_to_bad + b.p_bad_to_good) * b.loss_in_bad,
        }
    }
    fn apply(self, link: LinkConfig) -> LinkConfig {
        match self {
            Loss::Uniform(p) => link.with_loss(p),
            Loss::Burst(b) => link.with_burst_loss(b),
        }
    }
}

struct Scenario {
    label: String,
    rtt_ms: u64,
    loss: Loss,
    flows: usize,
    /// Bytes per flow.
    size: u64,
    /// Virtual-time bound.
    bound: Duration,
}

/// The Mathis et al. bound in Mbit/s: MSS·8/RTT · 1.22/√p.
fn mathis(rtt_ms: u64, p: f64) -> Option<f64> {
    (p > 0.0).then(|| MSS * 8.0 / (rtt_ms as f64 / 1000.0) * 1.22 / p.sqrt() / 1e6)
}

fn bdp_bytes(rtt_ms: u64) -> usize {
    (LINK_BPS as f64 / 8.0 * rtt_ms as f64 / 1000.0) as usize
}

/// What one stack did in one scenario.
struct RunResult {
    /// Per flow: bytes received, seconds from establishment to done (or to the bound).
    flows: Vec<(u64, f64, bool)>,
    /// Aggregate goodput, Mbit/s (the single flow's goodput for one flow).
    goodput: f64,
    /// The single flow's goodput over the second half of its bytes, Mbit/s.
    steady: Option<f64>,
    /// Jain's index over the bytes each flow received in the fairness window (see the module
    /// comment), and the window's length in seconds.
    fairness: Option<(f64, f64)>,
    failure: Option<String>,
    /// Data-direction packets put on the bottleneck, dropped by loss, dropped by the queue.
    sent: u64,
    lost: u64,
    queue_drops: u64,
    /// sanstcp only: the senders' retransmitted segments, RTO expirations, fast retransmits
    /// and D-SACK blocks received (each one a segment the receiver got twice).
    rexmit: Option<[u64; 4]>,
    virtual_secs: f64,
    wall_secs: f64,
}

struct Built {
    sim: Sim,
    flows: Vec<Flow>,
    /// The data direction of the bottleneck link and its sending node.
    bottleneck: (LinkId, NodeId),
    clients: Vec<NodeId>,
}

fn add_stack(sim: &mut Sim, kind: Kind, addr: Ipv4Addr, seed: u64) -> NodeId {
    let seed = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(u32::from(addr));
    match kind {
        Kind::Sans(cc) => sim.add_node(Box::new(
            Stack::new(sans_config(addr, seed, cc)).expect("config"),
        )),
        Kind::Smol(_) => sim.add_node(Box::new(SmoltcpNode::new(addr, 8, MTU, seed))),
    }
}

/// Sets up flow `i` from `client` to `server`: the server listens; the client connects at
/// `start_at` ([`Flow::start`]).
fn open_flow(
    sim: &mut Sim,
    kind: Kind,
    (client, server): (NodeId, NodeId),
    i: usize,
    size: u64,
    start_at: Instant,
) -> Flow {
    let port = BASE_PORT + i as u16;
    let remote = SocketAddr::new(IpAddr::V4(SERVER), port);
    let (tx, rx) = match kind {
        Kind::Sans(_) => {
            let l = sim
                .node_mut::<Stack>(server)
                .listen(remote, ListenOptions::default())
                .expect("listen");
            (
                End::Sans {
                    node: client,
                    listener: None,
                    conn: None,
                },
                End::Sans {
                    node: server,
                    listener: Some(l),
                    conn: None,
                },
            )
        }
        Kind::Smol(cc) => {
            let srv = sim.node_mut::<SmoltcpNode>(server);
            let hs = srv.add_tcp(BUFFER, BUFFER, cc);
            srv.listen(hs, port);
            let hc = sim
                .node_mut::<SmoltcpNode>(client)
                .add_tcp(BUFFER, BUFFER, cc);
            (
                End::Smol {
                    node: client,
                    socket: hc,
                },
                End::Smol {
                    node: server,
                    socket: hs,
                },
            )
        }
    };
    Flow {
        tx,
        rx,
        total: size,
        offset: i as u64 * 100_003,
        sent: 0,
        shut: false,
        received: 0,
        established: None,
        half: None,
        done: None,
        start_at,
        started: false,
        remote,
        local_port: 49152 + i as u16,
    }
}

fn build(kind: Kind, sc: &Scenario, seed: u64) -> Built {
    let mut sim = Sim::new(seed);
    let one_way = Duration::from_millis(sc.rtt_ms) / 2;
    let queue = bdp_bytes(sc.rtt_ms);
    let slow = LinkConfig::ideal()
        .with_bandwidth(LINK_BPS)
        .with_delay(one_way)
        .with_queue(queue);
    if sc.flows == 1 {
        let client = add_stack(&mut sim, kind, Ipv4Addr::new(10, 0, 0, 1), seed);
        let server = add_stack(&mut sim, kind, SERVER, seed);
        let link = sim.connect(client, server, sc.loss.apply(slow), slow);
        let flows = vec![open_flow(
            &mut sim,
            kind,
            (client, server),
            0,
            sc.size,
            Instant::ZERO,
        )];
        Built {
            sim,
            flows,
            bottleneck: (link, client),
            clients: vec![client],
        }
    } else {
        let server = add_stack(&mut sim, kind, SERVER, seed);
        let router = sim.add_node(Box::new(Router {
            queue: VecDeque::new(),
            rng: Rng::new(seed ^ 0x0072_6f75_7465),
        }));
        let bottleneck = sim.connect(router, server, sc.loss.apply(slow), slow);
        sim.set_default_route(server, Some(bottleneck));
        let access = LinkConfig::ideal().with_bandwidth(10 * LINK_BPS);
        let mut clients = Vec::new();
        let mut flows = Vec::new();
        let mut jitter = Rng::new(seed);
        for i in 0..sc.flows {
            let addr = Ipv4Addr::new(10, 0, 1, 1 + i as u8);
            let client = add_stack(&mut sim, kind, addr, seed);
            let link = sim.connect(client, router, access, access);
            sim.set_default_route(client, Some(link));
            clients.push(client);
            // Start times spread over 20 ms, different for every seed.
            let start = Instant::from_micros(jitter.gen_range(20_000));
            flows.push(open_flow(
                &mut sim,
                kind,
                (client, server),
                i,
                sc.size,
                start,
            ));
        }
        Built {
            sim,
            flows,
            bottleneck: (bottleneck, router),
            clients,
        }
    }
}

fn run(kind: Kind, sc: &Scenario, pattern: &Pattern, seed: u64) -> RunResult {
    let wall = WallInstant::now();
    let Built {
        mut sim,
        mut flows,
        bottleneck,
        clients,
    } = build(kind, sc, seed);
    let limit = Instant::ZERO + sc.bound;
    let mut buf = vec![0u8; 65536];
    let mut failure = None;
    // Bytes per flow at the start of the fairness window and when the first flow finished.
    let mut window_start: Option<(Instant, Vec<u64>)> = None;
    let mut first_done: Option<(Instant, Vec<u64>)> = None;
    let mut steps = 0u64;
    'outer: loop {
        for f in &mut flows {
            if !f.started && f.start_at <= sim.now() {
                f.start(&mut sim);
            }
        }
        for f in &mut flows {
            if let Err(e) = f.pump(&mut sim, pattern, &mut buf) {
                failure = Some(e);
                break 'outer;
            }
        }
        if window_start.is_none() && flows.iter().all(|f| f.established.is_some()) {
            let last = flows.iter().filter_map(|f| f.established).max();
            if last.is_some_and(|t| sim.now() >= t + FAIRNESS_WARMUP) {
                window_start = Some((sim.now(), flows.iter().map(|f| f.received).collect()));
            }
        }
        if first_done.is_none() && flows.iter().any(|f| f.done.is_some()) {
            first_done = Some((sim.now(), flows.iter().map(|f| f.received).collect()));
        }
        if flows.iter().all(|f| f.done.is_some()) {
            break;
        }
        steps += 1;
        if steps > MAX_STEPS {
            failure = Some(format!("step budget ({MAX_STEPS}) exhausted"));
            break;
        }
        let next_start = flows
            .iter()
            .filter(|f| !f.started)
            .map(|f| f.start_at)
            .min()
            .filter(|&t| t <= limit);
        if !sim.step(next_start.unwrap_or(limit)) {
            if let Some(t) = next_start {
                // Nothing happens before the next flow starts: go there.
                sim.advance_to(t);
                continue;
            }
            // Past the bound, or nothing pending: one last look, then give up.
            for f in &mut flows {
                if let Err(e) = f.pump(&mut sim, pattern, &mut buf) {
                    failure = Some(e);
                    break 'outer;
                }
            }
            if !flows.iter().all(|f| f.done.is_some()) {
                let got: u64 = flows.iter().map(|f| f.received).sum();
                let why = if sim.now() >= limit {
                    "not done within the bound"
                } else {
                    "stalled: nothing pending"
                };
                failure = Some(format!(
                    "{why} at {:.1} s: {got} of {} bytes",
                    sim.now().as_nanos() as f64 / 1e9,
                    sc.size * sc.flows as u64
                ));
            }
            break;
        }
    }
    let now = sim.now();
    let per_flow: Vec<(u64, f64, bool)> = flows
        .iter()
        .map(|f| (f.received, f.secs(f.done.unwrap_or(now)), f.done.is_some()))
        .collect();
    let start = flows
        .iter()
        .filter_map(|f| f.established)
        .min()
        .unwrap_or(Instant::ZERO);
    let end = flows
        .iter()
        .map(|f| f.done.unwrap_or(now))
        .max()
        .unwrap_or(now);
    let total: u64 = flows.iter().map(|f| f.received).sum();
    let goodput = mbps(total, end.saturating_duration_since(start).as_secs_f64());
    let steady = if sc.flows == 1 {
        flows[0].steady()
    } else {
        None
    };
    let fairness = match (sc.flows > 1, window_start, first_done) {
        (true, Some((from, start)), Some((to, end))) => {
            let shares: Vec<f64> = end
                .iter()
                .zip(&start)
                .map(|(e, s)| (e - s) as f64)
                .collect();
            Some((
                jain(&shares),
                to.saturating_duration_since(from).as_secs_f64(),
            ))
        }
        (true, ..) => {
            if failure.is_none() {
                failure = Some("the first flow finished before the fairness window".into());
            }
            None
        }
        _ => None,
    };
    let ls = sim.link_stats(bottleneck.0, bottleneck.1);
    let rexmit = matches!(kind, Kind::Sans(_)).then(|| {
        clients.iter().fold([0; 4], |[r, t, f, d], &c| {
            let s = sim.node::<Stack>(c).stats();
            [
                r + s.retransmitted_segments,
                t + s.rto_expirations,
                f + s.fast_retransmits,
                d + s.dsacks_received,
            ]
        })
    });
    let stuck: u64 = match kind {
        Kind::Smol(_) => (0..sim.node_count())
            .filter_map(|i| sim.try_node::<SmoltcpNode>(NodeId(i)))
            .map(|n| n.stuck_polls)
            .sum(),
        Kind::Sans(_) => 0,
    };
    if stuck > 0 {
        println!("  note: {} smoltcp stuck polls in {}", stuck, sc.label);
    }
    RunResult {
        flows: per_flow,
        goodput,
        steady,
        fairness,
        failure,
        sent: ls.sent,
        lost: ls.dropped_loss,
        queue_drops: ls.dropped_queue,
        rexmit,
        virtual_secs: now.as_nanos() as f64 / 1e9,
        wall_secs: wall.elapsed().as_secs_f64(),
    }
}

fn scenarios(scale: f64) -> Vec<Scenario> {
    // Size each transfer for about 60 s of virtual time at 60 % of the smaller of the link
    // rate and the Mathis bound (the shared bottleneck: three times that); the virtual-time
    // bound is 30 times that.
    let sized = |rtt_ms: u64, loss: Loss, flows: usize, label: String| {
        let expect = mathis(rtt_ms, loss.mean()).map_or(100.0, |m| m.min(100.0)) * 0.6;
        let secs = if flows > 1 {
            60.0 * SHARED_DURATION_FACTOR
        } else {
            60.0
        };
        let size = (expect * 1e6 / 8.0 * secs / flows as f64 * scale) as u64;
        let size = size.clamp(256 << 10, 512 << 20);
        let bound = (size as f64 * flows as f64 * 8.0 / (expect * 1e6) * 30.0).max(120.0);
        Scenario {
            label,
            rtt_ms,
            loss,
            flows,
            size,
            bound: Duration::from_secs_f64(bound),
        }
    };
    let mut v = Vec::new();
    for p in [0.0, 0.001, 0.01, 0.05] {
        for rtt in [10, 50, 200] {
            let label = format!("{:>4}% loss {:>3} ms", p * 100.0, rtt);
            v.push(sized(rtt, Loss::Uniform(p), 1, label));
        }
    }
    let burst = BurstLoss::new(0.001, 0.1, 0.5);
    v.push(sized(
        50,
        Loss::Burst(burst),
        1,
        format!("burst {:.2}% 50 ms", Loss::Burst(burst).mean() * 100.0),
    ));
    v.push(sized(
        50,
        Loss::Uniform(0.0),
        4,
        "4 flows shared 50 ms".to_string(),
    ));
    v
}

/// One stack's runs of one scenario over all seeds.
#[derive(Default)]
struct Agg {
    goodputs: Vec<f64>,
    steady: Vec<f64>,
    failures: Vec<String>,
    /// Per seed: Jain's index and the length of its window, seconds.
    fairness: Vec<(f64, f64)>,
    /// Per seed, per flow: Mbit/s and whether the flow finished.
    per_flow: Vec<Vec<(f64, bool)>>,
    sent: u64,
    lost: u64,
    queue_drops: u64,
    rexmit: Option<[u64; 4]>,
    virtual_secs: f64,
    wall_secs: f64,
}

impl Agg {
    fn add(&mut self, r: RunResult) {
        self.goodputs.push(r.goodput);
        self.steady.extend(r.steady);
        if let Some(f) = r.failure {
            self.failures.push(f);
        }
        if let Some(f) = r.fairness {
            self.fairness.push(f);
        }
        self.per_flow.push(
            r.flows
                .iter()
                .map(|&(b, secs, done)| (mbps(b, secs), done))
                .collect(),
        );
        self.sent += r.sent;
        self.lost += r.lost;
        self.queue_drops += r.queue_drops;
        if let Some(add) = r.rexmit {
            let mut sum = self.rexmit.unwrap_or([0; 4]);
            for (s, a) in sum.iter_mut().zip(add) {
                *s += a;
            }
            self.rexmit = Some(sum);
        }
        self.virtual_secs += r.virtual_secs;
        self.wall_secs += r.wall_secs;
    }

    fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    fn mean(&self) -> f64 {
        mean(&self.goodputs)
    }

    fn min_max(&self) -> (f64, f64) {
        let min = self.goodputs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self.goodputs.iter().copied().fold(0.0, f64::max);
        (min, max)
    }

    /// The mean goodput, or how many runs failed.
    fn cell(&self) -> String {
        if self.ok() {
            format!("{:.2}", self.mean())
        } else {
            format!("FAIL{}/{}", self.failures.len(), self.goodputs.len())
        }
    }

    /// The mean goodput over the second half of the bytes.
    fn steady(&self) -> Option<f64> {
        (self.ok() && !self.steady.is_empty()).then(|| mean(&self.steady))
    }

    /// Mean and smallest Jain index over the seeds.
    fn fairness(&self) -> Option<(f64, f64)> {
        (!self.fairness.is_empty()).then(|| {
            let idx: Vec<f64> = self.fairness.iter().map(|f| f.0).collect();
            (
                mean(&idx),
                idx.iter().copied().fold(f64::INFINITY, f64::min),
            )
        })
    }
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

fn ratio(s: &Agg, m: &Agg) -> Option<f64> {
    (s.ok() && m.ok() && m.mean() > 0.0).then(|| s.mean() / m.mean())
}

/// Of the runs `idx` (one stack, each algorithm): the better one, finished everywhere first,
/// then by mean goodput.
fn best(runs: &[(Kind, &'static str, Agg)], idx: &[usize]) -> Option<usize> {
    let key = |i: usize| (runs[i].2.ok(), runs[i].2.mean());
    idx.iter()
        .copied()
        .max_by(|&i, &j| key(i).partial_cmp(&key(j)).expect("no NaN"))
}

fn cell2(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{v:.2}"))
}

fn main() {
    let wall = WallInstant::now();
    let scale: f64 = std::env::var("LOSSY_SCALE")
        .ok()
        .map(|s| s.parse().expect("LOSSY_SCALE is a number"))
        .unwrap_or(1.0);
    let seeds: u64 = std::env::var("LOSSY_SEEDS")
        .ok()
        .map(|s| s.parse().expect("LOSSY_SEEDS is a number"))
        .unwrap_or(5)
        .max(1);
    let pattern = Pattern::new(0x1055);
    let kinds = kinds();
    println!(
        "lossy: 100 Mbit/s links, one-BDP drop-tail queues, random loss on the data direction only; {} MiB send/recv buffers on both stacks; {} (defaults otherwise)",
        BUFFER >> 20,
        kinds
            .iter()
            .map(|k| k.1)
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "goodput: Mbit/s of virtual time from establishment to the last byte read, mean over {seeds} simulator seeds (s = sanstcp, sm = smoltcp 0.14); best: the stack's better algorithm in this scenario; ratio: sanstcp best / smoltcp best"
    );
    println!(
        "steady: goodput over the second half of the bytes (once the window allows) of each stack's best; Mbit/s = % of the 100 Mbit/s link; ceilings 96.5 (sanstcp, 1448-byte payloads with timestamps) and 97.3 (smoltcp, 1460)"
    );
    println!(
        "Mathis = MSS*8/RTT*1.22/sqrt(p) with MSS {MSS} and p the mean packet loss rate; s/bound = sanstcp best / min(Mathis, 100 Mbit/s)"
    );
    println!(
        "sent/lost/q: data-direction packets put on the bottleneck / lost at random / dropped by the full queue, summed over seeds, each stack's best; last column: the sanstcp best's retransmitted segments, RTO expirations, fast retransmits, D-SACKs received (duplicates the receiver saw), summed over seeds"
    );
    println!(
        "4 flows: 4 clients -> router (1 Gbit/s access links) -> one 100 Mbit/s, 25 ms each way bottleneck with a 625 kB drop-tail queue -> 1 server, starting within 20 ms; fairness = Jain's index over the bytes each flow received from {} s after the last flow was established until the first flow finished, mean (min) over seeds",
        FAIRNESS_WARMUP.as_secs()
    );
    println!();
    let mut head = format!("{:<22} {:>9}", "scenario", "size");
    for (_, name) in &kinds {
        head.push_str(&format!(" {name:>9}"));
    }
    println!(
        "{head} {:>14} {:>5} {:>13} {:>6} {:>6} {:>20} {:>20} {:>11} {:>6}  sanstcp best",
        "best s/sm",
        "ratio",
        "steady s/sm",
        "Mathis",
        "s/bnd",
        "sanstcp sent/lost/q",
        "smoltcp sent/lost/q",
        "virt s s/sm",
        "wall s"
    );
    let mut details = Vec::new();
    let mut summary_case = None;
    let mut steady_zero = Vec::new();
    // Per algorithm: its name with the mean and smallest Jain index.
    let mut fairness: Vec<String> = Vec::new();
    let sans: Vec<usize> = (0..kinds.len())
        .filter(|&i| matches!(kinds[i].0, Kind::Sans(_)))
        .collect();
    let smol: Vec<usize> = (0..kinds.len())
        .filter(|&i| matches!(kinds[i].0, Kind::Smol(_)))
        .collect();
    let only = std::env::var("LOSSY_ONLY").ok();
    for sc in scenarios(scale) {
        if only.as_deref().is_some_and(|o| !sc.label.contains(o)) {
            continue;
        }
        let mut runs: Vec<(Kind, &'static str, Agg)> = kinds
            .iter()
            .map(|&(k, name)| (k, name, Agg::default()))
            .collect();
        for i in 0..seeds {
            let seed = 0x1055 + i;
            for (kind, _, agg) in runs.iter_mut() {
                agg.add(run(*kind, &sc, &pattern, seed));
            }
        }
        let bs = best(&runs, &sans);
        let bm = best(&runs, &smol);
        let (s, m) = (bs.map(|i| &runs[i].2), bm.map(|i| &runs[i].2));
        let size = if sc.flows > 1 {
            format!("{}x{:.1}M", sc.flows, sc.size as f64 / 1e6)
        } else {
            format!("{:.1}M", sc.size as f64 / 1e6)
        };
        let mut line = format!("{:<22} {:>9}", sc.label, size);
        for (_, _, a) in &runs {
            line.push_str(&format!(" {:>9}", a.cell()));
        }
        let bound = mathis(sc.rtt_ms, sc.loss.mean()).map(|b| b.min(LINK_BPS as f64 / 1e6));
        let vs_bound = match (bound, s) {
            (Some(b), Some(s)) if s.ok() => format!("{:.2}", s.mean() / b),
            _ => "-".into(),
        };
        let name = |i: Option<usize>| i.map_or("-", |i| runs[i].1.split(' ').nth(1).unwrap_or(""));
        let counters = |a: Option<&Agg>| {
            a.map_or("-".into(), |a| {
                format!("{}/{}/{}", a.sent, a.lost, a.queue_drops)
            })
        };
        let n = seeds as f64;
        let virt = |a: Option<&Agg>| a.map_or("-".into(), |a| format!("{:.1}", a.virtual_secs / n));
        let r = match (s, m) {
            (Some(s), Some(m)) => ratio(s, m),
            _ => None,
        };
        let rex = s
            .and_then(|s| s.rexmit)
            .map(|[r, t, f, d]| format!("rexmit {r} rto {t} fast {f} dsack {d}"))
            .unwrap_or_default();
        let wall_all: f64 = runs.iter().map(|r| r.2.wall_secs).sum();
        println!(
            "{line} {:>14} {:>5} {:>13} {:>6} {:>6} {:>20} {:>20} {:>11} {:>6.1}  {}",
            format!("{}/{}", name(bs), name(bm)),
            r.map_or("-".into(), |r| format!("{r:.2}")),
            format!(
                "{}/{}",
                cell2(s.and_then(Agg::steady)),
                cell2(m.and_then(Agg::steady))
            ),
            mathis(sc.rtt_ms, sc.loss.mean()).map_or("-".into(), |b| format!("{b:.2}")),
            vs_bound,
            counters(s),
            counters(m),
            format!("{}/{}", virt(s), virt(m)),
            wall_all,
            rex,
        );
        for (_, who, a) in &runs {
            let (lo, hi) = a.min_max();
            let list = |xs: &[f64]| {
                xs.iter()
                    .map(|g| format!("{g:.2}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut line = format!(
                "{:<22} {who}: per seed [{}] (min {lo:.2}, max {hi:.2})",
                sc.label,
                list(&a.goodputs),
            );
            if !a.steady.is_empty() {
                line.push_str(&format!(", steady [{}]", list(&a.steady)));
            }
            if let Some([r, t, f, d]) = a.rexmit {
                line.push_str(&format!(", rexmit {r} rto {t} fast {f} dsack {d}"));
            }
            for f in &a.failures {
                line.push_str(&format!("\n{:<22} {who} FAILED: {f}", ""));
            }
            if sc.flows > 1 {
                for (i, flows) in a.per_flow.iter().enumerate() {
                    let per: Vec<String> = flows
                        .iter()
                        .map(|&(r, done)| {
                            format!("{r:.2}{}", if done { "" } else { "(unfinished)" })
                        })
                        .collect();
                    let (f, secs) = a.fairness.get(i).copied().unwrap_or((0.0, 0.0));
                    line.push_str(&format!(
                        "\n{:<22} {who}: seed {i} per-flow Mbit/s [{}], fairness {f:.3} over {secs:.1} s",
                        "",
                        per.join(", "),
                    ));
                }
            }
            details.push(line);
        }
        if sc.flows > 1 {
            fairness = runs
                .iter()
                .map(|(_, name, a)| match a.fairness() {
                    Some((mean, min)) if a.ok() => format!("{name} {mean:.2} (min {min:.2})"),
                    _ => format!("{name} FAILED"),
                })
                .collect();
        }
        if sc.flows == 1 && matches!(sc.loss, Loss::Uniform(p) if p == 0.0) {
            // The target holds for every algorithm: the smallest.
            let steady: Option<Vec<f64>> = sans.iter().map(|&i| runs[i].2.steady()).collect();
            steady_zero.push(steady.and_then(|v| v.into_iter().reduce(f64::min)));
        }
        if sc.flows == 1 && sc.rtt_ms == 50 && matches!(sc.loss, Loss::Uniform(p) if p == 0.01) {
            if let (Some(i), Some(j)) = (bs, bm) {
                let (si, sn) = (runs[i].1, runs[j].1);
                let a = std::mem::take(&mut runs[i].2);
                let b = std::mem::take(&mut runs[j].2);
                summary_case = Some((a, si, b, sn));
            }
        }
    }
    println!();
    println!("goodput per seed, Mbit/s:");
    for d in &details {
        println!("{d}");
    }
    println!();
    println!("wall time {:.1} s", wall.elapsed().as_secs_f64());
    let show = |a: &Agg, name: &str| {
        if a.ok() {
            format!("{:.2} Mbit/s ({name})", a.mean())
        } else {
            format!(
                "FAILED {}/{} runs ({name})",
                a.failures.len(),
                a.goodputs.len()
            )
        }
    };
    let fair = fairness.join(", ");
    let steady = steady_zero
        .iter()
        .map(|s| s.map_or("-".into(), |v| format!("{v:.1}")))
        .collect::<Vec<_>>()
        .join("/");
    match summary_case {
        Some((s, sn, m, mn)) => println!(
            "lossy: 1% loss 50 ms: sanstcp {}, smoltcp {}, ratio {}; 0% loss steady (worst sanstcp algorithm) {steady} % of link at 10/50/200 ms; fairness {fair}",
            show(&s, sn),
            show(&m, mn),
            ratio(&s, &m).map_or("-".into(), |r| format!("{r:.2}")),
        ),
        None => println!("lossy: no 1% loss 50 ms case ran"),
    }
}
