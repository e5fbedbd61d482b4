//! The connection states of RFC 9293 §3.3.2 and the `info()` snapshot.

use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use crate::CongestionAlgorithm;

/// The eleven states of RFC 9293 §3.3.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpState {
    /// No connection.
    Closed,
    /// Waiting for a SYN (listeners only).
    Listen,
    /// SYN sent, waiting for the SYN-ACK.
    SynSent,
    /// SYN received and answered, waiting for the ACK of our SYN.
    SynReceived,
    /// Data flows both ways.
    Established,
    /// This side closed; our FIN is not yet acknowledged.
    FinWait1,
    /// Our FIN was acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer closed; waiting for this side to close.
    CloseWait,
    /// Both closed at once; waiting for the ACK of our FIN.
    Closing,
    /// The peer closed, then this side; waiting for the ACK of our FIN.
    LastAck,
    /// Both closed; waiting 2·MSL so that old duplicates die out.
    TimeWait,
}

impl TcpState {
    /// Whether the handshake has completed (RFC 9293's "synchronized states").
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            TcpState::Closed | TcpState::Listen | TcpState::SynSent | TcpState::SynReceived
        )
    }
    /// Whether this side may still send data.
    pub fn can_send(self) -> bool {
        matches!(
            self,
            TcpState::SynSent | TcpState::SynReceived | TcpState::Established | TcpState::CloseWait
        )
    }
    /// Whether data from the peer is still accepted.
    pub fn can_receive(self) -> bool {
        matches!(
            self,
            TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
        )
    }
    /// The RFC's upper-case name, e.g. `SYN-RECEIVED`.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::Closed => "CLOSED",
            TcpState::Listen => "LISTEN",
            TcpState::SynSent => "SYN-SENT",
            TcpState::SynReceived => "SYN-RECEIVED",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait1 => "FIN-WAIT-1",
            TcpState::FinWait2 => "FIN-WAIT-2",
            TcpState::CloseWait => "CLOSE-WAIT",
            TcpState::Closing => "CLOSING",
            TcpState::LastAck => "LAST-ACK",
            TcpState::TimeWait => "TIME-WAIT",
        }
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `tcp_info`-like snapshot of one connection, from [`crate::Stack::info`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    /// Current state.
    pub state: TcpState,
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port.
    pub remote: SocketAddr,
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
    /// Shift applied to the peer's window field (RFC 7323), if negotiated.
    pub snd_wscale: Option<u8>,
    /// Shift applied to our window field, if negotiated.
    pub rcv_wscale: Option<u8>,
    /// Maximum segment size this side sends.
    pub mss: u16,
    /// MSS the peer announced.
    pub peer_mss: u16,
    /// Path MTU used for the MSS.
    pub path_mtu: u16,
    /// Congestion window, bytes.
    pub cwnd: u32,
    /// Slow-start threshold, bytes (`u32::MAX` before the first loss).
    pub ssthresh: u32,
    /// Congestion-control algorithm.
    pub congestion: CongestionAlgorithm,
    /// Smoothed RTT, if measured.
    pub srtt: Option<Duration>,
    /// RTT variance.
    pub rttvar: Duration,
    /// Current retransmission timeout.
    pub rto: Duration,
    /// Bytes sent and not yet acknowledged.
    pub bytes_in_flight: u32,
    /// Bytes waiting in the send buffer (unacknowledged and unsent).
    pub send_queued: usize,
    /// Bytes waiting to be read.
    pub recv_queued: usize,
    /// Out-of-order bytes held for reassembly.
    pub reassembly_queued: usize,
    /// Segments retransmitted on this connection.
    pub retransmits: u64,
    /// Consecutive RTO backoffs.
    pub backoff: u32,
    /// Nagle's algorithm is on.
    pub nagle: bool,
    /// Keep-alive idle time, if on.
    pub keepalive: Option<Duration>,
    /// The last ICMP soft error seen (type, code), if any.
    pub soft_error: Option<(u8, u8)>,
    /// Timestamps (RFC 7323) negotiated.
    pub timestamps: bool,
    /// SACK (RFC 2018) negotiated.
    pub sack: bool,
    /// ECN (RFC 3168) negotiated.
    pub ecn: bool,
}
