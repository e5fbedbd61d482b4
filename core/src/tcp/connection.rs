//! One TCP connection: its state, sequence spaces, queues and timers, and the calls the
//! application makes on it. Segment input lives in `input.rs`, segment output in `output.rs`,
//! timers in `timers.rs`.

use alloc::collections::VecDeque;
use core::net::SocketAddr;
use core::time::Duration;

use super::buffer::{ByteQueue, ReassemblyQueue};
use super::congestion::Congestion;
use super::rack::Rack;
use super::rtt::RttEstimator;
use super::sack::Scoreboard;
use super::seq::SeqNumber;
use super::state::{ConnInfo, TcpState};
use crate::time::Deadline;
use crate::{
    CloseReason, ConnId, Event, Instant, ListenerId, RecvError, SendError, StackConfig, StateError,
    Stats,
};

/// Who holds a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Half-open, in a listener's SYN queue.
    SynQueue(ListenerId),
    /// Established, waiting in a listener's accept queue.
    AcceptQueue(ListenerId),
    /// The application holds the id.
    User,
    /// The application closed it; the stack finishes the close and frees it.
    Orphan,
}

/// A token bucket of one second, for challenge ACKs (RFC 5961 §7).
#[derive(Debug, Clone, Default)]
pub struct RateLimiter {
    window_start: Instant,
    used: u32,
}

impl RateLimiter {
    /// Takes one token if fewer than `limit` were taken in the current second.
    pub fn allow(&mut self, now: Instant, limit: u32) -> bool {
        if now.saturating_duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.used = 0;
        }
        if self.used < limit {
            self.used += 1;
            true
        } else {
            false
        }
    }
}

/// What a connection needs from the stack while it processes input or timers.
pub struct Env<'a> {
    /// The current time.
    pub now: Instant,
    /// The stack's configuration.
    pub cfg: &'a StackConfig,
    /// Stack counters.
    pub stats: &'a mut Stats,
    /// Stack event queue.
    pub events: &'a mut VecDeque<Event>,
    /// Stack-wide challenge-ACK limiter.
    pub challenge: &'a mut RateLimiter,
}

impl Env<'_> {
    pub(crate) fn event(&mut self, e: Event) {
        self.events.push_back(e);
    }
}

/// What names a new connection: its id, 4-tuple and initial send sequence number.
#[derive(Debug, Clone, Copy)]
pub struct ConnIdentity {
    /// The id the application will see.
    pub id: ConnId,
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port.
    pub remote: SocketAddr,
    /// Initial send sequence number (RFC 6528).
    pub iss: SeqNumber,
}

/// Per-connection options fixed at creation.
#[derive(Debug, Clone, Copy)]
pub struct ConnParams {
    /// Send-buffer size.
    pub send_buffer: usize,
    /// Receive-buffer size.
    pub recv_buffer: usize,
    /// Nagle on.
    pub nagle: bool,
    /// The MSS this side can receive (from the MTU).
    pub local_mss: u16,
    /// Path MTU.
    pub mtu: u16,
    /// IP + TCP header overhead without options (40 for IPv4, 60 for IPv6).
    pub header_overhead: u16,
}

/// One connection's whole state (RFC 9293 §3.3.1's TCB).
#[derive(Debug)]
pub struct Connection {
    pub(crate) id: ConnId,
    pub(crate) state: TcpState,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) owner: Owner,

    // Send sequence space (RFC 9293 §3.3.1).
    pub(crate) iss: SeqNumber,
    pub(crate) snd_una: SeqNumber,
    pub(crate) snd_nxt: SeqNumber,
    /// Highest sequence number sent (differs from `snd_nxt` after an RTO rewinds it).
    pub(crate) snd_max: SeqNumber,
    pub(crate) snd_wnd: u32,
    pub(crate) snd_wl1: SeqNumber,
    pub(crate) snd_wl2: SeqNumber,
    /// Largest window the peer ever offered (RFC 1122 §4.2.3.4, RFC 5961 §5).
    pub(crate) max_snd_wnd: u32,
    /// Unacknowledged and unsent data; `send_seq` is the sequence number of its first byte.
    pub(crate) send: ByteQueue,
    pub(crate) send_seq: SeqNumber,
    /// The application shut down writing: a FIN follows the queued data.
    pub(crate) fin_queued: bool,

    // Receive sequence space.
    pub(crate) irs: SeqNumber,
    pub(crate) rcv_nxt: SeqNumber,
    /// Right edge of the window last advertised; never moves left (RFC 9293 §3.8.6.2.2).
    pub(crate) rcv_adv: SeqNumber,
    pub(crate) recv: ByteQueue,
    pub(crate) reasm: ReassemblyQueue,
    /// Sequence number of a FIN that arrived ahead of missing data.
    pub(crate) pending_fin: Option<SeqNumber>,
    pub(crate) fin_received: bool,

    // Options (RFC 9293 §3.7.1 MSS, RFC 7323 §2 window scale).
    pub(crate) snd_wscale: u8,
    pub(crate) rcv_wscale: u8,
    pub(crate) wscale_ok: bool,
    pub(crate) mss: u16,
    pub(crate) peer_mss: u16,
    pub(crate) local_mss: u16,
    pub(crate) mtu: u16,
    pub(crate) header_overhead: u16,

    // Timestamps (RFC 7323 §3–5).
    pub(crate) ts_ok: bool,
    /// Per-connection offset of our TSval clock (RFC 7323 §5.4), from the keyed hash.
    pub(crate) ts_offset: u32,
    pub(crate) ts_recent: u32,
    pub(crate) ts_recent_at: Instant,
    /// The ACK field of the last segment we sent (RFC 7323 "Last.ACK.sent").
    pub(crate) last_ack_sent: SeqNumber,

    // SACK (RFC 2018, RFC 2883, RFC 6675).
    pub(crate) sack_ok: bool,
    pub(crate) scoreboard: Scoreboard,
    /// Time-based loss detection (RFC 8985 §6).
    pub(crate) rack: Rack,
    /// RACK's reordering timer.
    pub(crate) rack_deadline: Deadline,
    /// A duplicate segment to report as the first SACK block (D-SACK).
    pub(crate) dsack: Option<(SeqNumber, SeqNumber)>,
    /// Sequence number of the latest out-of-order segment (its block is reported first).
    pub(crate) last_ooo: Option<SeqNumber>,

    // ECN (RFC 3168 §6.1).
    pub(crate) ecn_ok: bool,
    /// Receiver: a CE mark arrived; set ECE on every ACK until the peer's CWR.
    pub(crate) ece_pending: bool,
    /// Sender: the window was reduced for an ECE; set CWR on the next new data segment.
    pub(crate) cwr_pending: bool,
    /// Sender: no second ECN reduction before SND.UNA passes this (once per window).
    pub(crate) ecn_recover: Option<SeqNumber>,

    pub(crate) rtt: RttEstimator,
    pub(crate) cc: Congestion,

    // Timers: absolute deadlines, `Deadline::NONE` when not running.
    pub(crate) rtx_deadline: Deadline,
    pub(crate) persist_deadline: Deadline,
    pub(crate) delack_deadline: Deadline,
    pub(crate) keepalive_deadline: Deadline,
    /// Pacing: the earliest time the next new data segment may leave.
    pub(crate) pace_next: Instant,
    /// Pacing timer: set while data waits for `pace_next`.
    pub(crate) pace_deadline: Deadline,
    /// Tail loss probe timer (RFC 8985 §7).
    pub(crate) tlp_deadline: Deadline,
    /// The probe timer fired: send a probe at the next opportunity.
    pub(crate) tlp_pending: bool,
    /// A probe is out and no ACK has advanced SND.UNA since: no second probe.
    pub(crate) tlp_outstanding: bool,
    /// TIME_WAIT (2·MSL) or the FIN_WAIT_2 timeout.
    pub(crate) linger_deadline: Deadline,
    /// Consecutive retransmissions of the segment at `snd_una`.
    pub(crate) retries: u32,
    pub(crate) persist_backoff: u32,
    pub(crate) keepalive_unanswered: u32,
    pub(crate) last_recv: Instant,
    pub(crate) last_send: Instant,

    // Pending output.
    /// Send an ACK at the next opportunity.
    pub(crate) ack_now: bool,
    /// Further duplicate ACKs owed: one per out-of-order segment beyond the first since the
    /// last output (RFC 5681 §4.2 wants one ACK per out-of-order segment, even when the caller
    /// hands several packets in before polling).
    pub(crate) dup_acks_owed: u16,
    /// Bytes received in order since we last sent an ACK.
    pub(crate) unacked_bytes: u32,
    /// Retransmit the segment at `snd_una` now (fast retransmit, partial ACK, PMTU drop).
    pub(crate) rtx_first: bool,
    /// Send a probe (zero-window or keep-alive): an ACK with `SEG.SEQ = SND.UNA - 1`.
    pub(crate) probe_pending: bool,
    /// The persist timer fired with a small non-zero window: send what fits even if sender-side
    /// SWS avoidance would wait (RFC 1122 §4.2.3.4 override timeout).
    pub(crate) sws_override: bool,
    /// Send a RST (abort) and then stop.
    pub(crate) rst_pending: bool,

    pub(crate) nagle: bool,
    pub(crate) keepalive: Option<Duration>,

    /// Why the connection ended, once it has.
    pub(crate) outcome: Option<CloseReason>,
    pub(crate) readable_notified: bool,
    pub(crate) writable_wanted: bool,
    pub(crate) soft_error: Option<(u8, u8)>,
    /// Receive memory the stack can still give this connection (set by the stack before
    /// every call; bounds window growth and reassembly).
    pub(crate) recv_budget: usize,
    /// Per-connection challenge-ACK limiter (RFC 5961 §7).
    pub(crate) challenge: RateLimiter,
    /// When we last answered an out-of-window pure ACK.
    pub(crate) last_invalid_ack: Deadline,
    pub(crate) retransmits: u64,
    /// Scheduled in the stack's timer heap at this deadline.
    pub(crate) scheduled: Deadline,
    /// In the stack's transmit-ready queue.
    pub(crate) in_ready_queue: bool,
}

impl Connection {
    /// A connection in CLOSED with the given identity and buffers; the caller opens it.
    pub(crate) fn new(
        ident: ConnIdentity,
        owner: Owner,
        params: ConnParams,
        cfg: &StackConfig,
        now: Instant,
    ) -> Connection {
        let ConnIdentity {
            id,
            local,
            remote,
            iss,
        } = ident;
        let mss = params.local_mss.min(536);
        Connection {
            id,
            state: TcpState::Closed,
            local,
            remote,
            owner,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            snd_wl1: SeqNumber(0),
            snd_wl2: iss,
            max_snd_wnd: 0,
            send: ByteQueue::new(params.send_buffer),
            send_seq: iss + 1u32,
            fin_queued: false,
            irs: SeqNumber(0),
            rcv_nxt: SeqNumber(0),
            rcv_adv: SeqNumber(0),
            recv: ByteQueue::new(params.recv_buffer),
            // Payload can only fill the window; the eighth on top covers per-chunk overhead.
            reasm: ReassemblyQueue::new(
                cfg.reassembly_limit
                    .min(params.recv_buffer + params.recv_buffer / 8),
            ),
            pending_fin: None,
            fin_received: false,
            snd_wscale: 0,
            rcv_wscale: window_shift_for(params.recv_buffer),
            wscale_ok: false,
            mss,
            peer_mss: 536,
            local_mss: params.local_mss,
            mtu: params.mtu,
            header_overhead: params.header_overhead,
            ts_ok: false,
            ts_offset: 0,
            ts_recent: 0,
            ts_recent_at: now,
            last_ack_sent: SeqNumber(0),
            sack_ok: false,
            scoreboard: Scoreboard::default(),
            rack: Rack::default(),
            rack_deadline: Deadline::NONE,
            dsack: None,
            last_ooo: None,
            ecn_ok: false,
            ece_pending: false,
            cwr_pending: false,
            ecn_recover: None,
            rtt: RttEstimator::new(cfg.rto_initial, cfg.rto_min, cfg.rto_max),
            cc: Congestion::new(cfg.congestion, u32::from(mss), cfg.initial_window),
            rtx_deadline: Deadline::NONE,
            persist_deadline: Deadline::NONE,
            delack_deadline: Deadline::NONE,
            keepalive_deadline: Deadline::NONE,
            pace_next: now,
            pace_deadline: Deadline::NONE,
            tlp_deadline: Deadline::NONE,
            tlp_pending: false,
            tlp_outstanding: false,
            linger_deadline: Deadline::NONE,
            retries: 0,
            persist_backoff: 0,
            keepalive_unanswered: 0,
            last_recv: now,
            last_send: now,
            ack_now: false,
            dup_acks_owed: 0,
            unacked_bytes: 0,
            rtx_first: false,
            probe_pending: false,
            sws_override: false,
            rst_pending: false,
            nagle: params.nagle,
            keepalive: cfg.keepalive,
            outcome: None,
            readable_notified: false,
            writable_wanted: false,
            soft_error: None,
            recv_budget: usize::MAX,
            challenge: RateLimiter::default(),
            last_invalid_ack: Deadline::NONE,
            retransmits: 0,
            scheduled: Deadline::NONE,
            in_ready_queue: false,
        }
    }

    /// The connection's id.
    pub(crate) fn id(&self) -> ConnId {
        self.id
    }

    /// Reports an event about this connection, but only once the application holds its id:
    /// a connection still in a listener's queues has no id the application knows
    /// ([`crate::Stack::accept`] reports what happened before it was accepted).
    pub(crate) fn notify(&self, env: &mut Env<'_>, e: Event) {
        if !matches!(self.owner, Owner::SynQueue(_) | Owner::AcceptQueue(_)) {
            env.event(e);
        }
    }

    /// Moves to `to`, reporting the transition when configured.
    pub(crate) fn set_state(&mut self, to: TcpState, env: &mut Env<'_>) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        if env.cfg.report_state_changes {
            env.event(Event::StateChanged {
                conn: self.id,
                from,
                to,
            });
        }
    }

    /// Ends the connection with `reason`: CLOSED, timers stopped, `Closed` event. A fatal
    /// reason flushes the queues (RFC 9293 §3.10.7.4 on RST) and is sticky.
    pub(crate) fn finish(&mut self, reason: CloseReason, env: &mut Env<'_>) {
        if self.outcome.is_some() {
            return;
        }
        let from = self.state;
        self.set_state(TcpState::Closed, env);
        self.outcome = Some(reason);
        // RFC 4022: tcpAttemptFails counts CLOSED from SYN-SENT or SYN-RECEIVED, whatever
        // the reason; tcpEstabResets a reset from ESTABLISHED or CLOSE-WAIT.
        if matches!(from, TcpState::SynSent | TcpState::SynReceived) {
            env.stats.attempt_fails += 1;
        } else if reason == CloseReason::Reset
            && matches!(from, TcpState::Established | TcpState::CloseWait)
        {
            env.stats.estab_resets += 1;
        }
        self.rtx_deadline = Deadline::NONE;
        self.persist_deadline = Deadline::NONE;
        self.delack_deadline = Deadline::NONE;
        self.keepalive_deadline = Deadline::NONE;
        self.linger_deadline = Deadline::NONE;
        self.tlp_deadline = Deadline::NONE;
        self.tlp_pending = false;
        self.pace_deadline = Deadline::NONE;
        self.rack_deadline = Deadline::NONE;
        self.ack_now = false;
        self.dup_acks_owed = 0;
        self.rtx_first = false;
        self.probe_pending = false;
        self.reasm.clear();
        self.send.consume(usize::MAX);
        if reason != CloseReason::Normal {
            self.recv.consume(usize::MAX);
            if reason == CloseReason::TimedOut {
                env.stats.timeouts += 1;
            }
        }
        self.notify(
            env,
            Event::Closed {
                conn: self.id,
                reason,
            },
        );
    }

    /// Whether the connection has nothing left to do and may be freed once nobody holds it.
    pub(crate) fn is_finished(&self) -> bool {
        self.state == TcpState::Closed && !self.rst_pending
    }

    /// The largest amount of data the peer lets us have outstanding right now.
    pub(crate) fn flight_size(&self) -> u32 {
        self.snd_max.since(self.snd_una)
    }

    /// Sequence number of our FIN (meaningful once `fin_queued`).
    pub(crate) fn fin_seq(&self) -> SeqNumber {
        self.send_seq + self.send.len()
    }

    /// Whether our FIN has been sent and acknowledged.
    pub(crate) fn fin_acked(&self) -> bool {
        self.fin_queued && self.send.is_empty() && self.snd_una == self.fin_seq() + 1u32
    }

    /// Our TSval clock: milliseconds plus the connection's offset (RFC 7323 §5.4).
    pub(crate) fn ts_val(&self, now: Instant) -> u32 {
        (now.as_millis() as u32).wrapping_add(self.ts_offset)
    }

    /// Bytes held (send queue, and receive queue plus reassembly), for the stack-wide limits.
    pub(crate) fn memory(&self) -> (usize, usize) {
        (self.send.len(), self.recv.len() + self.reasm.len())
    }

    /// Recomputes the send MSS from the peer's MSS option and the path MTU.
    pub(crate) fn update_mss(&mut self) {
        let from_mtu = self.mtu.saturating_sub(self.header_overhead).max(64);
        self.mss = self.peer_mss.min(from_mtu).max(64);
        self.cc.set_mss(self.smss());
    }

    /// RFC 5681's SMSS: the payload of a full-sized segment, i.e. the MSS less the options
    /// every segment carries (the 12-byte timestamp option once negotiated). Congestion
    /// control and loss recovery count in it.
    pub(crate) fn smss(&self) -> u32 {
        u32::from(self.mss)
            .saturating_sub(if self.ts_ok { 12 } else { 0 })
            .max(1)
    }

    // ---- application calls ------------------------------------------------------------------

    /// Queues data (RFC 9293 §3.10.2 SEND). Returns how much was taken.
    pub(crate) fn send(&mut self, data: &[u8]) -> Result<usize, SendError> {
        if let Some(reason) = self.outcome {
            return Err(SendError::from_reason(reason));
        }
        if self.fin_queued || !self.state.can_send() {
            return Err(SendError::Closed);
        }
        if data.is_empty() {
            return Ok(0);
        }
        let n = self.send.push(data);
        if n < data.len() {
            self.writable_wanted = true;
        }
        if n == 0 {
            return Err(SendError::WouldBlock);
        }
        Ok(n)
    }

    /// Reads in-order data (RFC 9293 §3.10.3 RECEIVE). `Ok(0)` is end of stream.
    pub(crate) fn recv(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.readable_notified = false;
        if !self.recv.is_empty() {
            if buf.is_empty() {
                return Ok(0);
            }
            let n = self.recv.read_into(buf);
            if self.window_update_due() {
                self.ack_now = true;
            }
            return Ok(n);
        }
        if let Some(reason) = self.outcome {
            return match RecvError::from_reason(reason) {
                Some(e) => Err(e),
                None => Ok(0),
            };
        }
        if self.fin_received {
            return Ok(0);
        }
        match self.state {
            TcpState::SynSent | TcpState::SynReceived => Err(RecvError::NotConnected),
            _ => Err(RecvError::WouldBlock),
        }
    }

    /// Shuts down writing: a FIN follows the queued data (RFC 9293 §3.10.4 CLOSE, half-close).
    pub(crate) fn shutdown(&mut self, env: &mut Env<'_>) -> Result<(), StateError> {
        if self.outcome.is_some_and(|r| r != CloseReason::Normal) {
            return Err(StateError::Failed);
        }
        if self.fin_queued || self.outcome.is_some() {
            return Err(StateError::AlreadyShutdown);
        }
        match self.state {
            TcpState::SynSent => {
                // Nothing was sent to the peer beyond a SYN: the connection just ends.
                self.finish(CloseReason::Normal, env);
                return Ok(());
            }
            // RFC 9293 §3.10.4: in SYN-RECEIVED (a simultaneous open) the FIN waits for
            // ESTABLISHED; our SYN is not acknowledged yet, and a SYN-ACK is all we may repeat.
            TcpState::SynReceived => {}
            TcpState::Established => self.set_state(TcpState::FinWait1, env),
            TcpState::CloseWait => self.set_state(TcpState::LastAck, env),
            _ => return Err(StateError::AlreadyShutdown),
        }
        self.fin_queued = true;
        Ok(())
    }

    /// Releases the connection to the stack (RFC 9293 §3.10.4 CLOSE). Unread data makes it an
    /// abort (RFC 2525 §2.17), as Linux does.
    pub(crate) fn close(&mut self, env: &mut Env<'_>) {
        self.owner = Owner::Orphan;
        if self.outcome.is_some() {
            return;
        }
        if !self.recv.is_empty() {
            self.abort(env);
            return;
        }
        if !self.fin_queued {
            let _ = self.shutdown(env);
        }
        if self.state == TcpState::FinWait2 {
            self.linger_deadline = Deadline::at(env.now + env.cfg.fin_wait_2_timeout);
        }
    }

    /// Resets the connection (RFC 9293 §3.10.5 ABORT).
    pub(crate) fn abort(&mut self, env: &mut Env<'_>) {
        if self.outcome.is_some() {
            return;
        }
        if matches!(
            self.state,
            TcpState::SynReceived
                | TcpState::Established
                | TcpState::FinWait1
                | TcpState::FinWait2
                | TcpState::CloseWait
        ) {
            self.rst_pending = true;
        }
        self.finish(CloseReason::Aborted, env);
    }

    /// Whether enough receive space opened since the last advertisement to tell the peer
    /// (receiver-side silly window avoidance, RFC 1122 §4.2.3.3).
    pub(crate) fn window_update_due(&self) -> bool {
        // Before any data arrived there is nothing to reopen: the first ACK of the peer's data
        // carries the full window anyway (and a SYN-ACK's window, unscaled, is always small).
        if !self.state.can_receive() || self.rcv_nxt == self.irs + 1u32 {
            return false;
        }
        // The window field cannot say more than 0xffff << shift (RFC 7323 §2.3); without this
        // cap an unscaled connection with a large buffer would "update" its window forever.
        let shift = if self.wscale_ok { self.rcv_wscale } else { 0 };
        let new_right = self.rcv_nxt + (self.recv.free() as u32).min(0xffff << shift);
        let growth = new_right.since(self.rcv_adv);
        let threshold = (self.recv.capacity() as u32 / 2).min(2 * u32::from(self.local_mss));
        growth >= threshold.max(1)
            && self.rcv_adv.since(self.rcv_nxt) < self.recv.capacity() as u32 / 2
    }

    /// A `tcp_info`-like snapshot.
    pub(crate) fn info(&self) -> ConnInfo {
        ConnInfo {
            state: self.state,
            local: self.local,
            remote: self.remote,
            iss: self.iss.0,
            irs: self.irs.0,
            snd_una: self.snd_una.0,
            snd_nxt: self.snd_nxt.0,
            snd_wnd: self.snd_wnd,
            rcv_nxt: self.rcv_nxt.0,
            rcv_wnd: self.rcv_adv.since(self.rcv_nxt),
            snd_wscale: self.wscale_ok.then_some(self.snd_wscale),
            rcv_wscale: self.wscale_ok.then_some(self.rcv_wscale),
            mss: self.mss,
            peer_mss: self.peer_mss,
            path_mtu: self.mtu,
            cwnd: self.cc.cwnd(),
            ssthresh: self.cc.ssthresh(),
            congestion: self.cc.algorithm(),
            srtt: self.rtt.srtt(),
            rttvar: self.rtt.rttvar(),
            rto: self.rtt.rto(),
            bytes_in_flight: self.flight_size(),
            send_queued: self.send.len(),
            recv_queued: self.recv.len(),
            reassembly_queued: self.reasm.len(),
            retransmits: self.retransmits,
            backoff: self.rtt.backoff(),
            nagle: self.nagle,
            keepalive: self.keepalive,
            soft_error: self.soft_error,
            timestamps: self.ts_ok,
            ecn: self.ecn_ok,
            sack: self.sack_ok,
        }
    }
}

/// The smallest window-scale shift that lets `buffer` bytes be advertised (RFC 7323 §2.3,
/// at most 14).
pub(crate) fn window_shift_for(buffer: usize) -> u8 {
    let mut shift = 0u8;
    while shift < 14 && (buffer >> shift) > 0xffff {
        shift += 1;
    }
    shift
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state of an idle established connection, without buffer contents. Issue target:
    /// at most 1 KiB per connection with the table's share (slot, 4-tuple index, timer heap:
    /// about 60 bytes at a million connections, see `benches/scale.rs`).
    #[test]
    fn idle_connection_state_is_small() {
        let size = core::mem::size_of::<Connection>();
        assert!(size <= 900, "Connection is {size} bytes");
    }
}
