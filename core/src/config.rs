//! Runtime configuration. Every limit lives here, never in a Cargo feature.

use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use crate::ConfigError;

/// The congestion-control algorithm of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CongestionAlgorithm {
    /// NewReno: RFC 5681 slow start and congestion avoidance, RFC 6582 fast recovery.
    #[default]
    NewReno,
    /// CUBIC (RFC 9438): a cubic window-growth function of the time since the last
    /// congestion event; better on paths with a large bandwidth-delay product.
    Cubic,
    /// No congestion control: the window is only limited by the peer's receive window.
    /// For tests and for links the caller knows to be uncongested.
    None,
}

/// When a listener answers SYNs with SYN cookies (RFC 4987 §3.6) instead of keeping state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SynCookieMode {
    /// Only when the listener's SYN queue is full (the default).
    #[default]
    Auto,
    /// For every SYN: no half-open state at all.
    Always,
    /// Never: SYNs beyond the queue are dropped.
    Never,
}

/// Configuration of a [`crate::Stack`].
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Key for the keyed hashes: ISNs (RFC 6528), ephemeral ports (RFC 6056), the connection
    /// table. Keep it secret; the same secret and seed give the same outputs.
    pub secret: [u8; 16],
    /// Seed for the stack's pseudo-random choices.
    pub seed: u64,
    /// Local IPv4 and IPv6 addresses.
    pub addresses: Vec<IpAddr>,
    /// Link MTU in bytes (IP header included).
    pub mtu: usize,
    /// Default send buffer per connection, bytes.
    pub send_buffer: usize,
    /// Default receive buffer per connection, bytes (the largest window advertised).
    pub recv_buffer: usize,
    /// Maximum out-of-order memory per connection (reassembly bound): payload plus 64 bytes of
    /// bookkeeping per held segment. A connection never holds more than its receive buffer
    /// plus an eighth, whatever this says.
    pub reassembly_limit: usize,
    /// Maximum connections in the table (any state).
    pub max_connections: usize,
    /// Maximum segment lifetime; TIME_WAIT lasts twice this (RFC 9293 §3.4.2).
    pub msl: Duration,
    /// How long FIN_WAIT_2 waits for the peer's FIN after this side closed.
    pub fin_wait_2_timeout: Duration,
    /// Delayed-ACK time (RFC 1122 §4.2.3.2, at most 500 ms); zero acknowledges every segment.
    pub delayed_ack: Duration,
    /// Initial retransmission timeout (RFC 6298 §2.1).
    pub rto_initial: Duration,
    /// Lower bound of the retransmission timeout (RFC 6298 §2.4).
    pub rto_min: Duration,
    /// Upper bound of the retransmission timeout (RFC 6298 §2.5).
    pub rto_max: Duration,
    /// Retransmissions of one segment before the connection times out.
    pub max_retries: u32,
    /// Retransmissions of a SYN or SYN-ACK before the attempt times out.
    pub syn_retries: u32,
    /// Keep-alive idle time for new connections; `None` (the default) turns keep-alive off.
    pub keepalive: Option<Duration>,
    /// Interval between keep-alive probes (RFC 1122 §4.2.3.6).
    pub keepalive_interval: Duration,
    /// Unanswered keep-alive probes before the connection times out.
    pub keepalive_probes: u32,
    /// Nagle's algorithm (RFC 1122 §4.2.3.4) for new connections; on by default.
    pub nagle: bool,
    /// Offer and accept the Timestamps option (RFC 7323 §3): RTT measurement on every ACK
    /// and PAWS. On by default.
    pub timestamps: bool,
    /// Offer and accept SACK (RFC 2018): SACK blocks when receiving out of order, and
    /// SACK-based loss recovery (RFC 6675) when sending. On by default.
    pub sack: bool,
    /// Negotiate ECN (RFC 3168) on new connections: data goes out ECN-capable (ECT(0)),
    /// congestion-experienced marks are echoed, and an echo reduces the window like a loss,
    /// without a retransmission. Off by default.
    pub ecn: bool,
    /// Pace new data: spread each window over the round trip instead of sending it in one
    /// burst (rate = cwnd / SRTT, doubled in slow start, ×1.2 after). The stack then holds
    /// data back and reports when it may leave through `poll_timeout`. Off by default.
    pub pacing: bool,
    /// SYN cookies: when listeners answer SYNs statelessly.
    pub syn_cookies: SynCookieMode,
    /// Congestion control for new connections.
    pub congestion: CongestionAlgorithm,
    /// Initial congestion window in segments (RFC 6928: 10).
    pub initial_window: u32,
    /// Challenge ACKs sent per second, stack-wide (RFC 5961 §7).
    pub challenge_ack_limit: u32,
    /// Challenge ACKs (and RSTs for unacceptable ACKs in SYN-SENT/SYN-RECEIVED) sent per
    /// second by one connection (RFC 5961 §7 leaves the limit to the implementation; this
    /// bounds what one attacked connection can cost).
    pub challenge_ack_per_conn_limit: u32,
    /// The least time between two ACKs a connection sends in answer to out-of-window pure
    /// ACKs or PAWS failures, so that two confused ends cannot ping-pong ACKs forever
    /// (ACK-storm protection; Linux uses 500 ms).
    pub invalid_ack_interval: Duration,
    /// RSTs sent per second in answer to segments for no connection (blind scans and
    /// floods cost at most this much output).
    pub rst_limit: u32,
    /// Total bytes the application may have queued for sending across all connections;
    /// beyond it `send` takes less (backpressure), never an allocation failure.
    pub max_send_memory: usize,
    /// Total bytes held for receiving (in-order data not yet read plus out-of-order data)
    /// across all connections. Beyond it no connection's window opens further and
    /// out-of-order segments are dropped (`ReassemblyFull`); data inside windows already
    /// advertised is still taken, so the bound is soft by at most those windows.
    pub max_recv_memory: usize,
    /// Hop limit / TTL of outgoing packets.
    pub hop_limit: u8,
    /// Ephemeral port range for active opens (RFC 6335: 49152..=65535).
    pub ephemeral_ports: (u16, u16),
    /// Verify checksums of incoming packets. Turn off only when every packet has been
    /// checked before it reaches the stack — an adapter with checksum offload that verifies
    /// (or trusts the NIC's or kernel's verdict on) each frame, as io-mio's `--offload` does —
    /// or for fuzzing.
    pub verify_checksums: bool,
    /// Control packets (RSTs, challenge ACKs, ICMP replies) that may wait for `poll_transmit`.
    pub control_queue_limit: usize,
    /// Report every state transition as [`crate::Event::StateChanged`].
    pub report_state_changes: bool,
}

impl StackConfig {
    /// Defaults for a stack with the given addresses, secret and seed.
    pub fn new(addresses: Vec<IpAddr>, secret: [u8; 16], seed: u64) -> StackConfig {
        StackConfig {
            secret,
            seed,
            addresses,
            mtu: 1500,
            send_buffer: 256 * 1024,
            recv_buffer: 256 * 1024,
            reassembly_limit: 4 * 1024 * 1024,
            max_connections: 1 << 20,
            msl: Duration::from_secs(30),
            fin_wait_2_timeout: Duration::from_secs(60),
            delayed_ack: Duration::from_millis(40),
            rto_initial: Duration::from_secs(1),
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(60),
            max_retries: 12,
            syn_retries: 6,
            keepalive: None,
            keepalive_interval: Duration::from_secs(75),
            keepalive_probes: 9,
            nagle: true,
            timestamps: true,
            sack: true,
            ecn: false,
            pacing: false,
            syn_cookies: SynCookieMode::Auto,
            congestion: CongestionAlgorithm::NewReno,
            initial_window: 10,
            challenge_ack_limit: 1000,
            challenge_ack_per_conn_limit: 100,
            invalid_ack_interval: Duration::from_millis(500),
            rst_limit: 1000,
            max_send_memory: 1 << 30,
            max_recv_memory: 1 << 30,
            hop_limit: 64,
            ephemeral_ports: (49152, 65535),
            verify_checksums: true,
            control_queue_limit: 1024,
            report_state_changes: false,
        }
    }

    /// Checks the limits; [`crate::Stack::new`] calls this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.addresses.is_empty() {
            return Err(ConfigError::NoAddresses);
        }
        let min_mtu = if self.addresses.iter().any(IpAddr::is_ipv6) {
            1280
        } else {
            576
        };
        if self.mtu < min_mtu || self.mtu > 65535 {
            return Err(ConfigError::BadMtu);
        }
        const GIB: usize = 1 << 30;
        for size in [self.send_buffer, self.recv_buffer] {
            if size == 0 || size > GIB {
                return Err(ConfigError::BadBufferSize);
            }
        }
        if self.max_connections == 0
            || self.max_retries == 0
            || self.initial_window == 0
            || self.control_queue_limit == 0
        {
            return Err(ConfigError::BadLimit);
        }
        if self.ephemeral_ports.0 == 0 || self.ephemeral_ports.0 > self.ephemeral_ports.1 {
            return Err(ConfigError::BadPortRange);
        }
        Ok(())
    }
}

/// Options for [`crate::Stack::listen`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenOptions {
    /// Accept-queue depth: established connections waiting for `accept`.
    pub backlog: usize,
    /// SYN-queue depth: half-open connections (SYN received, handshake not complete).
    pub syn_backlog: usize,
}

impl Default for ListenOptions {
    fn default() -> ListenOptions {
        ListenOptions {
            backlog: 128,
            syn_backlog: 256,
        }
    }
}

/// Options for [`crate::Stack::connect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectOptions {
    /// Local address and port; `None`, an unspecified address or port 0 let the stack choose.
    pub local: Option<SocketAddr>,
    /// Turn Nagle's algorithm off for this connection (`TCP_NODELAY`).
    pub nodelay: bool,
    /// Send-buffer size; `None` takes the stack default.
    pub send_buffer: Option<usize>,
    /// Receive-buffer size; `None` takes the stack default.
    pub recv_buffer: Option<usize>,
}
