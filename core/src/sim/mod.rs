//! A deterministic network simulator for sans-IO endpoints.
//!
//! A [`Sim`] owns a set of [`Node`]s joined by duplex links, each direction with its own
//! [`LinkConfig`] (bandwidth, delay, queue, loss, burst loss, reordering, duplication,
//! corruption, MTU), and a virtual clock. [`Sim::step`] moves the clock from one event to
//! the next: packet arrivals and node timeouts. No real time passes and no IO happens.
//!
//! Everything is deterministic: all randomness comes from the seed given to [`Sim::new`]
//! (each link direction draws from its own stream derived from it), nodes are visited in
//! [`NodeId`] order, and packets arriving at the same instant are delivered in the order
//! they were sent. The same seed and the same node behaviour give an identical run.
//!
//! Routing is by IP destination address: a packet goes to the node that owns its
//! destination (see [`Node::addresses`]) over a direct link, or else over the sender's
//! default route ([`Sim::set_default_route`]) if it has one; otherwise it is dropped and
//! counted in [`SimStats::no_route`].
//!
//! ```
//! use core::any::Any;
//! use core::net::{IpAddr, Ipv4Addr};
//! use core::time::Duration;
//! use sanstcp::sim::{LinkConfig, Node, Sim};
//! use sanstcp::Instant;
//!
//! /// Sends one bare IPv4 header to `peer` and counts the packets it receives.
//! struct Ping { me: [u8; 4], peer: [u8; 4], queued: bool, received: usize }
//!
//! impl Node for Ping {
//!     fn handle_packet(&mut self, _now: Instant, _packet: &[u8]) {
//!         self.received += 1;
//!     }
//!     fn handle_timeout(&mut self, _now: Instant) {}
//!     fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
//!         if !core::mem::take(&mut self.queued) {
//!             return None;
//!         }
//!         let header = buf.get_mut(..20)?;
//!         header.fill(0);
//!         header[0] = 0x45;
//!         header[12..16].copy_from_slice(&self.me);
//!         header[16..20].copy_from_slice(&self.peer);
//!         Some(20)
//!     }
//!     fn poll_timeout(&self) -> Option<Instant> {
//!         None
//!     }
//!     fn addresses(&self) -> Vec<IpAddr> {
//!         vec![IpAddr::V4(Ipv4Addr::from(self.me))]
//!     }
//!     fn as_any(&self) -> &dyn Any {
//!         self
//!     }
//!     fn as_any_mut(&mut self) -> &mut dyn Any {
//!         self
//!     }
//! }
//!
//! let mut sim = Sim::new(7);
//! let a = sim.add_node(Box::new(Ping { me: [10, 0, 0, 1], peer: [10, 0, 0, 2], queued: true, received: 0 }));
//! let b = sim.add_node(Box::new(Ping { me: [10, 0, 0, 2], peer: [10, 0, 0, 1], queued: false, received: 0 }));
//! let link = LinkConfig::ideal().with_delay(Duration::from_millis(10));
//! let id = sim.connect(a, b, link, link);
//! assert!(sim.run_until(Instant::from_secs(1), |sim| sim.node::<Ping>(b).received == 1));
//! assert_eq!(sim.now(), Instant::from_millis(10));
//! assert_eq!(sim.link_stats(id, a).delivered, 1);
//! ```

mod link;
mod pcap;
mod rng;
#[cfg(test)]
mod tests;

pub use link::{BurstLoss, CaptureKind, LinkConfig, LinkId, LinkStats};
pub use pcap::PcapBuffer;
pub use rng::Rng;

use crate::Instant;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BinaryHeap, VecDeque};
use alloc::vec::Vec;
use core::any::Any;
use core::cmp::Ordering;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::time::Duration;

/// Anything the simulator can attach: a sans-IO endpoint fed packets and time.
///
/// Packets are whole IPv4 or IPv6 packets (no link-layer header). The simulator only reads
/// their destination address, to route them.
pub trait Node: Any {
    /// Processes one IP packet that arrived at `now`.
    fn handle_packet(&mut self, now: Instant, packet: &[u8]);
    /// Called at `now` once the instant returned by [`Node::poll_timeout`] has come.
    fn handle_timeout(&mut self, now: Instant);
    /// Writes one whole IP packet into `buf` (65536 bytes), returns its length, or `None`
    /// when nothing is queued. The simulator calls it until it returns `None` (at most
    /// 2^20 times in a row), after every step and whenever the node was mutably borrowed
    /// through the simulator. A length larger than `buf` drops the packet as malformed.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;
    /// When this node next wants [`Node::handle_timeout`], if ever. An instant in the past
    /// means "now". Asked at every step, so it should be cheap.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The IP addresses this node owns; packets to them are routed to it. Read when a
    /// destination is not known yet (see [`Sim::refresh_routes`]).
    fn addresses(&self) -> Vec<IpAddr>;
    /// `self`, for downcasting.
    fn as_any(&self) -> &dyn Any;
    /// `self`, for downcasting.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// Identifies a node of a [`Sim`], in the order nodes were added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub usize);

/// The observer type of [`Sim::set_capture`]: called with the time, the sending node, the
/// receiving node, what happened and the packet bytes.
pub type CaptureFn = Box<dyn FnMut(Instant, NodeId, NodeId, CaptureKind, &[u8])>;

/// Simulation-wide counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Packets taken from nodes' [`Node::poll_transmit`].
    pub transmitted: u64,
    /// Packets dropped because no link leads to their destination.
    pub no_route: u64,
    /// Packets dropped because they were not IPv4/IPv6 (or too short to hold a destination
    /// address), or because `poll_transmit` returned a length larger than the buffer.
    pub malformed: u64,
    /// Steps that processed something ([`Sim::step`] calls that returned `true`).
    pub steps: u64,
    /// Packets handed to nodes' [`Node::handle_packet`].
    pub delivered: u64,
    /// Packets currently travelling on links.
    pub in_flight: usize,
}

/// Default step budget of [`Sim::run_until`].
pub const DEFAULT_MAX_STEPS: u64 = 100_000_000;

/// Size of the buffer handed to [`Node::poll_transmit`].
const TX_BUF_LEN: usize = 65_536;
/// Most packets taken from one node in one drain: a guard against a node that never
/// stops transmitting.
const MAX_TX_PER_DRAIN: usize = 1 << 20;
/// Most spare packet buffers kept for reuse.
const MAX_POOLED_BUFFERS: usize = 256;

/// A packet travelling on a link. Ordered so that a max-heap pops the earliest arrival
/// first, ties going to the earlier send.
struct InFlight {
    at: u64,
    seq: u64,
    dir: usize,
    data: Vec<u8>,
}

impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .at
            .cmp(&self.at)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}

impl Eq for InFlight {}

/// One direction of a link.
struct Direction {
    from: NodeId,
    to: NodeId,
    config: LinkConfig,
    /// When the last admitted packet finishes serializing (ns).
    busy_until: u64,
    /// Serialization end time and length of packets still in the sender's queue; only kept
    /// when the queue is limited and the bandwidth finite.
    queue: VecDeque<(u64, usize)>,
    /// Sum of the lengths in `queue`.
    queued_bytes: usize,
    /// Gilbert-Elliott state.
    burst_bad: bool,
    rng: Rng,
    stats: LinkStats,
}

/// A deterministic discrete-event network simulator. See the [module docs](self).
pub struct Sim {
    now: Instant,
    nodes: Vec<Box<dyn Node>>,
    /// Per node: (neighbour, direction index) for each link, in connection order.
    adjacency: Vec<Vec<(NodeId, usize)>>,
    /// Per node: the direction index of its default route.
    default_routes: Vec<Option<usize>>,
    /// Index `2 * link` is a-to-b, `2 * link + 1` is b-to-a.
    dirs: Vec<Direction>,
    /// Destination address to owning node (the lowest id wins a shared address).
    routes: BTreeMap<IpAddr, NodeId>,
    /// Whether `routes` may be out of date (a node was added or mutably borrowed).
    routes_stale: bool,
    /// Whether a node may have packets to send that were not drained yet.
    touched: bool,
    heap: BinaryHeap<InFlight>,
    next_seq: u64,
    rng: Rng,
    tx_buf: Vec<u8>,
    pool: Vec<Vec<u8>>,
    capture: Option<CaptureFn>,
    stats: SimStats,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("now", &self.now)
            .field("nodes", &self.nodes.len())
            .field("links", &(self.dirs.len() / 2))
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// `d` in nanoseconds, saturating.
fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Time to serialize `len` bytes at `bps` bits per second, in nanoseconds, rounded up.
fn serialization_ns(len: usize, bps: u64) -> u64 {
    if bps == 0 {
        return 0;
    }
    let bits = (len as u128) * 8 * 1_000_000_000;
    let ns = bits.div_ceil(u128::from(bps));
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// The destination address of an IPv4 or IPv6 packet, from the raw header bytes.
fn destination(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 => {
            let b: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
        6 => {
            let b: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

/// A copy of `packet` in a buffer from `pool` if one is spare.
fn copy_packet(pool: &mut Vec<Vec<u8>>, packet: &[u8]) -> Vec<u8> {
    match pool.pop() {
        Some(mut buf) => {
            buf.clear();
            buf.extend_from_slice(packet);
            buf
        }
        None => packet.to_vec(),
    }
}

/// Returns a no longer needed packet buffer to `pool`.
fn recycle(pool: &mut Vec<Vec<u8>>, buf: Vec<u8>) {
    if pool.len() < MAX_POOLED_BUFFERS && buf.capacity() <= TX_BUF_LEN {
        pool.push(buf);
    }
}

/// Flips one random bit of `data`; returns whether it could (`data` is not empty).
fn flip_bit(rng: &mut Rng, data: &mut [u8]) -> bool {
    let bits = (data.len() as u64).saturating_mul(8);
    if bits == 0 {
        return false;
    }
    let bit = rng.gen_range(bits);
    match data.get_mut((bit / 8) as usize) {
        Some(byte) => {
            *byte ^= 1 << (bit % 8);
            true
        }
        None => false,
    }
}

/// Panics about a missing node.
#[cold]
#[track_caller]
fn no_such_node(id: NodeId, count: usize) -> ! {
    panic!("sim: no node {id:?} (the simulation has {count} nodes)")
}

/// Panics about a node downcast to the wrong type.
#[cold]
#[track_caller]
fn wrong_type<T>(id: NodeId) -> ! {
    panic!("sim: node {id:?} is not a {}", core::any::type_name::<T>())
}

impl Sim {
    /// An empty simulation at [`Instant::ZERO`] whose randomness all derives from `seed`.
    pub fn new(seed: u64) -> Sim {
        Sim {
            now: Instant::ZERO,
            nodes: Vec::new(),
            adjacency: Vec::new(),
            default_routes: Vec::new(),
            dirs: Vec::new(),
            routes: BTreeMap::new(),
            routes_stale: false,
            touched: false,
            heap: BinaryHeap::new(),
            next_seq: 0,
            rng: Rng::new(seed),
            tx_buf: Vec::new(),
            pool: Vec::new(),
            capture: None,
            stats: SimStats::default(),
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Moves the clock forward to `start` (never backwards). Meant to be called before
    /// running, to start at an epoch other than [`Instant::ZERO`].
    pub fn set_start(&mut self, start: Instant) {
        self.now = self.now.max(start);
        self.touched = true;
    }

    /// Attaches a node; ids are handed out in order from `NodeId(0)`.
    pub fn add_node(&mut self, node: Box<dyn Node>) -> NodeId {
        let id = NodeId(self.nodes.len());
        self.nodes.push(node);
        self.adjacency.push(Vec::new());
        self.default_routes.push(None);
        self.routes_stale = true;
        self.touched = true;
        id
    }

    /// How many nodes have been added.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// How many links have been connected.
    pub fn link_count(&self) -> usize {
        self.dirs.len() / 2
    }

    /// The node `id` as a `T`, or `None` if there is no such node or it is not a `T`.
    pub fn try_node<T: Node>(&self, id: NodeId) -> Option<&T> {
        self.nodes.get(id.0)?.as_any().downcast_ref::<T>()
    }

    /// The node `id` as a mutable `T`, or `None` if there is no such node or it is not a `T`.
    ///
    /// Packets the node queues meanwhile are sent at the next [`Sim::step`].
    pub fn try_node_mut<T: Node>(&mut self, id: NodeId) -> Option<&mut T> {
        self.routes_stale = true;
        self.touched = true;
        self.nodes.get_mut(id.0)?.as_any_mut().downcast_mut::<T>()
    }

    /// The node `id` as a `T`.
    ///
    /// # Panics
    ///
    /// If there is no node `id` or it is not a `T`.
    #[track_caller]
    pub fn node<T: Node>(&self, id: NodeId) -> &T {
        match self.nodes.get(id.0) {
            Some(node) => match node.as_any().downcast_ref::<T>() {
                Some(node) => node,
                None => wrong_type::<T>(id),
            },
            None => no_such_node(id, self.nodes.len()),
        }
    }

    /// The node `id` as a mutable `T`. Packets it queues meanwhile are sent at the next
    /// [`Sim::step`].
    ///
    /// # Panics
    ///
    /// If there is no node `id` or it is not a `T`.
    #[track_caller]
    pub fn node_mut<T: Node>(&mut self, id: NodeId) -> &mut T {
        self.routes_stale = true;
        self.touched = true;
        let count = self.nodes.len();
        match self.nodes.get_mut(id.0) {
            Some(node) => match node.as_any_mut().downcast_mut::<T>() {
                Some(node) => node,
                None => wrong_type::<T>(id),
            },
            None => no_such_node(id, count),
        }
    }

    /// The node `id` as a trait object, or `None` if there is no such node.
    pub fn node_dyn(&self, id: NodeId) -> Option<&dyn Node> {
        self.nodes.get(id.0).map(|n| n.as_ref())
    }

    /// The node `id` as a mutable trait object, or `None` if there is no such node.
    /// Packets it queues meanwhile are sent at the next [`Sim::step`].
    pub fn node_dyn_mut(&mut self, id: NodeId) -> Option<&mut dyn Node> {
        self.routes_stale = true;
        self.touched = true;
        match self.nodes.get_mut(id.0) {
            Some(n) => Some(n.as_mut()),
            None => None,
        }
    }

    /// Checks that `id` names a node.
    #[track_caller]
    fn check_node(&self, id: NodeId) {
        if id.0 >= self.nodes.len() {
            no_such_node(id, self.nodes.len());
        }
    }

    /// Joins `a` and `b` with a duplex link; `a_to_b` and `b_to_a` configure each direction.
    ///
    /// If several links join the same two nodes, the first one carries their traffic.
    ///
    /// # Panics
    ///
    /// If `a` or `b` is not a node, or `a == b`.
    #[track_caller]
    pub fn connect(
        &mut self,
        a: NodeId,
        b: NodeId,
        a_to_b: LinkConfig,
        b_to_a: LinkConfig,
    ) -> LinkId {
        self.check_node(a);
        self.check_node(b);
        assert!(a != b, "sim: cannot connect node {a:?} to itself");
        let link = LinkId(self.dirs.len() / 2);
        for (from, to, config) in [(a, b, a_to_b), (b, a, b_to_a)] {
            let index = self.dirs.len();
            self.adjacency[from.0].push((to, index));
            self.dirs.push(Direction {
                from,
                to,
                config,
                busy_until: 0,
                queue: VecDeque::new(),
                queued_bytes: 0,
                burst_bad: false,
                rng: self.rng.fork(),
                stats: LinkStats::default(),
            });
        }
        link
    }

    /// The direction index of `link` leaving `from`.
    ///
    /// # Panics
    ///
    /// If there is no such link or `from` is not one of its ends.
    #[track_caller]
    fn direction(&self, link: LinkId, from: NodeId) -> usize {
        let base = link.0.saturating_mul(2);
        match (self.dirs.get(base), self.dirs.get(base + 1)) {
            (Some(d), _) if d.from == from => base,
            (_, Some(d)) if d.from == from => base + 1,
            (Some(d), _) => panic!(
                "sim: node {:?} is not an end of link {:?} ({:?} <-> {:?})",
                from, link, d.from, d.to
            ),
            _ => panic!(
                "sim: no link {:?} (the simulation has {} links)",
                link,
                self.link_count()
            ),
        }
    }

    /// The counters of `link` in the direction leaving `from`.
    ///
    /// # Panics
    ///
    /// If there is no such link or `from` is not one of its ends.
    #[track_caller]
    pub fn link_stats(&self, link: LinkId, from: NodeId) -> LinkStats {
        self.dirs[self.direction(link, from)].stats
    }

    /// The configuration of `link` in the direction leaving `from`.
    ///
    /// # Panics
    ///
    /// If there is no such link or `from` is not one of its ends.
    #[track_caller]
    pub fn link_config(&self, link: LinkId, from: NodeId) -> LinkConfig {
        self.dirs[self.direction(link, from)].config
    }

    /// Changes the configuration of `link` in the direction leaving `from`, from now on.
    /// Packets already in flight are not affected.
    ///
    /// # Panics
    ///
    /// If there is no such link or `from` is not one of its ends.
    #[track_caller]
    pub fn set_link_config(&mut self, link: LinkId, from: NodeId, config: LinkConfig) {
        let index = self.direction(link, from);
        self.dirs[index].config = config;
    }

    /// Sends packets from `node` whose destination is not a direct neighbour over `link`
    /// (`None` removes the default route). The node at the far end receives packets not
    /// addressed to it, which lets a node act as a router.
    ///
    /// # Panics
    ///
    /// If there is no such link or `node` is not one of its ends.
    #[track_caller]
    pub fn set_default_route(&mut self, node: NodeId, link: Option<LinkId>) {
        self.check_node(node);
        let index = link.map(|link| self.direction(link, node));
        self.default_routes[node.0] = index;
    }

    /// Re-reads every node's [`Node::addresses`]. Routes are refreshed automatically when a
    /// destination is unknown after a node was added or mutably borrowed; call this after
    /// moving an address from one node to another.
    pub fn refresh_routes(&mut self) {
        self.routes.clear();
        for (i, node) in self.nodes.iter().enumerate() {
            for addr in node.addresses() {
                self.routes.entry(addr).or_insert(NodeId(i));
            }
        }
        self.routes_stale = false;
    }

    /// Sets (or with `None` removes) the observer called for every packet put onto,
    /// delivered by or dropped by a link.
    pub fn set_capture(&mut self, f: Option<CaptureFn>) {
        self.capture = f;
    }

    /// Simulation-wide counters.
    pub fn stats(&self) -> SimStats {
        SimStats {
            in_flight: self.heap.len(),
            ..self.stats
        }
    }

    /// The arrival time of the earliest packet in flight, if any.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.heap.peek().map(|p| Instant::from_nanos(p.at))
    }

    /// The earliest thing pending: a packet arrival or a node timeout.
    pub fn next_event(&self) -> Option<Instant> {
        let mut next = self.heap.peek().map(|p| p.at);
        for node in &self.nodes {
            if let Some(t) = node.poll_timeout() {
                let t = t.as_nanos();
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        next.map(Instant::from_nanos)
    }

    /// One step of the simulation.
    ///
    /// Drains every node's [`Node::poll_transmit`] at the current time onto its links, then
    /// advances the clock to the earliest pending thing (a packet arrival or a node's
    /// [`Node::poll_timeout`]; one in the past counts as now), delivers every packet due
    /// by then (in arrival, then send, order), calls [`Node::handle_timeout`] on each node
    /// (in id order) whose timeout has come, and drains transmits again.
    ///
    /// Returns `false` without doing anything but the first drain if nothing is pending
    /// (the clock does not move) or the next thing is later than `limit` (the clock moves
    /// to `limit`, if that is later than now). The clock never goes past `limit`.
    pub fn step(&mut self, limit: Instant) -> bool {
        if self.touched {
            self.drain_all();
        }
        let Some(next) = self.next_event() else {
            return false;
        };
        let next = next.max(self.now);
        if next > limit {
            if limit > self.now {
                self.now = limit;
                self.touched = true;
            }
            return false;
        }
        self.now = next;
        let now = next.as_nanos();

        // Deliveries. `handle_packet` cannot add to the heap, so this ends.
        while self.heap.peek().is_some_and(|p| p.at <= now) {
            let Some(packet) = self.heap.pop() else {
                break;
            };
            let dir = &mut self.dirs[packet.dir];
            dir.stats.delivered += 1;
            dir.stats.bytes_delivered += packet.data.len() as u64;
            let (from, to) = (dir.from, dir.to);
            if let Some(capture) = self.capture.as_mut() {
                capture(self.now, from, to, CaptureKind::Delivered, &packet.data);
            }
            self.stats.delivered += 1;
            self.nodes[to.0].handle_packet(self.now, &packet.data);
            recycle(&mut self.pool, packet.data);
        }

        // Timeouts.
        for node in &mut self.nodes {
            if node.poll_timeout().is_some_and(|t| t <= self.now) {
                node.handle_timeout(self.now);
            }
        }

        self.drain_all();
        self.stats.steps += 1;
        true
    }

    /// Runs [`Sim::step`] until `done` returns `true` (checked before the first step and
    /// after each one), time would pass `limit`, nothing is pending, or
    /// [`DEFAULT_MAX_STEPS`] steps were taken. Returns whether `done` returned `true`.
    pub fn run_until(&mut self, limit: Instant, done: impl FnMut(&mut Sim) -> bool) -> bool {
        self.run_until_bounded(limit, DEFAULT_MAX_STEPS, done)
    }

    /// [`Sim::run_until`] with a step budget of `max_steps`.
    pub fn run_until_bounded(
        &mut self,
        limit: Instant,
        max_steps: u64,
        mut done: impl FnMut(&mut Sim) -> bool,
    ) -> bool {
        if done(self) {
            return true;
        }
        for _ in 0..max_steps {
            if !self.step(limit) {
                return done(self);
            }
            if done(self) {
                return true;
            }
        }
        false
    }

    /// Processes everything up to `limit`, then sets the clock to `limit` (if later than
    /// now), even if nothing was pending. Returns `false` if [`DEFAULT_MAX_STEPS`] steps
    /// were not enough to get there (the clock then stays where the last step left it).
    pub fn advance_to(&mut self, limit: Instant) -> bool {
        for _ in 0..DEFAULT_MAX_STEPS {
            if !self.step(limit) {
                if limit > self.now {
                    self.now = limit;
                    self.touched = true;
                }
                return true;
            }
        }
        false
    }

    /// [`Sim::advance_to`] `now + d`.
    pub fn advance_by(&mut self, d: Duration) -> bool {
        self.advance_to(self.now.saturating_add(d))
    }

    /// Takes every node's queued packets at the current time and puts them onto links.
    fn drain_all(&mut self) {
        self.touched = false;
        let mut buf = core::mem::take(&mut self.tx_buf);
        if buf.len() < TX_BUF_LEN {
            buf.resize(TX_BUF_LEN, 0);
        }
        for i in 0..self.nodes.len() {
            for _ in 0..MAX_TX_PER_DRAIN {
                let Some(len) = self.nodes[i].poll_transmit(self.now, &mut buf) else {
                    break;
                };
                self.stats.transmitted += 1;
                match buf.get(..len) {
                    Some(packet) => self.route(NodeId(i), packet),
                    None => self.stats.malformed += 1,
                }
            }
        }
        self.tx_buf = buf;
    }

    /// The owner of `addr`, refreshing stale routes on a miss.
    fn owner(&mut self, addr: IpAddr) -> Option<NodeId> {
        if let Some(&owner) = self.routes.get(&addr) {
            return Some(owner);
        }
        if self.routes_stale {
            self.refresh_routes();
            return self.routes.get(&addr).copied();
        }
        None
    }

    /// Sends `packet` from node `from` towards its destination.
    fn route(&mut self, from: NodeId, packet: &[u8]) {
        let Some(dst) = destination(packet) else {
            self.stats.malformed += 1;
            return;
        };
        let direct = self.owner(dst).and_then(|owner| {
            self.adjacency[from.0]
                .iter()
                .find(|(neighbour, _)| *neighbour == owner)
                .map(|&(_, dir)| dir)
        });
        match direct.or(self.default_routes[from.0]) {
            Some(dir) => self.send(dir, packet),
            None => self.stats.no_route += 1,
        }
    }

    /// Puts `packet` onto direction `index`, applying its configuration.
    ///
    /// The random draws, each made only when its probability is strictly between 0 and 1,
    /// come in this order: burst state change, burst loss, uniform loss, reordering,
    /// corruption (and the bit to flip), duplication, the duplicate's corruption (and bit).
    fn send(&mut self, index: usize, packet: &[u8]) {
        let time = self.now;
        let now = time.as_nanos();
        let Sim {
            dirs,
            capture,
            heap,
            pool,
            next_seq,
            ..
        } = self;
        let dir = &mut dirs[index];
        let config = dir.config;
        let len = packet.len();
        dir.stats.sent += 1;
        if let Some(capture) = capture.as_mut() {
            capture(time, dir.from, dir.to, CaptureKind::Sent, packet);
        }

        if config.mtu != 0 && len > config.mtu {
            dir.stats.dropped_mtu += 1;
            if let Some(capture) = capture.as_mut() {
                capture(time, dir.from, dir.to, CaptureKind::Dropped, packet);
            }
            return;
        }

        let limited = config.queue_bytes != 0 && config.bandwidth_bps != 0;
        if limited {
            while let Some(&(end, bytes)) = dir.queue.front() {
                if end > now {
                    break;
                }
                dir.queue.pop_front();
                dir.queued_bytes = dir.queued_bytes.saturating_sub(bytes);
            }
            if dir.queued_bytes.saturating_add(len) > config.queue_bytes {
                dir.stats.dropped_queue += 1;
                if let Some(capture) = capture.as_mut() {
                    capture(time, dir.from, dir.to, CaptureKind::Dropped, packet);
                }
                return;
            }
        }

        let start = dir.busy_until.max(now);
        let end = start.saturating_add(serialization_ns(len, config.bandwidth_bps));
        dir.busy_until = end;
        if limited {
            dir.queue.push_back((end, len));
            dir.queued_bytes += len;
        }

        let mut lost = false;
        if let Some(burst) = config.burst_loss {
            let flip = if dir.burst_bad {
                burst.p_bad_to_good
            } else {
                burst.p_good_to_bad
            };
            if dir.rng.gen_bool(flip) {
                dir.burst_bad = !dir.burst_bad;
            }
            lost = dir.burst_bad && dir.rng.gen_bool(burst.loss_in_bad);
        }
        lost = lost || dir.rng.gen_bool(config.loss);
        if lost {
            dir.stats.dropped_loss += 1;
            if let Some(capture) = capture.as_mut() {
                capture(time, dir.from, dir.to, CaptureKind::Dropped, packet);
            }
            return;
        }

        let mut at = end.saturating_add(duration_ns(config.delay));
        if dir.rng.gen_bool(config.reorder) {
            at = at.saturating_add(duration_ns(config.reorder_delay));
            dir.stats.reordered += 1;
        }
        let mut data = copy_packet(pool, packet);
        if dir.rng.gen_bool(config.corrupt) && flip_bit(&mut dir.rng, &mut data) {
            dir.stats.corrupted += 1;
        }
        let duplicate = dir.rng.gen_bool(config.duplicate);
        heap.push(InFlight {
            at,
            seq: *next_seq,
            dir: index,
            data,
        });
        *next_seq += 1;
        if duplicate {
            dir.stats.duplicated += 1;
            let mut data = copy_packet(pool, packet);
            if dir.rng.gen_bool(config.corrupt) && flip_bit(&mut dir.rng, &mut data) {
                dir.stats.corrupted += 1;
            }
            heap.push(InFlight {
                at,
                seq: *next_seq,
                dir: index,
                data,
            });
            *next_seq += 1;
        }
    }
}
