//! Segment output: what the connection sends next, if anything. Covers SYN and SYN-ACK, data
//! under the peer's window and the congestion window, Nagle and sender-side silly window
//! avoidance (RFC 1122 §4.2.3.4), FIN, retransmissions, probes, ACKs and window updates.

use super::connection::Connection;
use super::sack::receiver_blocks;
use super::seq::SeqNumber;
use super::state::TcpState;
use crate::time::Deadline;
use crate::wire::{TcpFlags, TcpOptions};
use crate::{Instant, StackConfig, Stats};

/// One segment to put on the wire; the payload is `len` bytes of the send queue from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutSegment {
    /// Sequence number.
    pub seq: SeqNumber,
    /// Acknowledgement number (meaningful when `flags` has ACK).
    pub ack: SeqNumber,
    /// Control bits.
    pub flags: TcpFlags,
    /// Window field, already scaled.
    pub window: u16,
    /// Options.
    pub options: TcpOptions,
    /// Payload offset into the send queue.
    pub offset: usize,
    /// Payload length.
    pub len: usize,
    /// The IP ECN field to send it with (ECT(0) on new data of an ECN connection).
    pub ecn: u8,
}

/// The IP ECN codepoint ECT(0) (RFC 3168 §5).
pub const ECN_ECT0: u8 = 2;

impl Connection {
    /// The next segment to send, or `None`. Updates the send state as if it had been sent.
    pub(crate) fn poll_segment(
        &mut self,
        now: Instant,
        cfg: &StackConfig,
        stats: &mut Stats,
    ) -> Option<OutSegment> {
        if self.rst_pending {
            self.rst_pending = false;
            // SND.MAX, not a rewound SND.NXT: the peer may hold data beyond it (RFC 5961 §3.2).
            return Some(self.bare(now, self.snd_max, TcpFlags::RST, false));
        }
        let seg = match self.state {
            TcpState::Closed | TcpState::Listen => None,
            TcpState::SynSent | TcpState::SynReceived if self.snd_nxt == self.iss => {
                Some(self.syn(now, cfg, stats))
            }
            // Nothing but the SYN (or SYN-ACK) before the handshake completes (RFC 9293
            // §3.10.2: data queued in SYN-RECEIVED waits for ESTABLISHED).
            TcpState::SynSent | TcpState::SynReceived => None,
            _ => self.data_or_control(now, cfg, stats),
        };
        let seg = seg.or_else(|| self.pure_ack(now))?;
        if seg.flags.contains(TcpFlags::ACK) {
            self.ack_sent(&seg);
        }
        self.last_send = now;
        Some(seg)
    }

    /// A segment without payload, with the options every segment carries: timestamps
    /// (RFC 7323 §3.2) and, when we hold out-of-order data or owe a D-SACK, SACK blocks
    /// (RFC 2018 §4, RFC 2883). A RST carries none.
    fn bare(&self, now: Instant, seq: SeqNumber, flags: TcpFlags, with_ack: bool) -> OutSegment {
        let mut flags = if with_ack {
            flags | TcpFlags::ACK
        } else {
            flags
        };
        if self.ecn_ok && self.ece_pending && with_ack && !flags.contains(TcpFlags::SYN) {
            flags |= TcpFlags::ECE;
        }
        let mut options = TcpOptions::default();
        if !flags.contains(TcpFlags::RST) {
            if self.ts_ok {
                options.timestamps = Some((self.ts_val(now), self.ts_recent));
            }
            if self.sack_ok && with_ack && (self.dsack.is_some() || !self.reasm.is_empty()) {
                let (blocks, n) = receiver_blocks(self.dsack, self.last_ooo, self.reasm.ranges());
                options.set_sack_blocks(&blocks[..n]);
            }
        }
        OutSegment {
            seq,
            ack: if with_ack { self.rcv_nxt } else { SeqNumber(0) },
            flags,
            window: if with_ack { self.window_field() } else { 0 },
            options,
            offset: 0,
            len: 0,
            ecn: 0,
        }
    }

    /// Payload that fits one segment with these options (RFC 6691: the MSS counts no options).
    fn payload_room(&self, options: &TcpOptions) -> usize {
        usize::from(self.mss)
            .saturating_sub(options.encoded_len())
            .max(1)
    }

    /// SYN (active open) or SYN-ACK (passive or simultaneous open), with MSS, window scale,
    /// SACK-permitted and timestamps; a SYN-ACK echoes only what the peer's SYN offered.
    fn syn(&mut self, now: Instant, cfg: &StackConfig, stats: &mut Stats) -> OutSegment {
        let is_synack = self.state == TcpState::SynReceived;
        let retransmission = self.snd_max != self.iss;
        let mut seg = self.bare(now, self.iss, TcpFlags::SYN, is_synack);
        // The window in a SYN is never scaled (RFC 7323 §2.2).
        let wnd = self.recv.free().min(0xffff) as u16;
        seg.window = wnd;
        seg.options = TcpOptions {
            mss: Some(self.local_mss),
            ..TcpOptions::default()
        };
        if !is_synack || self.wscale_ok {
            seg.options.window_scale = Some(self.rcv_wscale);
        }
        if if is_synack { self.sack_ok } else { cfg.sack } {
            seg.options.sack_permitted = true;
        }
        if if is_synack {
            self.ts_ok
        } else {
            cfg.timestamps
        } {
            let ecr = if is_synack { self.ts_recent } else { 0 };
            seg.options.timestamps = Some((self.ts_val(now), ecr));
        }
        if is_synack {
            self.rcv_adv = self.rcv_nxt + u32::from(wnd);
            if self.ecn_ok {
                seg.flags |= TcpFlags::ECE;
            }
        } else if cfg.ecn {
            seg.flags |= TcpFlags::ECE | TcpFlags::CWR;
        }
        self.snd_nxt = self.iss + 1u32;
        self.snd_max = self.snd_max.max(self.snd_nxt);
        if retransmission {
            stats.retransmitted_segments += 1;
            self.retransmits += 1;
            self.rtt.cancel_timing();
        } else {
            self.rtt.start_timing(self.snd_nxt, now);
        }
        if self.rtx_deadline.is_none() {
            self.rtx_deadline = Deadline::at(now + self.rtt.rto());
        }
        seg
    }

    /// Data, FIN, a retransmission or a probe, in that priority after a pending fast
    /// retransmit.
    fn data_or_control(
        &mut self,
        now: Instant,
        cfg: &StackConfig,
        stats: &mut Stats,
    ) -> Option<OutSegment> {
        if self.cc.in_sack_recovery() {
            // Proportional Rate Reduction (RFC 6937) sets the window for what follows.
            let (pipe, sacked) = (self.pipe(), self.scoreboard.sacked_bytes());
            self.cc.prr_update(pipe, self.snd_una, sacked);
        }
        if self.cc.in_sack_recovery() || self.rack.first_lost().is_some() {
            // RACK-detected losses are repaired even when no new recovery may start (one is
            // still guarded by RFC 6675's RecoveryPoint rule).
            self.rtx_first = false;
            if let Some(seg) = self.sack_retransmit(now, stats, false) {
                return Some(seg);
            }
        }
        if self.tlp_pending {
            self.tlp_pending = false;
            // RFC 8985 §7.3: new data if the receive window allows, else the last segment again.
            if let Some(seg) = self.next_data_segment(now, cfg, stats, true) {
                return Some(seg);
            }
            let room = self.payload_room(
                &self
                    .bare(now, self.snd_max, TcpFlags::default(), true)
                    .options,
            );
            let data_out = self.snd_max.since(self.snd_una).min(room as u32);
            // The last segment as sent, when RACK tracked it; else one MSS back from the end.
            let last = self
                .rack
                .last_start()
                .filter(|s| *s >= self.snd_una)
                .unwrap_or(self.snd_max - data_out);
            if let Some(seg) = self.retransmit_at(now, last, usize::MAX, stats) {
                return Some(seg);
            }
        }
        if self.rtx_first && self.snd_max > self.snd_una {
            self.rtx_first = false;
            return self.retransmit_at(now, self.snd_una, usize::MAX, stats);
        }
        self.rtx_first = false;
        if let Some(seg) = self.next_data_segment(now, cfg, stats, false) {
            return Some(seg);
        }
        if self.cc.in_sack_recovery() {
            // RFC 6675 NextSeg rule 3: no new data can go, so resend a hole not yet judged lost.
            if let Some(seg) = self.sack_retransmit(now, stats, true) {
                return Some(seg);
            }
        }
        if self.probe_pending {
            self.probe_pending = false;
            // RFC 9293 §3.8.6.1 / RFC 1122 §4.2.3.6: an old sequence number makes the peer
            // answer with an ACK carrying its current window.
            return Some(self.bare(now, self.snd_una - 1u32, TcpFlags::default(), true));
        }
        None
    }

    /// RFC 6675 §5 step (C): while cwnd - pipe >= 1 SMSS, retransmit what RACK judged lost
    /// (RFC 8985 §6.3; this catches lost retransmissions too), else what `NextSeg` picks.
    fn sack_retransmit(
        &mut self,
        now: Instant,
        stats: &mut Stats,
        any_hole: bool,
    ) -> Option<OutSegment> {
        let mss = self.smss();
        if self.pipe().saturating_add(mss) > self.cc.window() {
            return None;
        }
        let rack_lost = self.rack.first_lost().map(|(start, end)| {
            let start = start.max(self.snd_una);
            (start, end.since(start))
        });
        let (seq, len) = match rack_lost.filter(|(_, len)| *len > 0) {
            Some(lost) => lost,
            None => loop {
                let (seq, len) =
                    self.scoreboard
                        .next_retransmit(self.snd_una, self.snd_max, mss, any_hole)?;
                // A hole RACK already resent (RFC 8985 §6.3), possibly before this recovery
                // began and reset HighRxt, and whose retransmission is still in flight: it
                // counts as retransmitted (RFC 6675 HighRxt), not as a hole to send again.
                match self.rack.resent_in_flight_at(seq) {
                    Some(end) if end > seq => {
                        self.scoreboard.high_rxt = self.scoreboard.high_rxt.max(end);
                    }
                    _ => break (seq, len),
                }
            },
        };
        let seg = self.retransmit_at(now, seq, len as usize, stats)?;
        let end = seg.seq + seg.len + u32::from(seg.flags.contains(TcpFlags::FIN));
        self.scoreboard.high_rxt = self.scoreboard.high_rxt.max(end);
        Some(seg)
    }

    /// RFC 6675 `SetPipe`, corrected by what RACK knows per segment (RFC 8985 §6.3): the bytes
    /// still believed to be in the network. Less what RACK has judged lost, except a segment
    /// SetPipe already leaves out (IsLost, and not retransmitted since); plus retransmissions
    /// that SetPipe cannot see because they lie above HighRxt.
    fn pipe(&self) -> u32 {
        let mss = self.smss();
        let sb = &self.scoreboard;
        let pipe = sb.pipe(self.snd_una, self.snd_max, mss);
        let rack_lost: u32 = self
            .rack
            .lost()
            .map(|(start, end)| (start.max(self.snd_una), end))
            .filter(|&(start, end)| start < end && (start < sb.high_rxt || !sb.is_lost(start, mss)))
            .map(|(start, end)| end.since(start))
            .sum();
        // Retransmissions RACK sent above HighRxt (before this recovery reset it, or ahead
        // of NextSeg) are in flight too, where SetPipe counts the hole as lost and not resent.
        let resent: u32 = self
            .rack
            .resent_in_flight()
            .map(|(start, end)| (start.max(self.snd_una), end))
            .filter(|&(start, end)| start < end && start >= sb.high_rxt && sb.is_lost(start, mss))
            .map(|(start, end)| end.since(start))
            .sum();
        pipe.saturating_add(resent).saturating_sub(rack_lost)
    }

    /// Resends up to `max_len` bytes (at most one segment) from `seq`, which lies between
    /// SND.UNA and SND.MAX: fast retransmit, partial ACK, SACK hole, path-MTU drop.
    fn retransmit_at(
        &mut self,
        now: Instant,
        seq: SeqNumber,
        max_len: usize,
        stats: &mut Stats,
    ) -> Option<OutSegment> {
        let mut seg = self.bare(now, seq, TcpFlags::default(), true);
        let offset = seq.since(self.send_seq) as usize;
        let outstanding = self.snd_max.since(seq) as usize;
        let len = outstanding
            .min(max_len)
            .min(self.payload_room(&seg.options))
            .min(self.send.len().saturating_sub(offset));
        seg.offset = offset;
        seg.len = len;
        if self.fin_queued && seq + len == self.fin_seq() && self.snd_max > self.fin_seq() {
            seg.flags |= TcpFlags::FIN;
        }
        if len == 0 && !seg.flags.contains(TcpFlags::FIN) {
            return None;
        }
        stats.retransmitted_segments += 1;
        self.retransmits += 1;
        self.rtt.cancel_timing();
        self.rack.on_retransmit(seq, seq + len, now);
        self.cc.on_retransmit();
        self.cc.on_send(len as u32);
        if self.rtx_deadline.is_none() || seq == self.snd_una {
            self.rtx_deadline = Deadline::at(now + self.rtt.rto());
        }
        Some(seg)
    }

    /// New data (or data after an RTO rewound SND.NXT), subject to the windows, Nagle and
    /// SWS avoidance; and the FIN once all data is out. A tail loss `probe` ignores the
    /// congestion window, Nagle and SWS avoidance (RFC 8985 §7.3), not the peer's window.
    fn next_data_segment(
        &mut self,
        now: Instant,
        cfg: &StackConfig,
        stats: &mut Stats,
        probe: bool,
    ) -> Option<OutSegment> {
        if !matches!(
            self.state,
            TcpState::Established
                | TcpState::CloseWait
                | TcpState::FinWait1
                | TcpState::Closing
                | TcpState::LastAck
        ) {
            return None;
        }
        if self.snd_nxt < self.snd_max && self.sack_ok {
            // Resending after an RTO: what the receiver SACKed need not go again.
            self.snd_nxt = self.scoreboard.skip_sacked(self.snd_nxt).min(self.snd_max);
        }
        let mut seg = self.bare(now, self.snd_nxt, TcpFlags::default(), true);
        let mut mss = self.payload_room(&seg.options);
        if self.snd_nxt < self.snd_max {
            if let Some(next) = self.scoreboard.next_sacked_after(self.snd_nxt) {
                mss = mss.min(next.since(self.snd_nxt) as usize);
            }
        }
        let offset = self.snd_nxt.since(self.send_seq) as usize;
        let unsent = self.send.len().saturating_sub(offset);
        let recovering = self.cc.in_sack_recovery();
        let in_flight = if recovering {
            self.pipe()
        } else {
            self.snd_nxt.since(self.snd_una)
        };
        let mut cwnd = self.cc.window();
        if !recovering && !self.cc.in_recovery() {
            // Limited transmit (RFC 3042): one new segment for each of the first two
            // duplicate ACKs, within the peer's window.
            let extra = self.cc.dupacks().min(2) * self.smss();
            cwnd = cwnd.saturating_add(extra);
        }
        let usable_cc = if probe {
            usize::MAX
        } else {
            cwnd.saturating_sub(in_flight) as usize
        };
        let usable_rwnd = self
            .snd_wnd
            .saturating_sub(self.snd_nxt.since(self.snd_una)) as usize;
        let len = unsent.min(mss).min(usable_cc).min(usable_rwnd);
        let retransmission = self.snd_nxt < self.snd_max;
        if cfg.pacing && !retransmission && !probe && len > 0 && now < self.pace_next {
            self.pace_deadline = Deadline::at(self.pace_next);
            return None;
        }
        let fin_due = self.fin_queued
            && offset + len == self.send.len()
            && self.snd_nxt + len == self.fin_seq();

        if len > 0 {
            // RFC 1122 §4.2.3.4: send a full segment, or everything that is left when nothing
            // is unacknowledged (or Nagle is off), or at least half the largest window seen.
            let all_of_it = len == unsent;
            let nagle_allows = !self.nagle || in_flight == 0 || fin_due;
            let ok = len == mss
                || (all_of_it && nagle_allows)
                || (self.max_snd_wnd > 0 && len >= (self.max_snd_wnd / 2) as usize)
                || retransmission
                || self.sws_override
                || probe;
            if !ok {
                return None;
            }
            self.sws_override = false;
            self.persist_deadline = Deadline::NONE;
        } else if !fin_due {
            return None;
        }

        seg.offset = offset;
        seg.len = len;
        if len > 0 && offset + len == self.send.len() {
            seg.flags |= TcpFlags::PSH;
        }
        if fin_due {
            seg.flags |= TcpFlags::FIN;
        }
        if self.ecn_ok && !retransmission && len > 0 {
            // RFC 3168 §6.1.5: new data only is ECN-capable; CWR on the first one after a
            // window reduction.
            seg.ecn = ECN_ECT0;
            if self.cwr_pending {
                self.cwr_pending = false;
                seg.flags |= TcpFlags::CWR;
            }
        }
        let end = self.snd_nxt + len + u32::from(fin_due);
        self.cc.on_send(len as u32);
        if retransmission {
            stats.retransmitted_segments += 1;
            self.retransmits += 1;
            self.rack
                .on_retransmit(self.snd_nxt, self.snd_nxt + len, now);
            // Resent after an RTO: a D-SACK undo needs this one reported as a duplicate too.
            self.cc.on_retransmit();
        } else {
            stats.bytes_sent += len as u64;
            self.rtt.start_timing(end, now);
            if self.sack_ok {
                // Data only: SACK blocks never cover a FIN, so RACK tracks what they can.
                self.rack.on_send(self.snd_nxt, self.snd_nxt + len, now);
            }
        }
        if end > self.snd_max {
            if self.snd_max == self.snd_una
                && now.saturating_duration_since(self.last_send) > self.rtt.rto()
            {
                // Restart after idle (RFC 5681 §4.1).
                self.cc.on_idle_restart(cfg.initial_window);
            }
            self.snd_max = end;
        }
        self.snd_nxt = end;
        if self.rtx_deadline.is_none() {
            self.rtx_deadline = Deadline::at(now + self.rtt.rto());
        }
        if !retransmission && !probe {
            self.arm_tlp(now);
            if cfg.pacing {
                self.pace_after(now, len);
            }
        }
        Some(seg)
    }

    /// Moves the pacing clock on by the time `len` bytes take at the pacing rate:
    /// cwnd / SRTT, ×2 in slow start and ×1.2 in congestion avoidance (as Linux paces).
    fn pace_after(&mut self, now: Instant, len: usize) {
        let Some(srtt) = self.rtt.srtt().filter(|s| !s.is_zero()) else {
            return;
        };
        let gain_tenths: u128 = if self.cc.cwnd() < self.cc.ssthresh() {
            20
        } else {
            12
        };
        let rate_num = u128::from(self.cc.cwnd()) * gain_tenths; // bytes per SRTT, ×10
        let gap_ns = (len as u128) * srtt.as_nanos() * 10 / rate_num.max(1);
        let gap = core::time::Duration::from_nanos(gap_ns.min(u128::from(u64::MAX)) as u64);
        self.pace_next = self.pace_next.max(now) + gap;
    }

    /// A pure ACK, when one is owed.
    fn pure_ack(&mut self, now: Instant) -> Option<OutSegment> {
        if !self.state.is_synchronized() && self.state != TcpState::SynReceived {
            return None;
        }
        if self.state == TcpState::SynReceived && !self.ack_now {
            // Before the handshake completes only the SYN-ACK goes out, and the ACK owed to an
            // unacceptable segment (RFC 9293 §3.10.7.4): in a simultaneous open the peer's
            // SYN-ACK is such a segment, and that ACK is what completes the peer's side.
            return None;
        }
        if self.ack_now || self.window_update_due() {
            return Some(self.bare(now, self.ack_seq(), TcpFlags::default(), true));
        }
        if self.dup_acks_owed > 0 {
            self.dup_acks_owed -= 1;
            return Some(self.bare(now, self.ack_seq(), TcpFlags::default(), true));
        }
        None
    }

    /// The sequence number of a pure ACK: one the peer finds acceptable (RFC 9293
    /// §3.10.7.4), or it drops the ACK unread.
    ///
    /// After an RTO rewinds SND.NXT it is still the highest sequence number sent, SND.MAX:
    /// the peer may already hold data beyond SND.NXT and would find an older one unacceptable
    /// (BSD tcp_output does the same). But never past the right edge of the peer's window: a
    /// peer whose window is zero accepts an ACK only at exactly its RCV.NXT, and bytes we sent
    /// beyond the window (a zero-window probe) were not taken, so SND.MAX is not that. Linux
    /// (tcp_acceptable_seq) does the same; without it two peers with full receive buffers
    /// each drop the other's ACKs and stall until a retransmission timeout.
    pub(crate) fn ack_seq(&self) -> SeqNumber {
        let window_end = self.snd_una + self.snd_wnd;
        // Until our SYN is acknowledged the window says nothing about it.
        if self.snd_una != self.iss && self.snd_max > window_end {
            window_end
        } else {
            self.snd_max
        }
    }

    /// Bookkeeping for any segment carrying our current ACK.
    fn ack_sent(&mut self, seg: &OutSegment) {
        self.ack_now = false;
        self.unacked_bytes = 0;
        self.delack_deadline = Deadline::NONE;
        self.last_ack_sent = seg.ack;
        self.dsack = None;
        if !seg.flags.contains(TcpFlags::SYN) {
            let shift = if self.wscale_ok { self.rcv_wscale } else { 0 };
            let advertised = self.rcv_nxt + (u32::from(seg.window) << shift);
            self.rcv_adv = self.rcv_adv.max(advertised);
        }
    }

    /// The window field for a non-SYN segment: the free receive space, never shrinking the
    /// right edge already advertised, with receiver-side SWS avoidance (RFC 1122 §4.2.3.3).
    pub(crate) fn window_field(&self) -> u16 {
        let shift = if self.wscale_ok { self.rcv_wscale } else { 0 };
        let free = self.recv.free().min(self.recv_budget) as u32;
        let current = self.rcv_adv.since(self.rcv_nxt);
        let threshold = (self.recv.capacity() as u32 / 2).min(u32::from(self.local_mss));
        let wnd = if free >= current + threshold || free == self.recv.capacity() as u32 {
            free
        } else {
            current
        };
        let field = wnd >> shift;
        field.min(0xffff) as u16
    }
}
