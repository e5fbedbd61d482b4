//! The stack: the connection table, listeners with SYN and accept queues, ISNs, ICMP, and the
//! poll API of DESIGN.md.

mod cookie;
mod icmp;
mod listener;
#[cfg(feature = "sim")]
mod sim_node;
mod table;

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::hash::Hasher;
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use crate::hash::{KeyedState, SipHasher};
use crate::tcp::connection::{ConnIdentity, ConnParams, Connection, Env, Owner, RateLimiter};
use crate::tcp::input::Reply;
use crate::tcp::output::OutSegment;
use crate::tcp::SeqNumber;
use crate::wire::{ip_protocol, IpRepr, TcpFlags, TcpOptions, TcpRepr, WireError};
use crate::{
    ConfigError, ConnId, ConnInfo, ConnectError, ConnectOptions, DropReason, Event, Input, Instant,
    ListenError, ListenOptions, ListenerId, RecvError, SendError, StackConfig, StateError, Stats,
    SynCookieMode, TcpState,
};
use listener::Listeners;
use table::{ConnTable, FourTuple};

/// One packet written by [`Stack::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Length of the IP packet at the start of the buffer.
    pub len: usize,
    /// Source address (one of the stack's).
    pub src: IpAddr,
    /// Destination address; the link layer resolves it (or a gateway) to a hardware address.
    pub dst: IpAddr,
    /// The IP ECN field written into the packet (RFC 3168 §5), for adapters whose link
    /// carries it separately.
    pub ecn: u8,
}

/// A reply the stack sends outside any connection's sequence space.
#[derive(Debug, Clone)]
pub(crate) enum Control {
    /// A RST (RFC 9293 §3.10.7.1) or RST-ACK.
    Rst {
        local: SocketAddr,
        remote: SocketAddr,
        seq: SeqNumber,
        ack: Option<SeqNumber>,
    },
    /// A stateless SYN-ACK carrying a SYN cookie.
    SynAck {
        local: SocketAddr,
        remote: SocketAddr,
        seq: SeqNumber,
        ack: SeqNumber,
        flags: TcpFlags,
        window: u16,
        options: TcpOptions,
    },
    /// An ICMP or ICMPv6 packet, already serialized after the IP header.
    Icmp {
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
        body: Vec<u8>,
    },
}

/// What the stack shares with connections while they run.
#[derive(Debug)]
pub(crate) struct Shared {
    pub cfg: StackConfig,
    pub stats: Stats,
    pub events: VecDeque<Event>,
    pub challenge: RateLimiter,
    pub control: VecDeque<Control>,
    /// Limits RSTs for segments that reach no connection.
    pub rst_limiter: RateLimiter,
    /// Bytes queued for sending, all connections together.
    pub send_memory: usize,
    /// Bytes held for receiving (unread and out-of-order), all connections together.
    pub recv_memory: usize,
}

impl Shared {
    /// Receive memory still free under `max_recv_memory`.
    fn recv_budget(&self) -> usize {
        self.cfg.max_recv_memory.saturating_sub(self.recv_memory)
    }

    /// Moves the stack-wide totals by what one connection's holdings changed.
    fn account(&mut self, before: (usize, usize), after: (usize, usize)) {
        self.send_memory = (self.send_memory + after.0).saturating_sub(before.0);
        self.recv_memory = (self.recv_memory + after.1).saturating_sub(before.1);
    }
}

impl Shared {
    fn env(&mut self, now: Instant) -> Env<'_> {
        Env {
            now,
            cfg: &self.cfg,
            stats: &mut self.stats,
            events: &mut self.events,
            challenge: &mut self.challenge,
        }
    }

    /// Writes an IP header and `tcp` into `buf`. With `in_place` > 0 the payload, that many
    /// bytes, is already in `buf` right after where the headers go, and `tcp.payload` is not
    /// read.
    pub(crate) fn emit_tcp(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        tcp: &TcpRepr<'_>,
        in_place: usize,
        ecn: u8,
        buf: &mut [u8],
    ) -> Transmit {
        let ip = IpRepr {
            src_addr: src,
            dst_addr: dst,
            protocol: ip_protocol::TCP,
            payload_len: tcp.segment_len() + in_place,
            hop_limit: self.cfg.hop_limit,
            ecn,
        };
        let h = ip.header_len();
        ip.emit(&mut buf[..h]);
        let n = if in_place > 0 {
            tcp.emit_header_in_place(&mut buf[h..], in_place, &src, &dst)
        } else {
            tcp.emit(&mut buf[h..], &src, &dst)
        };
        self.stats.segments_out += 1;
        self.stats.packets_out += 1;
        Transmit {
            len: h + n,
            src,
            dst,
            ecn,
        }
    }

    /// Queues a control packet, or counts it as suppressed when the queue is full.
    pub(crate) fn queue_control(&mut self, c: Control) -> bool {
        if self.control.len() >= self.cfg.control_queue_limit {
            self.stats.replies_suppressed += 1;
            return false;
        }
        self.control.push_back(c);
        true
    }
}

/// A sans-IO TCP/IP stack. See the crate documentation for the calling convention.
#[derive(Debug)]
pub struct Stack {
    shared: Shared,
    conns: ConnTable,
    listeners: Listeners,
    /// Connections that may have a segment to send.
    ready: VecDeque<u32>,
    isn_key: [u64; 2],
    port_key: [u64; 2],
    /// Key of the SYN-cookie MAC.
    cookie_key: [u64; 2],
    /// RFC 6056 algorithm 3's per-stack counter.
    port_counter: u32,
    /// The latest `now` any call passed in: calls that take no time of their own (`close`,
    /// `shutdown`, `abort`, ...) act at this instant.
    last_now: Instant,
}

fn derive_key(secret: &[u8; 16], domain: u64) -> [u64; 2] {
    let base = [
        u64::from_le_bytes(secret[..8].try_into().unwrap_or([0; 8])),
        u64::from_le_bytes(secret[8..].try_into().unwrap_or([0; 8])),
    ];
    let mut a = SipHasher::new(base);
    a.write_u64(domain);
    let mut b = SipHasher::new(base);
    b.write_u64(domain ^ 0x5a5a_5a5a_5a5a_5a5a);
    [a.finish(), b.finish()]
}

impl Stack {
    /// A stack with `config` (validated).
    pub fn new(config: StackConfig) -> Result<Stack, ConfigError> {
        config.validate()?;
        let seeded = |d: u64| derive_key(&config.secret, d ^ config.seed);
        let table_key = seeded(1);
        let isn_key = derive_key(&config.secret, 2);
        let port_key = derive_key(&config.secret, 3);
        let cookie_key = derive_key(&config.secret, 4);
        Ok(Stack {
            conns: ConnTable::new(KeyedState::new(table_key)),
            listeners: Listeners::default(),
            ready: VecDeque::new(),
            isn_key,
            port_key,
            cookie_key,
            port_counter: (config.seed as u32).wrapping_mul(0x9e37_79b9),
            last_now: Instant::ZERO,
            shared: Shared {
                cfg: config,
                stats: Stats::default(),
                events: VecDeque::new(),
                challenge: RateLimiter::default(),
                control: VecDeque::new(),
                rst_limiter: RateLimiter::default(),
                send_memory: 0,
                recv_memory: 0,
            },
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &StackConfig {
        &self.shared.cfg
    }

    /// Counters, including drops by reason.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Connections held, in any state (half-open, TIME-WAIT and closed-but-unreleased included).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Whether `addr` is one of the stack's addresses.
    pub fn is_local(&self, addr: IpAddr) -> bool {
        self.shared.cfg.addresses.contains(&addr)
    }

    // ---- listeners --------------------------------------------------------------------------

    /// Starts listening on `local` (an unspecified address listens on every local address of
    /// that family).
    pub fn listen(
        &mut self,
        local: SocketAddr,
        opts: ListenOptions,
    ) -> Result<ListenerId, ListenError> {
        if local.port() == 0 {
            return Err(ListenError::PortZero);
        }
        if opts.backlog == 0 || opts.syn_backlog == 0 {
            return Err(ListenError::BadBacklog);
        }
        if !local.ip().is_unspecified() && !self.is_local(local.ip()) {
            return Err(ListenError::AddressNotLocal);
        }
        self.listeners.add(local, opts)
    }

    /// Takes the next established connection from a listener's accept queue.
    pub fn accept(&mut self, listener: ListenerId) -> Option<ConnId> {
        let id = self.listeners.pop_accepted(listener)?;
        let index = self.conns.resolve(id)?;
        let conn = self.conns.get_mut(index)?;
        conn.owner = Owner::User;
        // What happened while it waited in the queue: data, the peer's FIN, the end.
        if !conn.recv.is_empty() {
            conn.readable_notified = true;
            self.shared.events.push_back(Event::Readable { conn: id });
        }
        if conn.fin_received {
            self.shared.events.push_back(Event::PeerClosed { conn: id });
        }
        if let Some(reason) = conn.outcome {
            self.shared
                .events
                .push_back(Event::Closed { conn: id, reason });
        }
        Some(id)
    }

    /// Stops a listener; connections in its queues are reset. Returns false for a stale id.
    pub fn close_listener(&mut self, listener: ListenerId) -> bool {
        let now = self.last_now;
        let Some(pending) = self.listeners.remove(listener) else {
            return false;
        };
        for id in pending {
            if let Some(index) = self.conns.resolve(id) {
                self.with_conn(now, index, |c, env| c.abort(env));
            }
        }
        self.finish_call();
        true
    }

    // ---- connections ------------------------------------------------------------------------

    /// Opens a connection to `remote` (RFC 9293 §3.10.1 active OPEN): the SYN goes out on the
    /// next `poll_transmit`.
    pub fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        opts: ConnectOptions,
    ) -> Result<ConnId, ConnectError> {
        self.last_now = self.last_now.max(now);
        let rip = remote.ip();
        let bad_v4 = matches!(rip, IpAddr::V4(a) if a.is_broadcast());
        if remote.port() == 0 || rip.is_unspecified() || rip.is_multicast() || bad_v4 {
            return Err(ConnectError::BadRemote);
        }
        let requested = opts
            .local
            .unwrap_or(SocketAddr::new(unspecified_like(rip), 0));
        let lip = if requested.ip().is_unspecified() {
            self.shared
                .cfg
                .addresses
                .iter()
                .copied()
                .find(|a| a.is_ipv4() == rip.is_ipv4())
                .ok_or(ConnectError::NoLocalAddress)?
        } else if self.is_local(requested.ip()) && requested.ip().is_ipv4() == rip.is_ipv4() {
            requested.ip()
        } else {
            return Err(ConnectError::AddressNotLocal);
        };
        if self.conns.len() >= self.shared.cfg.max_connections {
            return Err(ConnectError::TooManyConnections);
        }
        let port = if requested.port() != 0 {
            let t = FourTuple {
                local: SocketAddr::new(lip, requested.port()),
                remote,
            };
            if self.conns.lookup(&t).is_some() {
                return Err(ConnectError::AddressInUse);
            }
            requested.port()
        } else {
            self.ephemeral_port(lip, remote)
                .ok_or(ConnectError::AddressInUse)?
        };
        let local = SocketAddr::new(lip, port);
        let iss = self.isn(now, local, remote);
        let mut params = self.params(lip);
        params.nagle = self.shared.cfg.nagle && !opts.nodelay;
        if let Some(n) = opts.send_buffer {
            params.send_buffer = n.clamp(1, 1 << 30);
        }
        if let Some(n) = opts.recv_buffer {
            params.recv_buffer = n.clamp(1, 1 << 30);
        }
        let id = self.conns.next_id();
        let ident = ConnIdentity {
            id,
            local,
            remote,
            iss,
        };
        let mut conn = Connection::new(ident, Owner::User, params, &self.shared.cfg, now);
        conn.ts_offset = self.ts_offset(local, remote);
        let index = self.conns.insert(conn);
        self.shared.stats.active_opens += 1;
        self.with_conn(now, index, |c, env| c.set_state(TcpState::SynSent, env));
        self.finish_call();
        Ok(id)
    }

    /// Queues data; returns how much was taken (less than `data.len()` is backpressure; wait
    /// for [`Event::Writable`]). A full buffer is [`SendError::WouldBlock`].
    pub fn send(&mut self, c: ConnId, data: &[u8]) -> Result<usize, SendError> {
        let index = self.user_conn(c).ok_or(SendError::InvalidConnection)?;
        let room = self
            .shared
            .cfg
            .max_send_memory
            .saturating_sub(self.shared.send_memory);
        let conn = self
            .conns
            .get_mut(index)
            .ok_or(SendError::InvalidConnection)?;
        let before = conn.send.len();
        let r = conn.send(&data[..data.len().min(room)]);
        self.shared.send_memory += conn.send.len() - before;
        if room == 0 && !data.is_empty() && r.is_ok() {
            // The stack-wide limit, not this connection's buffer, is full.
            conn.writable_wanted = true;
            return Err(SendError::WouldBlock);
        }
        if matches!(r, Ok(n) if n > 0) {
            self.mark_ready(index);
        }
        r
    }

    /// Reads received data. `Ok(0)` is end of stream (the peer's FIN, after all data);
    /// [`RecvError::WouldBlock`] means nothing yet.
    pub fn recv(&mut self, c: ConnId, buf: &mut [u8]) -> Result<usize, RecvError> {
        let index = self.user_conn(c).ok_or(RecvError::InvalidConnection)?;
        let conn = self
            .conns
            .get_mut(index)
            .ok_or(RecvError::InvalidConnection)?;
        let before = conn.memory();
        let r = conn.recv(buf);
        let after = conn.memory();
        if conn.ack_now {
            self.mark_ready(index);
        }
        self.shared.account(before, after);
        r
    }

    /// Half-close: a FIN follows the queued data; reading goes on (RFC 9293 §3.10.4).
    pub fn shutdown(&mut self, c: ConnId) -> Result<(), StateError> {
        let now = self.last_now;
        let index = self.user_conn(c).ok_or(StateError::InvalidConnection)?;
        let r = self.with_conn(now, index, |conn, env| conn.shutdown(env));
        self.finish_call();
        r.unwrap_or(Err(StateError::InvalidConnection))
    }

    /// Graceful close: the stack sends what is queued, then FIN, and frees the connection when
    /// the close completes. Unread received data turns it into an abort (RFC 2525 §2.17).
    /// The id is stale afterwards.
    pub fn close(&mut self, c: ConnId) {
        let now = self.last_now;
        if let Some(index) = self.user_conn(c) {
            self.with_conn(now, index, |conn, env| conn.close(env));
            self.finish_call();
        }
    }

    /// Resets the connection (RFC 9293 §3.10.5): a RST goes out, queued data is dropped.
    /// The id is stale afterwards.
    pub fn abort(&mut self, c: ConnId) {
        let now = self.last_now;
        if let Some(index) = self.user_conn(c) {
            self.with_conn(now, index, |conn, env| {
                conn.abort(env);
                conn.owner = Owner::Orphan;
            });
            self.finish_call();
        }
    }

    /// Turns Nagle's algorithm off (`true`) or on for a connection (`TCP_NODELAY`).
    pub fn set_nodelay(&mut self, c: ConnId, nodelay: bool) -> Result<(), StateError> {
        let index = self.user_conn(c).ok_or(StateError::InvalidConnection)?;
        if let Some(conn) = self.conns.get_mut(index) {
            conn.nagle = !nodelay;
        }
        self.mark_ready(index);
        Ok(())
    }

    /// Turns keep-alive on with the given idle time, or off (RFC 1122 §4.2.3.6).
    pub fn set_keepalive(&mut self, c: ConnId, idle: Option<Duration>) -> Result<(), StateError> {
        let now = self.last_now;
        let index = self.user_conn(c).ok_or(StateError::InvalidConnection)?;
        if let Some(conn) = self.conns.get_mut(index) {
            conn.keepalive = idle;
            conn.arm_keepalive(now);
        }
        self.conns.reschedule(index);
        self.finish_call();
        Ok(())
    }

    /// A snapshot of a connection, or `None` for a stale id.
    pub fn info(&self, c: ConnId) -> Option<ConnInfo> {
        let index = self.user_conn(c)?;
        self.conns.get(index).map(Connection::info)
    }

    // ---- the poll API -----------------------------------------------------------------------

    /// Processes one incoming IP packet. Never fails: a bad packet is dropped and counted by
    /// reason, or answered as the RFCs require (RST, challenge ACK, ICMP echo reply).
    pub fn handle_packet(&mut self, now: Instant, ip_packet: &[u8]) -> Input {
        self.last_now = self.last_now.max(now);
        self.shared.stats.packets_in += 1;
        let result = self.dispatch(now, ip_packet);
        self.finish_call();
        match result {
            Ok(()) => Input::Accepted,
            Err(reason) => {
                self.shared.stats.count_drop(reason);
                Input::Dropped(reason)
            }
        }
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        while let Some(index) = self.conns.pop_due(now) {
            self.with_conn(now, index, |c, env| c.handle_timeout(env));
        }
        self.finish_call();
    }

    /// Writes the next outgoing IP packet into `buf` (which should hold the MTU) and describes
    /// it, or returns `None` when nothing is waiting. Call until `None` after every other call.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.last_now = self.last_now.max(now);
        if buf.len() < self.shared.cfg.mtu {
            return None;
        }
        if let Some(c) = self.shared.control.pop_front() {
            return Some(self.emit_control(&c, buf));
        }
        while let Some(&index) = self.ready.front() {
            let budget = self.shared.recv_budget();
            let seg = match self.conns.get_mut(index) {
                Some(conn) => {
                    conn.recv_budget = budget;
                    conn.poll_segment(now, &self.shared.cfg, &mut self.shared.stats)
                }
                None => None,
            };
            match seg {
                Some(seg) => {
                    let t = self.emit_segment(index, &seg, buf);
                    self.settle(now, index);
                    self.finish_call();
                    return t;
                }
                None => {
                    self.ready.pop_front();
                    self.settle_inner(now, index, false);
                    if let Some(conn) = self.conns.get_mut(index) {
                        conn.in_ready_queue = false;
                    }
                }
            }
        }
        self.finish_call();
        None
    }

    /// The earliest deadline at which [`Stack::handle_timeout`] has work, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.conns.next_deadline()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.shared.events.pop_front()
    }

    // ---- internals --------------------------------------------------------------------------

    /// The slot of a connection the application holds.
    fn user_conn(&self, c: ConnId) -> Option<u32> {
        let index = self.conns.resolve(c)?;
        (self.conns.get(index)?.owner == Owner::User).then_some(index)
    }

    /// Runs `f` on a connection with the shared environment, then settles it.
    fn with_conn<R>(
        &mut self,
        now: Instant,
        index: u32,
        f: impl FnOnce(&mut Connection, &mut Env<'_>) -> R,
    ) -> Option<R> {
        let budget = self.shared.recv_budget();
        let conn = self.conns.get_mut(index)?;
        conn.recv_budget = budget;
        let before = conn.memory();
        let mut env = self.shared.env(now);
        let r = f(conn, &mut env);
        let after = conn.memory();
        self.shared.account(before, after);
        self.settle(now, index);
        Some(r)
    }

    fn mark_ready(&mut self, index: u32) {
        if let Some(conn) = self.conns.get_mut(index) {
            if !conn.in_ready_queue {
                conn.in_ready_queue = true;
                self.ready.push_back(index);
            }
        }
    }

    /// Bookkeeping after anything touched a connection: move a completed passive open to the
    /// accept queue, free finished connections nobody holds, re-arm timers, queue for output.
    fn settle(&mut self, now: Instant, index: u32) {
        self.settle_inner(now, index, true);
    }

    fn settle_inner(&mut self, now: Instant, index: u32, requeue: bool) {
        let Some(conn) = self.conns.get_mut(index) else {
            return;
        };
        conn.arm_persist(now);
        let id = conn.id();
        if let Owner::SynQueue(l) = conn.owner {
            if conn.state.is_synchronized() && conn.outcome.is_none() {
                conn.owner = Owner::AcceptQueue(l);
                if self.listeners.established(l, id) {
                    self.shared
                        .events
                        .push_back(Event::Incoming { listener: l });
                } else {
                    // The listener is gone: nobody can accept this connection.
                    let mut env = self.shared.env(now);
                    conn.abort(&mut env);
                }
            }
        }
        let Some(conn) = self.conns.get_mut(index) else {
            return;
        };
        if conn.is_finished() {
            match conn.owner {
                Owner::SynQueue(l) => {
                    self.listeners.half_open_gone(l);
                    self.release(index);
                }
                Owner::AcceptQueue(l) => {
                    self.listeners.forget(l, id);
                    self.release(index);
                }
                Owner::Orphan => self.release(index),
                // A tombstone keeps the sticky error until the application releases it; its
                // 4-tuple is free for new connections. Its timers are off: drop its heap entry
                // so that `poll_timeout` does not report a deadline with nothing to do.
                Owner::User => {
                    self.conns.unlink(index);
                    self.conns.reschedule(index);
                }
            }
            return;
        }
        self.conns.reschedule(index);
        if requeue {
            self.mark_ready(index);
        }
    }

    /// Frees a finished connection's slot, and what it still held from the stack-wide totals.
    fn release(&mut self, index: u32) {
        if let Some(conn) = self.conns.get(index) {
            let held = conn.memory();
            self.shared.account(held, (0, 0));
        }
        self.conns.remove(index);
    }

    /// End of every public call: drop stale timer entries so `poll_timeout` is exact.
    fn finish_call(&mut self) {
        self.conns.prune();
    }

    fn params(&self, local: IpAddr) -> ConnParams {
        let cfg = &self.shared.cfg;
        let overhead: u16 = if local.is_ipv6() { 60 } else { 40 };
        let mtu = cfg.mtu.min(65535) as u16;
        ConnParams {
            send_buffer: cfg.send_buffer,
            recv_buffer: cfg.recv_buffer,
            nagle: cfg.nagle,
            local_mss: mtu.saturating_sub(overhead),
            mtu,
            header_overhead: overhead,
        }
    }

    /// RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a 4 µs
    /// clock, F SipHash-2-4.
    fn isn(&self, now: Instant, local: SocketAddr, remote: SocketAddr) -> SeqNumber {
        let mut h = SipHasher::new(self.isn_key);
        hash_tuple(&mut h, local, remote);
        let m = (now.as_nanos() / 4_000) as u32;
        SeqNumber((h.finish() as u32).wrapping_add(m))
    }

    /// RFC 7323 §5.4: a per-connection offset for the TSval clock, so timestamps reveal
    /// neither uptime nor a relation between connections.
    fn ts_offset(&self, local: SocketAddr, remote: SocketAddr) -> u32 {
        let mut h = SipHasher::new(self.isn_key);
        h.write_u8(0x75);
        hash_tuple(&mut h, local, remote);
        h.finish() as u32
    }

    /// RFC 6056 algorithm 3: a keyed hash of (local IP, remote IP, remote port) picks where to
    /// start in the ephemeral range; a counter moves on after every use.
    fn ephemeral_port(&mut self, lip: IpAddr, remote: SocketAddr) -> Option<u16> {
        let (lo, hi) = self.shared.cfg.ephemeral_ports;
        let count = u32::from(hi - lo) + 1;
        let mut h = SipHasher::new(self.port_key);
        hash_tuple(&mut h, SocketAddr::new(lip, 0), remote);
        let offset = h.finish() as u32;
        for i in 0..count {
            let port =
                lo + ((offset.wrapping_add(self.port_counter).wrapping_add(i)) % count) as u16;
            let t = FourTuple {
                local: SocketAddr::new(lip, port),
                remote,
            };
            if self.conns.lookup(&t).is_none() && !self.listeners.uses_port(lip, port) {
                self.port_counter = self.port_counter.wrapping_add(i + 1);
                return Some(port);
            }
        }
        None
    }

    fn dispatch(&mut self, now: Instant, packet: &[u8]) -> Result<(), DropReason> {
        let (ip, payload) = IpRepr::parse(packet).map_err(|e| match e {
            WireError::Fragmented => DropReason::Fragment,
            _ => DropReason::BadIpHeader,
        })?;
        if !self.is_local(ip.dst_addr) {
            return Err(DropReason::NotForUs);
        }
        match (ip.protocol, ip.src_addr) {
            (ip_protocol::TCP, _) => self.input_tcp(now, &ip, payload),
            (ip_protocol::ICMP, IpAddr::V4(_)) => self.input_icmpv4(now, &ip, payload),
            (ip_protocol::ICMPV6, IpAddr::V6(_)) => self.input_icmpv6(now, &ip, payload),
            _ => Err(DropReason::UnsupportedProtocol),
        }
    }

    fn input_tcp(&mut self, now: Instant, ip: &IpRepr, payload: &[u8]) -> Result<(), DropReason> {
        let seg = TcpRepr::parse(
            payload,
            &ip.src_addr,
            &ip.dst_addr,
            self.shared.cfg.verify_checksums,
        )
        .map_err(|e| match e {
            WireError::BadChecksum => DropReason::BadChecksum,
            _ => DropReason::MalformedTcp,
        })?;
        self.shared.stats.segments_in += 1;
        if !is_unicast(ip.src_addr) {
            return Err(DropReason::BadAddress);
        }
        let tuple = FourTuple {
            local: SocketAddr::new(ip.dst_addr, seg.dst_port),
            remote: SocketAddr::new(ip.src_addr, seg.src_port),
        };
        if let Some(index) = self.conns.lookup(&tuple) {
            if !self.time_wait_reuse(now, index, &seg) {
                return self.input_conn(now, index, &seg, ip.ecn);
            }
        }
        if let Some(l) = self.listeners.find(tuple.local) {
            return self.input_listen(now, l, tuple, &seg);
        }
        self.reply_rst(tuple, &seg);
        Err(DropReason::NoConnection)
    }

    /// RFC 9293 §3.10.7.4 / RFC 6191: a new SYN with a higher sequence number may end a
    /// TIME-WAIT connection so that a listener can take it.
    fn time_wait_reuse(&mut self, now: Instant, index: u32, seg: &TcpRepr<'_>) -> bool {
        let Some(conn) = self.conns.get_mut(index) else {
            return false;
        };
        let syn_only = seg.flags.contains(TcpFlags::SYN)
            && !seg.flags.intersects(TcpFlags::ACK | TcpFlags::RST);
        if conn.state != TcpState::TimeWait || !syn_only || SeqNumber(seg.seq) <= conn.rcv_nxt {
            return false;
        }
        if self.listeners.find(conn.local).is_none() {
            return false;
        }
        let mut env = self.shared.env(now);
        conn.finish(crate::CloseReason::Normal, &mut env);
        self.settle(now, index);
        self.conns.unlink(index);
        true
    }

    fn input_conn(
        &mut self,
        now: Instant,
        index: u32,
        seg: &TcpRepr<'_>,
        ip_ecn: u8,
    ) -> Result<(), DropReason> {
        let Some(conn) = self.conns.get_mut(index) else {
            return Err(DropReason::NoConnection);
        };
        // A handshake that would complete into a full accept queue is dropped; the peer
        // retransmits (as Linux does with tcp_abort_on_overflow off).
        if let Owner::SynQueue(l) = conn.owner {
            let completes = conn.state == TcpState::SynReceived
                && seg.flags.contains(TcpFlags::ACK)
                && !seg.flags.intersects(TcpFlags::RST | TcpFlags::SYN);
            if completes && self.listeners.accept_queue_full(l) {
                return Err(DropReason::AcceptQueueFull);
            }
        }
        let tuple = FourTuple {
            local: conn.local,
            remote: conn.remote,
        };
        let result = self
            .with_conn(now, index, |c, env| c.handle_segment(seg, ip_ecn, env))
            .unwrap_or(Err((DropReason::NoConnection, None)));
        match result {
            Ok(()) => Ok(()),
            Err((reason, reply)) => {
                if let Some(Reply::Rst { seq }) = reply {
                    // RSTs a connection sends for bad ACKs are limited per connection too, with
                    // the challenge-ACK allowance (and then stack-wide in `queue_rst`).
                    let (now, limit) =
                        (self.last_now, self.shared.cfg.challenge_ack_per_conn_limit);
                    let allowed = self
                        .conns
                        .get_mut(index)
                        .is_some_and(|c| c.challenge.allow(now, limit));
                    if allowed {
                        self.queue_rst(tuple, seq, None);
                    } else {
                        self.shared.stats.resets_suppressed += 1;
                    }
                }
                Err(reason)
            }
        }
    }

    /// RFC 9293 §3.10.7.2: a segment for a listener.
    fn input_listen(
        &mut self,
        now: Instant,
        l: ListenerId,
        tuple: FourTuple,
        seg: &TcpRepr<'_>,
    ) -> Result<(), DropReason> {
        let f = seg.flags;
        if f.contains(TcpFlags::RST) {
            return Err(DropReason::InvalidFlags);
        }
        if f.contains(TcpFlags::ACK) {
            if !f.contains(TcpFlags::SYN) && self.cookies_in_use(now, l) {
                return self.input_cookie_ack(now, l, tuple, seg);
            }
            self.queue_rst(tuple, SeqNumber(seg.ack), None);
            return Err(DropReason::NoConnection);
        }
        if !f.contains(TcpFlags::SYN) {
            return Err(DropReason::InvalidFlags);
        }
        let cookies = match self.shared.cfg.syn_cookies {
            SynCookieMode::Always => true,
            SynCookieMode::Auto => !self.listeners.has_syn_room(l),
            SynCookieMode::Never => false,
        };
        if cookies {
            return self.send_cookie(now, l, tuple, seg);
        }
        if !self.listeners.has_syn_room(l) {
            return Err(DropReason::SynQueueFull);
        }
        if self.conns.len() >= self.shared.cfg.max_connections {
            return Err(DropReason::TooManyConnections);
        }
        let iss = self.isn(now, tuple.local, tuple.remote);
        let conn = self.half_open(now, l, tuple, iss, seg);
        let index = self.conns.insert(conn);
        self.settle(now, index);
        Ok(())
    }

    /// A half-open connection for listener `l` from the peer's `syn` (RFC 9293 §3.10.7.2):
    /// its sequence spaces and options, in SYN-RECEIVED, counted in the SYN queue.
    fn half_open(
        &mut self,
        now: Instant,
        l: ListenerId,
        tuple: FourTuple,
        iss: SeqNumber,
        syn: &TcpRepr<'_>,
    ) -> Connection {
        let params = self.params(tuple.local.ip());
        let ident = ConnIdentity {
            id: self.conns.next_id(),
            local: tuple.local,
            remote: tuple.remote,
            iss,
        };
        let mut conn = Connection::new(ident, Owner::SynQueue(l), params, &self.shared.cfg, now);
        conn.ts_offset = self.ts_offset(tuple.local, tuple.remote);
        let mut env = self.shared.env(now);
        let seq = SeqNumber(syn.seq);
        conn.irs = seq;
        conn.rcv_nxt = seq + 1u32;
        conn.rcv_adv = conn.rcv_nxt;
        conn.apply_syn_options(syn, &mut env);
        conn.snd_wnd = u32::from(syn.window);
        conn.max_snd_wnd = conn.snd_wnd;
        conn.snd_wl1 = seq;
        conn.snd_wl2 = iss;
        // RFC 9293 figure 5: a passive open goes LISTEN -> SYN-RECEIVED.
        conn.state = TcpState::Listen;
        conn.set_state(TcpState::SynReceived, &mut env);
        self.listeners.half_open_added(l);
        self.shared.stats.passive_opens += 1;
        conn
    }

    /// Whether an ACK to listener `l` may be the end of a SYN-cookie handshake: cookies are
    /// always on, or the listener sent one within the last two cookie periods.
    fn cookies_in_use(&self, now: Instant, l: ListenerId) -> bool {
        match self.shared.cfg.syn_cookies {
            SynCookieMode::Always => true,
            SynCookieMode::Never => false,
            SynCookieMode::Auto => self
                .listeners
                .last_cookie(l)
                .is_some_and(|t| now.saturating_duration_since(t) <= Duration::from_secs(128)),
        }
    }

    /// Answers a SYN statelessly (RFC 4987 §3.6): the SYN-ACK's sequence number is the
    /// cookie, and window scale, SACK and ECN ride in the TSval's low bits.
    fn send_cookie(
        &mut self,
        now: Instant,
        l: ListenerId,
        tuple: FourTuple,
        seg: &TcpRepr<'_>,
    ) -> Result<(), DropReason> {
        if self.listeners.accept_queue_full(l) {
            // Nobody could take the connection anyway.
            return Err(DropReason::AcceptQueueFull);
        }
        let params = self.params(tuple.local.ip());
        let ts_offset = self.ts_offset(tuple.local, tuple.remote);
        let cfg = &self.shared.cfg;
        let peer_mss = seg.options.mss.unwrap_or(536);
        let cookie = cookie::make(
            self.cookie_key,
            tuple.local,
            tuple.remote,
            SeqNumber(seg.seq),
            peer_mss,
            now,
        );
        let ecn = cfg.ecn && seg.flags.contains(TcpFlags::ECE) && seg.flags.contains(TcpFlags::CWR);
        let mut options = TcpOptions {
            mss: Some(params.local_mss),
            ..TcpOptions::default()
        };
        let mut flags = TcpFlags::SYN | TcpFlags::ACK;
        if let Some((tsval, _)) = seg.options.timestamps.filter(|_| cfg.timestamps) {
            // Without timestamps there is nowhere to keep these: the connection goes without.
            let carried = cookie::CookieOptions {
                window_scale: seg.options.window_scale,
                sack: cfg.sack && seg.options.sack_permitted,
                ecn,
            };
            let ours = (now.as_millis() as u32).wrapping_add(ts_offset);
            let bits = (1u32 << cookie::TS_OPTION_BITS) - 1;
            // Never ahead of the clock the connection will use (the peer's PAWS would drop our
            // first segments): step back one period when the options outweigh the low bits.
            let mut val = (ours & !bits) | carried.encode();
            if (val.wrapping_sub(ours) as i32) > 0 {
                val = val.wrapping_sub(bits + 1);
            }
            options.timestamps = Some((val, tsval));
            options.sack_permitted = carried.sack;
            if seg.options.window_scale.is_some() {
                options.window_scale =
                    Some(crate::tcp::connection::window_shift_for(params.recv_buffer));
            }
            if ecn {
                flags |= TcpFlags::ECE;
            }
        }
        let window = params.recv_buffer.min(0xffff) as u16;
        let synack = Control::SynAck {
            local: tuple.local,
            remote: tuple.remote,
            seq: cookie,
            ack: SeqNumber(seg.seq) + 1u32,
            flags,
            window,
            options,
        };
        if !self.shared.queue_control(synack) {
            return Err(DropReason::SynQueueFull);
        }
        self.listeners.cookie_sent(l, now);
        self.shared.stats.syn_cookies_sent += 1;
        Ok(())
    }

    /// The final ACK of a cookie handshake: check the cookie and rebuild the connection as if
    /// it had waited in SYN-RECEIVED, then let the ACK complete it (RFC 4987 §3.6).
    fn input_cookie_ack(
        &mut self,
        now: Instant,
        l: ListenerId,
        tuple: FourTuple,
        seg: &TcpRepr<'_>,
    ) -> Result<(), DropReason> {
        let key = self.cookie_key;
        let Some(mss) = cookie::check(
            key,
            tuple.local,
            tuple.remote,
            SeqNumber(seg.ack),
            SeqNumber(seg.seq),
            now,
        ) else {
            self.queue_rst(tuple, SeqNumber(seg.ack), None);
            return Err(DropReason::BadSynCookie);
        };
        if self.listeners.accept_queue_full(l) {
            return Err(DropReason::AcceptQueueFull);
        }
        if self.conns.len() >= self.shared.cfg.max_connections {
            return Err(DropReason::TooManyConnections);
        }
        let carried = seg.options.timestamps.map(|(_, ecr)| {
            cookie::CookieOptions::decode(ecr & ((1 << cookie::TS_OPTION_BITS) - 1))
        });
        let iss = SeqNumber(seg.ack) - 1u32;
        let irs = SeqNumber(seg.seq) - 1u32;
        // The SYN as the cookie remembers it.
        let mut syn_flags = TcpFlags::SYN;
        if carried.is_some_and(|c| c.ecn) {
            syn_flags |= TcpFlags::ECE | TcpFlags::CWR;
        }
        let syn = TcpRepr {
            src_port: tuple.remote.port(),
            dst_port: tuple.local.port(),
            seq: irs.0,
            ack: 0,
            flags: syn_flags,
            window: seg.window,
            urgent: 0,
            options: TcpOptions {
                mss: Some(mss),
                window_scale: carried.and_then(|c| c.window_scale),
                sack_permitted: carried.is_some_and(|c| c.sack),
                timestamps: seg.options.timestamps.map(|(val, _)| (val, 0)),
                ..TcpOptions::default()
            },
            payload: &[],
        };
        let mut conn = self.half_open(now, l, tuple, iss, &syn);
        // Our SYN-ACK is out: SND.NXT is past it, and its window was advertised.
        conn.snd_nxt = iss + 1u32;
        conn.snd_max = conn.snd_nxt;
        conn.rcv_adv = conn.rcv_nxt + u32::from(conn.recv.capacity().min(0xffff) as u16);
        self.shared.stats.syn_cookies_accepted += 1;
        let index = self.conns.insert(conn);
        // The echoed TSval carries the cookie's option bits, not a send time: no RTT sample
        // from it (the handshake's RTT is unknown after a stateless SYN-ACK).
        let mut final_ack = *seg;
        final_ack.options.timestamps = seg.options.timestamps.map(|(val, _)| (val, 0));
        self.input_conn(now, index, &final_ack, 0)
    }

    /// RFC 9293 §3.10.7.1: answer a segment for no connection with a RST (never a RST to a RST).
    fn reply_rst(&mut self, tuple: FourTuple, seg: &TcpRepr<'_>) {
        if seg.flags.contains(TcpFlags::RST) {
            return;
        }
        if seg.flags.contains(TcpFlags::ACK) {
            self.queue_rst(tuple, SeqNumber(seg.ack), None);
        } else {
            let len = seg.payload.len() as u32
                + u32::from(seg.flags.contains(TcpFlags::SYN))
                + u32::from(seg.flags.contains(TcpFlags::FIN));
            self.queue_rst(tuple, SeqNumber(0), Some(SeqNumber(seg.seq) + len));
        }
    }

    fn queue_rst(&mut self, tuple: FourTuple, seq: SeqNumber, ack: Option<SeqNumber>) {
        let (now, limit) = (self.last_now, self.shared.cfg.rst_limit);
        if !self.shared.rst_limiter.allow(now, limit) {
            self.shared.stats.resets_suppressed += 1;
            return;
        }
        self.shared.queue_control(Control::Rst {
            local: tuple.local,
            remote: tuple.remote,
            seq,
            ack,
        });
    }

    fn emit_control(&mut self, c: &Control, buf: &mut [u8]) -> Transmit {
        match c {
            Control::Rst {
                local,
                remote,
                seq,
                ack,
            } => {
                let flags = if ack.is_some() {
                    TcpFlags::RST | TcpFlags::ACK
                } else {
                    TcpFlags::RST
                };
                let tcp = TcpRepr {
                    src_port: local.port(),
                    dst_port: remote.port(),
                    seq: seq.0,
                    ack: ack.map_or(0, |a| a.0),
                    flags,
                    window: 0,
                    urgent: 0,
                    options: TcpOptions::default(),
                    payload: &[],
                };
                self.shared.stats.resets_out += 1;
                self.shared
                    .emit_tcp(local.ip(), remote.ip(), &tcp, 0, 0, buf)
            }
            Control::SynAck {
                local,
                remote,
                seq,
                ack,
                flags,
                window,
                options,
            } => {
                let tcp = TcpRepr {
                    src_port: local.port(),
                    dst_port: remote.port(),
                    seq: seq.0,
                    ack: ack.0,
                    flags: *flags,
                    window: *window,
                    urgent: 0,
                    options: *options,
                    payload: &[],
                };
                self.shared
                    .emit_tcp(local.ip(), remote.ip(), &tcp, 0, 0, buf)
            }
            Control::Icmp {
                src,
                dst,
                protocol,
                body,
            } => {
                let ip = IpRepr {
                    src_addr: *src,
                    dst_addr: *dst,
                    protocol: *protocol,
                    payload_len: body.len(),
                    hop_limit: self.shared.cfg.hop_limit,
                    ecn: 0,
                };
                let h = ip.header_len();
                ip.emit(&mut buf[..h]);
                buf[h..h + body.len()].copy_from_slice(body);
                self.shared.stats.packets_out += 1;
                Transmit {
                    len: h + body.len(),
                    src: *src,
                    dst: *dst,
                    ecn: 0,
                }
            }
        }
    }

    fn emit_segment(&mut self, index: u32, seg: &OutSegment, buf: &mut [u8]) -> Option<Transmit> {
        let conn = self.conns.get(index)?;
        let tcp = TcpRepr {
            src_port: conn.local.port(),
            dst_port: conn.remote.port(),
            seq: seg.seq.0,
            ack: seg.ack.0,
            flags: seg.flags,
            window: seg.window,
            urgent: 0,
            options: seg.options,
            payload: &[],
        };
        if seg.flags.contains(TcpFlags::RST) {
            self.shared.stats.resets_out += 1;
        }
        let (src, dst) = (conn.local.ip(), conn.remote.ip());
        // The payload goes from the send queue straight into the packet; the headers are then
        // written around it.
        let at = ip_header_len(src) + tcp.header_len();
        let len = conn.send.copy_out(seg.offset, &mut buf[at..at + seg.len]);
        Some(self.shared.emit_tcp(src, dst, &tcp, len, seg.ecn, buf))
    }
}

/// The IP header length of a packet from `src`: 20 for IPv4, 40 for IPv6.
fn ip_header_len(src: IpAddr) -> usize {
    match src {
        IpAddr::V4(_) => crate::wire::Ipv4Repr::HEADER_LEN,
        IpAddr::V6(_) => crate::wire::Ipv6Repr::HEADER_LEN,
    }
}

fn unspecified_like(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V4(_) => IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(core::net::Ipv6Addr::UNSPECIFIED),
    }
}

fn is_unicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

/// Feeds a 4-tuple to a keyed hasher, as the connection table hashes it.
fn hash_tuple(h: &mut SipHasher, local: SocketAddr, remote: SocketAddr) {
    core::hash::Hash::hash(&FourTuple { local, remote }, h);
}
