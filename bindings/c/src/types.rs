//! Enumerations and the plain structures the library fills in: events, connection info,
//! counters.

use sanstcp_core::link::{LinkDropReason, LinkStats};
use sanstcp_core::{
    CloseReason, CongestionAlgorithm, ConnInfo, DropReason, Event, Stats, TcpState,
};

use core::ffi::{c_int, CStr};

use crate::addr::sockaddr_from;

/// What a `stcp_event` reports (its `kind` field).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum stcp_event_kind {
    /// An active open completed: the connection `conn` is established.
    STCP_EVENT_CONNECTED = 1,
    /// The listener `listener` has a connection waiting: call `stcp_accept`.
    STCP_EVENT_INCOMING = 2,
    /// New data can be read from `conn` with `stcp_recv`.
    STCP_EVENT_READABLE = 3,
    /// Send-buffer space became free on `conn` after a `stcp_send` was cut short.
    STCP_EVENT_WRITABLE = 4,
    /// The peer sent FIN on `conn`: after the buffered data, `stcp_recv` returns 0.
    STCP_EVENT_PEER_CLOSED = 5,
    /// The connection `conn` ended for `reason`. Error reasons are sticky: later calls on it
    /// return the matching code. The id stays valid until `stcp_close` or `stcp_abort`.
    STCP_EVENT_CLOSED = 6,
    /// `conn` went from state `from` to state `to`; only reported when the configuration's
    /// `report_state_changes` is set.
    STCP_EVENT_STATE_CHANGED = 7,
}

/// Why a connection ended (the `reason` of `STCP_EVENT_CLOSED`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum stcp_close_reason {
    /// Not a `STCP_EVENT_CLOSED` event.
    STCP_CLOSE_NONE = 0,
    /// Both sides closed and every byte was acknowledged.
    STCP_CLOSE_NORMAL = 1,
    /// The peer reset the connection.
    STCP_CLOSE_RESET = 2,
    /// Retransmissions, the handshake, keep-alive or FIN-WAIT-2 ran out of time.
    STCP_CLOSE_TIMED_OUT = 3,
    /// The peer refused the connection (RST in answer to the SYN).
    STCP_CLOSE_REFUSED = 4,
    /// This side aborted the connection (or the stack did, e.g. on close with unread data).
    STCP_CLOSE_ABORTED = 5,
}

/// The TCP states of RFC 9293 section 3.3.2.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum stcp_tcp_state {
    /// No connection.
    STCP_STATE_CLOSED = 0,
    /// Waiting for a SYN (listeners only).
    STCP_STATE_LISTEN = 1,
    /// SYN sent, waiting for the SYN-ACK.
    STCP_STATE_SYN_SENT = 2,
    /// SYN received and answered, waiting for the ACK of our SYN.
    STCP_STATE_SYN_RECEIVED = 3,
    /// Data flows both ways.
    STCP_STATE_ESTABLISHED = 4,
    /// This side closed; our FIN is not yet acknowledged.
    STCP_STATE_FIN_WAIT_1 = 5,
    /// Our FIN was acknowledged; waiting for the peer's FIN.
    STCP_STATE_FIN_WAIT_2 = 6,
    /// The peer closed; waiting for this side to close.
    STCP_STATE_CLOSE_WAIT = 7,
    /// Both closed at once; waiting for the ACK of our FIN.
    STCP_STATE_CLOSING = 8,
    /// The peer closed, then this side; waiting for the ACK of our FIN.
    STCP_STATE_LAST_ACK = 9,
    /// Both closed; waiting 2 MSL so that old duplicates die out.
    STCP_STATE_TIME_WAIT = 10,
}

/// Congestion-control algorithms (the `congestion` fields).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum stcp_congestion {
    /// NewReno: RFC 5681 slow start and congestion avoidance, RFC 6582 fast recovery.
    STCP_CC_NEWRENO = 0,
    /// No congestion control: only the peer's receive window limits the sender. For tests and
    /// links known to be uncongested.
    STCP_CC_NONE = 1,
}

/// Why the stack dropped an incoming packet: the positive return values of
/// `stcp_handle_packet`, and the indices of `stcp_stack_counters.drops`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum stcp_drop_reason {
    /// Not a drop: the packet was accepted (`stcp_handle_packet` returned 0).
    STCP_DROP_NONE = 0,
    /// The IP header did not parse (length, version, header checksum).
    STCP_DROP_BAD_IP_HEADER = 1,
    /// The destination address is not one of the stack's.
    STCP_DROP_NOT_FOR_US = 2,
    /// IP fragments are not reassembled.
    STCP_DROP_FRAGMENT = 3,
    /// Neither TCP nor ICMP.
    STCP_DROP_UNSUPPORTED_PROTOCOL = 4,
    /// The TCP header did not parse (data offset, option lengths, port 0).
    STCP_DROP_MALFORMED_TCP = 5,
    /// The TCP or ICMP checksum was wrong.
    STCP_DROP_BAD_CHECKSUM = 6,
    /// Unusable source address (multicast, broadcast, unspecified).
    STCP_DROP_BAD_ADDRESS = 7,
    /// No connection or listener; a RST was sent unless the segment was itself a RST.
    STCP_DROP_NO_CONNECTION = 8,
    /// Sequence number outside the receive window (an ACK was sent).
    STCP_DROP_OUT_OF_WINDOW = 9,
    /// ACK for data never sent, or too old (RFC 5961 section 5).
    STCP_DROP_BAD_ACK = 10,
    /// RST in the window but not exact; a challenge ACK was sent (RFC 5961 section 3.2).
    STCP_DROP_RST_IN_WINDOW = 11,
    /// RST outside the window.
    STCP_DROP_RST_OUT_OF_WINDOW = 12,
    /// SYN on a synchronized connection; a challenge ACK was sent (RFC 5961 section 4).
    STCP_DROP_SYN_ON_SYNCHRONIZED = 13,
    /// Segment without ACK on a synchronized connection, or other state-invalid flags.
    STCP_DROP_INVALID_FLAGS = 14,
    /// The listener's SYN queue was full.
    STCP_DROP_SYN_QUEUE_FULL = 15,
    /// The listener's accept queue was full when the handshake completed.
    STCP_DROP_ACCEPT_QUEUE_FULL = 16,
    /// The stack's connection limit was reached.
    STCP_DROP_TOO_MANY_CONNECTIONS = 17,
    /// Out-of-order data did not fit the reassembly memory bound.
    STCP_DROP_REASSEMBLY_FULL = 18,
    /// Data arrived after this side had received FIN or shut down reading.
    STCP_DROP_DATA_AFTER_FIN = 19,
    /// An ICMP message that needs no action (or did not match a connection).
    STCP_DROP_ICMP_IGNORED = 20,
    /// The control-packet queue (RST, challenge ACK, ICMP reply) was full.
    STCP_DROP_CONTROL_QUEUE_FULL = 21,
    /// A timestamp older than TS.Recent: an old duplicate (PAWS, RFC 7323 section 5); an ACK
    /// was sent.
    STCP_DROP_PAWS = 22,
    /// An ACK to a listener whose SYN cookie was forged, stale or for another connection (a
    /// RST was sent).
    STCP_DROP_BAD_SYN_COOKIE = 23,
    /// A reason newer than these bindings.
    STCP_DROP_OTHER = 63,
}

/// Why the link layer dropped a frame or packet: the positive return values of
/// `stcp_link_handle_frame`, and the indices of `stcp_link_counters.drops`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum stcp_link_drop_reason {
    /// Not a drop (`stcp_link_handle_frame` returned 0).
    STCP_LINK_DROP_NONE = 0,
    /// Incoming: a frame for another MAC address or a group we are not in, or a Neighbor
    /// Solicitation for an address that is not ours.
    STCP_LINK_DROP_NOT_FOR_US = 1,
    /// Incoming: truncated Ethernet header, multicast source MAC, or an ARP/NDP message that
    /// failed to parse or validate.
    STCP_LINK_DROP_BAD_FRAME = 2,
    /// Incoming: an EtherType other than IPv4, ARP and IPv6.
    STCP_LINK_DROP_UNKNOWN_ETHERTYPE = 3,
    /// Outgoing: a parked packet whose next hop never answered.
    STCP_LINK_DROP_UNRESOLVED = 4,
    /// Outgoing: a parked packet pushed out by a newer one (`pending_limit`).
    STCP_LINK_DROP_PENDING_FULL = 5,
    /// Outgoing: a packet needed a new neighbor entry while every entry was resolving
    /// (`cache_limit`).
    STCP_LINK_DROP_CACHE_FULL = 6,
    /// Outgoing: an ARP/NDP frame not queued because `control_limit` frames were waiting.
    STCP_LINK_DROP_QUEUE_FULL = 7,
    /// Outgoing: a queued frame larger than the buffer given to `stcp_link_poll_frame`.
    STCP_LINK_DROP_BUFFER_TOO_SMALL = 8,
    /// Outgoing: a packet to the stack's own address beyond the per-call loopback budget.
    STCP_LINK_DROP_LOOPBACK_LIMIT = 9,
    /// A reason newer than these bindings.
    STCP_LINK_DROP_OTHER = 31,
}

/// Number of entries of `stcp_stack_counters.drops` (room for reasons added later).
pub const STCP_DROP_SLOTS: usize = 64;
/// Number of entries of `stcp_link_counters.drops` (room for reasons added later).
pub const STCP_LINK_DROP_SLOTS: usize = 32;

/// One event from `stcp_poll_event`. Fields that do not apply to `kind` are 0.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct stcp_event {
    /// What happened.
    pub kind: stcp_event_kind,
    /// For `STCP_EVENT_CLOSED`: why; otherwise `STCP_CLOSE_NONE`.
    pub reason: stcp_close_reason,
    /// The connection, for every kind but `STCP_EVENT_INCOMING`.
    pub conn: u64,
    /// The listener, for `STCP_EVENT_INCOMING`.
    pub listener: u64,
    /// For `STCP_EVENT_STATE_CHANGED`: the state before.
    pub from: stcp_tcp_state,
    /// For `STCP_EVENT_STATE_CHANGED`: the state after.
    pub to: stcp_tcp_state,
}

/// A snapshot of one connection (like Linux's `tcp_info`), from `stcp_conn_info`.
/// Times are in nanoseconds.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stcp_tcp_info {
    /// Current state.
    pub state: stcp_tcp_state,
    /// Congestion-control algorithm.
    pub congestion: stcp_congestion,
    /// Local address and port (`AF_INET` or `AF_INET6`).
    pub local: libc::sockaddr_storage,
    /// Remote address and port.
    pub remote: libc::sockaddr_storage,
    /// Initial send sequence number.
    pub iss: u32,
    /// Initial receive sequence number.
    pub irs: u32,
    /// Oldest unacknowledged sequence number.
    pub snd_una: u32,
    /// Next sequence number to send.
    pub snd_nxt: u32,
    /// Peer's receive window, bytes (scaled).
    pub snd_wnd: u32,
    /// Next sequence number expected.
    pub rcv_nxt: u32,
    /// Receive window currently advertised, bytes.
    pub rcv_wnd: u32,
    /// Congestion window, bytes.
    pub cwnd: u32,
    /// Slow-start threshold, bytes (`UINT32_MAX` before the first loss).
    pub ssthresh: u32,
    /// Bytes sent and not yet acknowledged.
    pub bytes_in_flight: u32,
    /// Window-scale shift applied to the peer's window field (RFC 7323), or -1 when not
    /// negotiated.
    pub snd_wscale: i16,
    /// Window-scale shift applied to our window field, or -1 when not negotiated.
    pub rcv_wscale: i16,
    /// Maximum segment size this side sends.
    pub mss: u16,
    /// MSS the peer announced.
    pub peer_mss: u16,
    /// Path MTU used for the MSS.
    pub path_mtu: u16,
    /// Nagle's algorithm is on.
    pub nagle: bool,
    /// Timestamps (RFC 7323) negotiated.
    pub timestamps: bool,
    /// SACK (RFC 2018) negotiated.
    pub sack: bool,
    /// `soft_error_type` and `soft_error_code` hold the last ICMP soft error.
    pub has_soft_error: bool,
    /// ICMP type of the last soft error (when `has_soft_error`).
    pub soft_error_type: u8,
    /// ICMP code of the last soft error (when `has_soft_error`).
    pub soft_error_code: u8,
    /// Consecutive retransmission-timeout backoffs.
    pub backoff: u32,
    /// Smoothed round-trip time, or `UINT64_MAX` when not measured yet.
    pub srtt_ns: u64,
    /// Round-trip time variance.
    pub rttvar_ns: u64,
    /// Current retransmission timeout.
    pub rto_ns: u64,
    /// Keep-alive idle time, or 0 when keep-alive is off.
    pub keepalive_ns: u64,
    /// Segments retransmitted on this connection.
    pub retransmits: u64,
    /// Bytes waiting in the send buffer (unacknowledged and unsent).
    pub send_queued: usize,
    /// Bytes waiting to be read.
    pub recv_queued: usize,
    /// Out-of-order bytes held for reassembly.
    pub reassembly_queued: usize,
}

/// Stack-wide counters (in the spirit of the TCP-MIB, RFC 4022), from `stcp_stats`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct stcp_stack_counters {
    /// Packets handed to `stcp_handle_packet`.
    pub packets_in: u64,
    /// Packets returned by `stcp_poll_transmit`.
    pub packets_out: u64,
    /// TCP segments received (valid header and checksum).
    pub segments_in: u64,
    /// TCP segments sent.
    pub segments_out: u64,
    /// Segments sent again (RTO, fast retransmit, probes of old data).
    pub retransmitted_segments: u64,
    /// RSTs sent.
    pub resets_out: u64,
    /// RSTs received and acted on.
    pub resets_in: u64,
    /// Challenge ACKs sent (RFC 5961).
    pub challenge_acks: u64,
    /// Challenge ACKs suppressed by the rate limit.
    pub challenge_acks_suppressed: u64,
    /// Active opens (connects that sent a SYN).
    pub active_opens: u64,
    /// Passive opens (SYNs that created a half-open connection).
    pub passive_opens: u64,
    /// Connection attempts that failed (RFC 4022 tcpAttemptFails).
    pub attempt_fails: u64,
    /// Established connections reset (RFC 4022 tcpEstabResets).
    pub estab_resets: u64,
    /// Connections that timed out.
    pub timeouts: u64,
    /// Zero-window probes sent.
    pub window_probes: u64,
    /// Keep-alive probes sent.
    pub keepalive_probes: u64,
    /// Fast retransmits (three duplicate ACKs, or SACK loss detection entering recovery).
    pub fast_retransmits: u64,
    /// Retransmission timeouts that fired.
    pub rto_expirations: u64,
    /// Replies (RSTs, challenge ACKs, echo replies) not sent because the control queue was
    /// full.
    pub replies_suppressed: u64,
    /// ICMP echo requests answered.
    pub icmp_echo_replies: u64,
    /// ICMP errors applied to a connection (soft errors, path MTU).
    pub icmp_errors_applied: u64,
    /// Payload bytes accepted in order.
    pub bytes_received: u64,
    /// Payload bytes sent for the first time.
    pub bytes_sent: u64,
    /// D-SACK blocks received: the peer got a segment twice (RFC 2883).
    pub dsacks_received: u64,
    /// All drops, any reason.
    pub dropped_total: u64,
    /// Drops by reason, indexed by `stcp_drop_reason` (entry 0 is unused).
    pub drops: [u64; STCP_DROP_SLOTS],
}

/// Link-layer counters, from `stcp_link_stats`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct stcp_link_counters {
    /// Frames given to `stcp_link_handle_frame`.
    pub frames_in: u64,
    /// Frames returned by `stcp_link_poll_frame`.
    pub frames_out: u64,
    /// IP packets handed to the stack.
    pub ip_in: u64,
    /// IP packets sent in a frame (including ones that were parked first).
    pub ip_out: u64,
    /// ARP requests received.
    pub arp_requests_in: u64,
    /// ARP replies received.
    pub arp_replies_in: u64,
    /// ARP requests queued for sending (announcements included).
    pub arp_requests_out: u64,
    /// ARP replies queued for sending.
    pub arp_replies_out: u64,
    /// Neighbor Solicitations received.
    pub neighbor_solicits_in: u64,
    /// Neighbor Advertisements received.
    pub neighbor_adverts_in: u64,
    /// Neighbor Solicitations queued for sending.
    pub neighbor_solicits_out: u64,
    /// Neighbor Advertisements queued for sending (unsolicited ones included).
    pub neighbor_adverts_out: u64,
    /// Other NDP messages received and ignored (router messages, redirects).
    pub ndp_ignored: u64,
    /// Outgoing packets parked while their next hop was being resolved.
    pub parked: u64,
    /// Resolutions that gave up.
    pub resolve_failures: u64,
    /// Packets to the stack's own addresses handed straight back to it.
    pub looped_back: u64,
    /// All drops, any reason.
    pub dropped_total: u64,
    /// Drops by reason, indexed by `stcp_link_drop_reason` (entry 0 is unused).
    pub drops: [u64; STCP_LINK_DROP_SLOTS],
}

pub(crate) fn drop_reason(r: DropReason) -> stcp_drop_reason {
    use stcp_drop_reason::*;
    match r {
        DropReason::BadIpHeader => STCP_DROP_BAD_IP_HEADER,
        DropReason::NotForUs => STCP_DROP_NOT_FOR_US,
        DropReason::Fragment => STCP_DROP_FRAGMENT,
        DropReason::UnsupportedProtocol => STCP_DROP_UNSUPPORTED_PROTOCOL,
        DropReason::MalformedTcp => STCP_DROP_MALFORMED_TCP,
        DropReason::BadChecksum => STCP_DROP_BAD_CHECKSUM,
        DropReason::BadAddress => STCP_DROP_BAD_ADDRESS,
        DropReason::NoConnection => STCP_DROP_NO_CONNECTION,
        DropReason::OutOfWindow => STCP_DROP_OUT_OF_WINDOW,
        DropReason::BadAck => STCP_DROP_BAD_ACK,
        DropReason::RstInWindow => STCP_DROP_RST_IN_WINDOW,
        DropReason::RstOutOfWindow => STCP_DROP_RST_OUT_OF_WINDOW,
        DropReason::SynOnSynchronized => STCP_DROP_SYN_ON_SYNCHRONIZED,
        DropReason::InvalidFlags => STCP_DROP_INVALID_FLAGS,
        DropReason::SynQueueFull => STCP_DROP_SYN_QUEUE_FULL,
        DropReason::AcceptQueueFull => STCP_DROP_ACCEPT_QUEUE_FULL,
        DropReason::TooManyConnections => STCP_DROP_TOO_MANY_CONNECTIONS,
        DropReason::ReassemblyFull => STCP_DROP_REASSEMBLY_FULL,
        DropReason::DataAfterFin => STCP_DROP_DATA_AFTER_FIN,
        DropReason::IcmpIgnored => STCP_DROP_ICMP_IGNORED,
        DropReason::ControlQueueFull => STCP_DROP_CONTROL_QUEUE_FULL,
        DropReason::Paws => STCP_DROP_PAWS,
        DropReason::BadSynCookie => STCP_DROP_BAD_SYN_COOKIE,
        _ => STCP_DROP_OTHER,
    }
}

pub(crate) fn link_drop_reason(r: LinkDropReason) -> stcp_link_drop_reason {
    use stcp_link_drop_reason::*;
    match r {
        LinkDropReason::NotForUs => STCP_LINK_DROP_NOT_FOR_US,
        LinkDropReason::BadFrame => STCP_LINK_DROP_BAD_FRAME,
        LinkDropReason::UnknownEtherType => STCP_LINK_DROP_UNKNOWN_ETHERTYPE,
        LinkDropReason::Unresolved => STCP_LINK_DROP_UNRESOLVED,
        LinkDropReason::PendingFull => STCP_LINK_DROP_PENDING_FULL,
        LinkDropReason::CacheFull => STCP_LINK_DROP_CACHE_FULL,
        LinkDropReason::QueueFull => STCP_LINK_DROP_QUEUE_FULL,
        LinkDropReason::BufferTooSmall => STCP_LINK_DROP_BUFFER_TOO_SMALL,
        LinkDropReason::LoopbackLimit => STCP_LINK_DROP_LOOPBACK_LIMIT,
        _ => STCP_LINK_DROP_OTHER,
    }
}

pub(crate) fn tcp_state(s: TcpState) -> stcp_tcp_state {
    use stcp_tcp_state::*;
    match s {
        TcpState::Closed => STCP_STATE_CLOSED,
        TcpState::Listen => STCP_STATE_LISTEN,
        TcpState::SynSent => STCP_STATE_SYN_SENT,
        TcpState::SynReceived => STCP_STATE_SYN_RECEIVED,
        TcpState::Established => STCP_STATE_ESTABLISHED,
        TcpState::FinWait1 => STCP_STATE_FIN_WAIT_1,
        TcpState::FinWait2 => STCP_STATE_FIN_WAIT_2,
        TcpState::CloseWait => STCP_STATE_CLOSE_WAIT,
        TcpState::Closing => STCP_STATE_CLOSING,
        TcpState::LastAck => STCP_STATE_LAST_ACK,
        TcpState::TimeWait => STCP_STATE_TIME_WAIT,
    }
}

pub(crate) fn close_reason(r: CloseReason) -> stcp_close_reason {
    use stcp_close_reason::*;
    match r {
        CloseReason::Normal => STCP_CLOSE_NORMAL,
        CloseReason::Reset => STCP_CLOSE_RESET,
        CloseReason::TimedOut => STCP_CLOSE_TIMED_OUT,
        CloseReason::Refused => STCP_CLOSE_REFUSED,
        CloseReason::Aborted => STCP_CLOSE_ABORTED,
    }
}

pub(crate) fn congestion(c: CongestionAlgorithm) -> stcp_congestion {
    match c {
        CongestionAlgorithm::None => stcp_congestion::STCP_CC_NONE,
        // NewReno, and any algorithm newer than these bindings (reported as the default).
        _ => stcp_congestion::STCP_CC_NEWRENO,
    }
}

impl From<Event> for stcp_event {
    fn from(e: Event) -> stcp_event {
        use stcp_event_kind::*;
        let mut out = stcp_event {
            kind: STCP_EVENT_CONNECTED,
            reason: stcp_close_reason::STCP_CLOSE_NONE,
            conn: 0,
            listener: 0,
            from: stcp_tcp_state::STCP_STATE_CLOSED,
            to: stcp_tcp_state::STCP_STATE_CLOSED,
        };
        match e {
            Event::Connected { conn } => out.conn = conn.to_raw(),
            Event::Incoming { listener } => {
                out.kind = STCP_EVENT_INCOMING;
                out.listener = listener.to_raw();
            }
            Event::Readable { conn } => {
                out.kind = STCP_EVENT_READABLE;
                out.conn = conn.to_raw();
            }
            Event::Writable { conn } => {
                out.kind = STCP_EVENT_WRITABLE;
                out.conn = conn.to_raw();
            }
            Event::PeerClosed { conn } => {
                out.kind = STCP_EVENT_PEER_CLOSED;
                out.conn = conn.to_raw();
            }
            Event::Closed { conn, reason } => {
                out.kind = STCP_EVENT_CLOSED;
                out.conn = conn.to_raw();
                out.reason = close_reason(reason);
            }
            Event::StateChanged { conn, from, to } => {
                out.kind = STCP_EVENT_STATE_CHANGED;
                out.conn = conn.to_raw();
                out.from = tcp_state(from);
                out.to = tcp_state(to);
            }
        }
        out
    }
}

fn nanos(d: core::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl From<&ConnInfo> for stcp_tcp_info {
    fn from(i: &ConnInfo) -> stcp_tcp_info {
        stcp_tcp_info {
            state: tcp_state(i.state),
            congestion: congestion(i.congestion),
            local: sockaddr_from(i.local),
            remote: sockaddr_from(i.remote),
            iss: i.iss,
            irs: i.irs,
            snd_una: i.snd_una,
            snd_nxt: i.snd_nxt,
            snd_wnd: i.snd_wnd,
            rcv_nxt: i.rcv_nxt,
            rcv_wnd: i.rcv_wnd,
            cwnd: i.cwnd,
            ssthresh: i.ssthresh,
            bytes_in_flight: i.bytes_in_flight,
            snd_wscale: i.snd_wscale.map_or(-1, i16::from),
            rcv_wscale: i.rcv_wscale.map_or(-1, i16::from),
            mss: i.mss,
            peer_mss: i.peer_mss,
            path_mtu: i.path_mtu,
            nagle: i.nagle,
            timestamps: i.timestamps,
            sack: i.sack,
            has_soft_error: i.soft_error.is_some(),
            soft_error_type: i.soft_error.map_or(0, |e| e.0),
            soft_error_code: i.soft_error.map_or(0, |e| e.1),
            backoff: i.backoff,
            srtt_ns: i.srtt.map_or(u64::MAX, nanos),
            rttvar_ns: nanos(i.rttvar),
            rto_ns: nanos(i.rto),
            keepalive_ns: i.keepalive.map_or(0, nanos),
            retransmits: i.retransmits,
            send_queued: i.send_queued,
            recv_queued: i.recv_queued,
            reassembly_queued: i.reassembly_queued,
        }
    }
}

impl From<&Stats> for stcp_stack_counters {
    fn from(s: &Stats) -> stcp_stack_counters {
        let mut drops = [0u64; STCP_DROP_SLOTS];
        for (reason, n) in s.drops() {
            let slot = &mut drops[drop_reason(reason) as usize];
            *slot = slot.saturating_add(n);
        }
        stcp_stack_counters {
            packets_in: s.packets_in,
            packets_out: s.packets_out,
            segments_in: s.segments_in,
            segments_out: s.segments_out,
            retransmitted_segments: s.retransmitted_segments,
            resets_out: s.resets_out,
            resets_in: s.resets_in,
            challenge_acks: s.challenge_acks,
            challenge_acks_suppressed: s.challenge_acks_suppressed,
            active_opens: s.active_opens,
            passive_opens: s.passive_opens,
            attempt_fails: s.attempt_fails,
            estab_resets: s.estab_resets,
            timeouts: s.timeouts,
            window_probes: s.window_probes,
            keepalive_probes: s.keepalive_probes,
            fast_retransmits: s.fast_retransmits,
            rto_expirations: s.rto_expirations,
            replies_suppressed: s.replies_suppressed,
            icmp_echo_replies: s.icmp_echo_replies,
            icmp_errors_applied: s.icmp_errors_applied,
            bytes_received: s.bytes_received,
            bytes_sent: s.bytes_sent,
            dsacks_received: s.dsacks_received,
            dropped_total: s.dropped_total(),
            drops,
        }
    }
}

impl From<&LinkStats> for stcp_link_counters {
    fn from(s: &LinkStats) -> stcp_link_counters {
        let mut drops = [0u64; STCP_LINK_DROP_SLOTS];
        for (reason, n) in s.drops() {
            let slot = &mut drops[link_drop_reason(reason) as usize];
            *slot = slot.saturating_add(n);
        }
        stcp_link_counters {
            frames_in: s.frames_in,
            frames_out: s.frames_out,
            ip_in: s.ip_in,
            ip_out: s.ip_out,
            arp_requests_in: s.arp_requests_in,
            arp_replies_in: s.arp_replies_in,
            arp_requests_out: s.arp_requests_out,
            arp_replies_out: s.arp_replies_out,
            neighbor_solicits_in: s.neighbor_solicits_in,
            neighbor_adverts_in: s.neighbor_adverts_in,
            neighbor_solicits_out: s.neighbor_solicits_out,
            neighbor_adverts_out: s.neighbor_adverts_out,
            ndp_ignored: s.ndp_ignored,
            parked: s.parked,
            resolve_failures: s.resolve_failures,
            looped_back: s.looped_back,
            dropped_total: s.dropped_total(),
            drops,
        }
    }
}

/// Names of the drop reasons, indexed by `stcp_drop_reason` (the core's `DropReason::name`).
const DROP_NAMES: [&CStr; 24] = [
    c"none",
    c"bad_ip_header",
    c"not_for_us",
    c"fragment",
    c"unsupported_protocol",
    c"malformed_tcp",
    c"bad_checksum",
    c"bad_address",
    c"no_connection",
    c"out_of_window",
    c"bad_ack",
    c"rst_in_window",
    c"rst_out_of_window",
    c"syn_on_synchronized",
    c"invalid_flags",
    c"syn_queue_full",
    c"accept_queue_full",
    c"too_many_connections",
    c"reassembly_full",
    c"data_after_fin",
    c"icmp_ignored",
    c"control_queue_full",
    c"paws",
    c"bad_syn_cookie",
];

/// Names of the link drop reasons, indexed by `stcp_link_drop_reason`.
const LINK_DROP_NAMES: [&CStr; 10] = [
    c"none",
    c"not_for_us",
    c"bad_frame",
    c"unknown_ethertype",
    c"unresolved",
    c"pending_full",
    c"cache_full",
    c"queue_full",
    c"buffer_too_small",
    c"loopback_limit",
];

/// RFC names of the states, indexed by `stcp_tcp_state`.
const STATE_NAMES: [&CStr; 11] = [
    c"CLOSED",
    c"LISTEN",
    c"SYN-SENT",
    c"SYN-RECEIVED",
    c"ESTABLISHED",
    c"FIN-WAIT-1",
    c"FIN-WAIT-2",
    c"CLOSE-WAIT",
    c"CLOSING",
    c"LAST-ACK",
    c"TIME-WAIT",
];

fn lookup(table: &[&'static CStr], i: c_int) -> &'static CStr {
    usize::try_from(i)
        .ok()
        .and_then(|i| table.get(i).copied())
        .unwrap_or(c"unknown")
}

pub(crate) fn drop_reason_name(r: c_int) -> &'static CStr {
    lookup(&DROP_NAMES, r)
}

pub(crate) fn link_drop_reason_name(r: c_int) -> &'static CStr {
    lookup(&LINK_DROP_NAMES, r)
}

pub(crate) fn state_name(s: c_int) -> &'static CStr {
    lookup(&STATE_NAMES, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_drop_reason_has_its_own_code() {
        let mut seen = std::collections::HashSet::new();
        for r in DropReason::ALL {
            let code = drop_reason(r);
            assert_ne!(code, stcp_drop_reason::STCP_DROP_OTHER, "{r:?} has no code");
            assert!((code as usize) < STCP_DROP_SLOTS);
            assert!(seen.insert(code as u32), "{r:?} shares a code");
        }
        let mut seen = std::collections::HashSet::new();
        for r in LinkDropReason::ALL {
            let code = link_drop_reason(r);
            assert_ne!(
                code,
                stcp_link_drop_reason::STCP_LINK_DROP_OTHER,
                "{r:?} has no code"
            );
            assert!((code as usize) < STCP_LINK_DROP_SLOTS);
            assert!(seen.insert(code as u32), "{r:?} shares a code");
            assert_eq!(
                link_drop_reason_name(code as c_int).to_str().unwrap(),
                r.name()
            );
        }
    }

    #[test]
    fn names_match_the_core() {
        for r in DropReason::ALL {
            assert_eq!(
                drop_reason_name(drop_reason(r) as c_int).to_str().unwrap(),
                r.name()
            );
        }
        use TcpState::*;
        let states = [
            Closed,
            Listen,
            SynSent,
            SynReceived,
            Established,
            FinWait1,
            FinWait2,
            CloseWait,
            Closing,
            LastAck,
            TimeWait,
        ];
        for s in states {
            assert_eq!(
                state_name(tcp_state(s) as c_int).to_str().unwrap(),
                s.name()
            );
        }
        assert_eq!(drop_reason_name(-1), c"unknown");
        assert_eq!(state_name(11), c"unknown");
        assert_eq!(link_drop_reason_name(99), c"unknown");
    }
}
