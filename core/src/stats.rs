//! Counters in the spirit of the TCP-MIB (RFC 4022), plus one counter per drop reason.

/// Why an incoming packet (or part of one) was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The IP header did not parse (length, version, header checksum).
    BadIpHeader,
    /// The destination address is not one of the stack's.
    NotForUs,
    /// IP fragments are not reassembled.
    Fragment,
    /// Neither TCP nor ICMP.
    UnsupportedProtocol,
    /// The TCP header did not parse (data offset, option lengths, port 0).
    MalformedTcp,
    /// The TCP or ICMP checksum was wrong.
    BadChecksum,
    /// Source address not usable (multicast, broadcast, unspecified) or the segment is a
    /// broadcast/multicast delivery.
    BadAddress,
    /// No connection or listener; a RST was sent unless the segment was itself a RST.
    NoConnection,
    /// Sequence number outside the receive window (an ACK was sent, RFC 9293 §3.10.7.4).
    OutOfWindow,
    /// ACK for data never sent, or too old (RFC 5961 §5).
    BadAck,
    /// RST whose sequence number was in the window but not exact; a challenge ACK was sent
    /// (RFC 5961 §3.2).
    RstInWindow,
    /// RST outside the window.
    RstOutOfWindow,
    /// SYN on a synchronized connection; a challenge ACK was sent (RFC 5961 §4).
    SynOnSynchronized,
    /// A timestamp older than TS.Recent: an old duplicate (PAWS, RFC 7323 §5); an ACK was sent.
    Paws,
    /// Segment without ACK on a synchronized connection, or other state-invalid flags.
    InvalidFlags,
    /// An ACK to a listener whose SYN cookie was forged, stale or for another connection
    /// (a RST was sent).
    BadSynCookie,
    /// The listener's SYN queue was full.
    SynQueueFull,
    /// The listener's accept queue was full when the handshake completed.
    AcceptQueueFull,
    /// The stack's connection limit was reached.
    TooManyConnections,
    /// Out-of-order data did not fit the reassembly memory bound.
    ReassemblyFull,
    /// Data arrived after this side had received FIN or shut down reading.
    DataAfterFin,
    /// An ICMP message that needs no action (or did not match a connection).
    IcmpIgnored,
    /// The control-packet queue (RST, challenge ACK, ICMP reply) was full.
    ControlQueueFull,
}

impl DropReason {
    /// Number of reasons.
    pub const COUNT: usize = 23;
    /// Every reason, in counter order.
    pub const ALL: [DropReason; DropReason::COUNT] = [
        DropReason::BadIpHeader,
        DropReason::NotForUs,
        DropReason::Fragment,
        DropReason::UnsupportedProtocol,
        DropReason::MalformedTcp,
        DropReason::BadChecksum,
        DropReason::BadAddress,
        DropReason::NoConnection,
        DropReason::OutOfWindow,
        DropReason::BadAck,
        DropReason::RstInWindow,
        DropReason::RstOutOfWindow,
        DropReason::SynOnSynchronized,
        DropReason::Paws,
        DropReason::InvalidFlags,
        DropReason::SynQueueFull,
        DropReason::AcceptQueueFull,
        DropReason::TooManyConnections,
        DropReason::ReassemblyFull,
        DropReason::DataAfterFin,
        DropReason::IcmpIgnored,
        DropReason::ControlQueueFull,
        DropReason::BadSynCookie,
    ];

    /// A short snake_case name, for logs and bindings.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::BadIpHeader => "bad_ip_header",
            DropReason::NotForUs => "not_for_us",
            DropReason::Fragment => "fragment",
            DropReason::UnsupportedProtocol => "unsupported_protocol",
            DropReason::MalformedTcp => "malformed_tcp",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::BadAddress => "bad_address",
            DropReason::NoConnection => "no_connection",
            DropReason::OutOfWindow => "out_of_window",
            DropReason::BadAck => "bad_ack",
            DropReason::RstInWindow => "rst_in_window",
            DropReason::RstOutOfWindow => "rst_out_of_window",
            DropReason::SynOnSynchronized => "syn_on_synchronized",
            DropReason::Paws => "paws",
            DropReason::InvalidFlags => "invalid_flags",
            DropReason::BadSynCookie => "bad_syn_cookie",
            DropReason::SynQueueFull => "syn_queue_full",
            DropReason::AcceptQueueFull => "accept_queue_full",
            DropReason::TooManyConnections => "too_many_connections",
            DropReason::ReassemblyFull => "reassembly_full",
            DropReason::DataAfterFin => "data_after_fin",
            DropReason::IcmpIgnored => "icmp_ignored",
            DropReason::ControlQueueFull => "control_queue_full",
        }
    }

    fn index(self) -> usize {
        DropReason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// What [`crate::Stack::handle_packet`] did with a packet. Every packet gets exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Input {
    /// Processed by a connection, a listener or the ICMP handler.
    Accepted,
    /// Dropped (and counted) for this reason; a reply may have been queued (RST, ACK).
    Dropped(DropReason),
}

/// Stack-wide counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stats {
    /// Packets handed to `handle_packet`.
    pub packets_in: u64,
    /// Packets returned by `poll_transmit`.
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
    /// ACKs not sent in answer to out-of-window pure ACKs (ACK-storm protection).
    pub invalid_acks_suppressed: u64,
    /// RSTs not sent because of the RST rate limit.
    pub resets_suppressed: u64,
    /// Active opens (connect calls that sent a SYN).
    pub active_opens: u64,
    /// SYN-ACKs sent with a SYN cookie instead of keeping state.
    pub syn_cookies_sent: u64,
    /// Connections rebuilt from a valid SYN cookie.
    pub syn_cookies_accepted: u64,
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
    /// D-SACK blocks received: the peer got a segment twice (RFC 2883).
    pub dsacks_received: u64,
    /// Fast retransmits (three duplicate ACKs, or SACK loss detection entering recovery).
    pub fast_retransmits: u64,
    /// Segments that arrived marked Congestion Experienced on ECN connections (RFC 3168).
    pub ecn_ce_received: u64,
    /// Window reductions in response to an ECN echo (RFC 3168 §6.1.2).
    pub ecn_reductions: u64,
    /// Window reductions undone because every retransmission turned out a duplicate (D-SACK).
    pub spurious_undos: u64,
    /// Tail loss probes sent (RFC 8985 §7).
    pub tail_loss_probes: u64,
    /// Retransmission timeouts that fired.
    pub rto_expirations: u64,
    /// Replies (RSTs, challenge ACKs, echo replies) not sent because the control queue was full.
    pub replies_suppressed: u64,
    /// ICMP echo requests answered.
    pub icmp_echo_replies: u64,
    /// ICMP errors applied to a connection (soft errors, path MTU).
    pub icmp_errors_applied: u64,
    /// Payload bytes accepted in order (delivered to receive buffers).
    pub bytes_received: u64,
    /// Payload bytes sent for the first time.
    pub bytes_sent: u64,
    drops: [u64; DropReason::COUNT],
}

impl Stats {
    /// How many packets were dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()]
    }
    /// All drops, any reason.
    pub fn dropped_total(&self) -> u64 {
        self.drops.iter().sum()
    }
    /// Every reason with its count.
    pub fn drops(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|r| (*r, self.drops[r.index()]))
    }
    pub(crate) fn count_drop(&mut self, reason: DropReason) {
        self.drops[reason.index()] += 1;
    }
}
