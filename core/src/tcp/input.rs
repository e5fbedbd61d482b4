//! Segment arrival (RFC 9293 §3.10.7): SYN-SENT processing, then for the other states the
//! sequence check, RST, SYN, ACK, text and FIN steps in the RFC's order.

use core::time::Duration;

use super::buffer::InsertOutcome;
use super::congestion::RecoveryAction;
use super::connection::{Connection, Env, Owner};
use super::sack::DUP_THRESH;
use super::seq::SeqNumber;
use super::state::TcpState;
use crate::time::Deadline;
use crate::wire::{TcpFlags, TcpRepr};
use crate::{CloseReason, DropReason, Event};

/// The IP ECN codepoint "Congestion Experienced" (RFC 3168 §5).
pub const ECN_CE: u8 = 3;

/// TS.Recent stops being valid after this long without an update (RFC 7323 §5.5: 24 days).
const PAWS_IDLE_LIMIT: Duration = Duration::from_secs(24 * 24 * 3600);

/// A reply the connection wants sent right away, outside its own sequence space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `<SEQ=seq><CTL=RST>`.
    Rst {
        /// Sequence number of the RST.
        seq: SeqNumber,
    },
}

/// What happened to a segment handed to [`Connection::handle_segment`].
pub type SegmentResult = Result<(), (DropReason, Option<Reply>)>;

impl Connection {
    /// Processes one segment addressed to this connection.
    pub(crate) fn handle_segment(
        &mut self,
        seg: &TcpRepr<'_>,
        ip_ecn: u8,
        env: &mut Env<'_>,
    ) -> SegmentResult {
        if self.ecn_ok {
            self.note_ecn(seg, ip_ecn, env);
        }
        self.last_recv = env.now;
        if self.keepalive_unanswered > 0 {
            // A probe was answered: the next one is an idle time from now (RFC 1122 §4.2.3.6).
            self.keepalive_unanswered = 0;
            self.arm_keepalive(env.now);
        }
        match self.state {
            TcpState::Closed | TcpState::Listen => Err((DropReason::NoConnection, None)),
            TcpState::SynSent => self.on_syn_sent(seg, env),
            _ => self.on_synchronized(seg, env),
        }
    }

    /// RFC 9293 §3.10.7.3, with the RFC 5961 §3 rule that a RST is valid only if it acknowledges
    /// our SYN.
    fn on_syn_sent(&mut self, seg: &TcpRepr<'_>, env: &mut Env<'_>) -> SegmentResult {
        let f = seg.flags;
        let ack = SeqNumber(seg.ack);
        if f.contains(TcpFlags::ACK) && (ack <= self.iss || ack > self.snd_max) {
            if f.contains(TcpFlags::RST) {
                return Err((DropReason::BadAck, None));
            }
            return Err((DropReason::BadAck, Some(Reply::Rst { seq: ack })));
        }
        if f.contains(TcpFlags::RST) {
            if f.contains(TcpFlags::ACK) {
                env.stats.resets_in += 1;
                self.finish(CloseReason::Refused, env);
                return Ok(());
            }
            return Err((DropReason::RstOutOfWindow, None));
        }
        if !f.contains(TcpFlags::SYN) {
            return Err((DropReason::InvalidFlags, None));
        }
        let seq = SeqNumber(seg.seq);
        self.irs = seq;
        self.rcv_nxt = seq + 1u32;
        self.rcv_adv = self.rcv_nxt;
        self.apply_syn_options(seg, env);
        if f.contains(TcpFlags::ACK) {
            // Our SYN is acknowledged: ESTABLISHED.
            self.snd_una = ack;
            self.rtt.on_ack(ack, env.now);
            self.rto_after_handshake(env);
            self.retries = 0;
            self.rtx_deadline = Deadline::NONE;
            self.update_window(seq, ack, seg.window, true);
            self.set_state(TcpState::Established, env);
            self.ack_now = true;
            self.notify(env, Event::Connected { conn: self.id });
            self.arm_keepalive(env.now);
            self.receive_text_and_fin(seg, seq + 1u32, env)
        } else {
            // Simultaneous open (RFC 9293 §3.5, figure 8): answer with SYN-ACK, same ISS.
            self.set_state(TcpState::SynReceived, env);
            self.snd_nxt = self.iss;
            self.snd_wnd = u32::from(seg.window);
            self.snd_wl1 = seq;
            Ok(())
        }
    }

    /// RFC 6298 §5.7: when the SYN (or SYN-ACK) timed out and no RTT sample was taken, data
    /// transmission starts with an RTO of 3 s (the backoff of the handshake ends).
    fn rto_after_handshake(&mut self, env: &Env<'_>) {
        if self.retries > 0 && self.rtt.srtt().is_none() {
            let initial = env.cfg.rto_initial.max(core::time::Duration::from_secs(3));
            self.rtt = super::rtt::RttEstimator::new(initial, env.cfg.rto_min, env.cfg.rto_max);
        }
    }

    /// Reads MSS and window scale from a SYN (RFC 9293 §3.7.1, RFC 7323 §2.2).
    pub(crate) fn apply_syn_options(&mut self, seg: &TcpRepr<'_>, env: &mut Env<'_>) {
        self.peer_mss = seg.options.mss.unwrap_or(536).max(64);
        // Window scaling is on only when both SYNs carry the option (RFC 7323 §1.3); we always
        // offer it, so the peer's SYN decides.
        match seg.options.window_scale {
            Some(shift) => {
                self.snd_wscale = shift.min(14);
                self.wscale_ok = true;
            }
            None => {
                self.wscale_ok = false;
                self.snd_wscale = 0;
            }
        }
        if !self.wscale_ok {
            self.rcv_wscale = 0;
        }
        // ECN setup (RFC 3168 §6.1.1): our SYN carries ECE+CWR when configured; a SYN-ACK
        // answers with ECE alone, a SYN asks with both.
        let ece = seg.flags.contains(TcpFlags::ECE);
        let cwr = seg.flags.contains(TcpFlags::CWR);
        self.ecn_ok = env.cfg.ecn
            && if seg.flags.contains(TcpFlags::ACK) {
                ece && !cwr
            } else {
                ece && cwr
            };
        // SACK and timestamps likewise need both sides (RFC 2018 §2, RFC 7323 §3.2); on an
        // active open we offered them exactly when the configuration says so.
        self.sack_ok = env.cfg.sack && seg.options.sack_permitted;
        self.ts_ok = env.cfg.timestamps && seg.options.timestamps.is_some();
        if let Some((tsval, _)) = seg.options.timestamps.filter(|_| self.ts_ok) {
            self.ts_recent = tsval;
            self.ts_recent_at = env.now;
        }
        self.update_mss();
        self.cc = super::congestion::Congestion::new(
            env.cfg.congestion,
            self.smss(),
            env.cfg.initial_window,
        );
    }

    /// RFC 9293 §3.10.7.4 for SYN-RECEIVED and the synchronized states.
    fn on_synchronized(&mut self, seg: &TcpRepr<'_>, env: &mut Env<'_>) -> SegmentResult {
        let f = seg.flags;
        let mut seq = SeqNumber(seg.seq);
        let mut payload = seg.payload;
        let mut fin = f.contains(TcpFlags::FIN);

        // A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost, send it again.
        if self.state == TcpState::SynReceived
            && f.contains(TcpFlags::SYN)
            && !f.contains(TcpFlags::ACK)
            && seq == self.irs
        {
            self.snd_nxt = self.iss;
            return Ok(());
        }

        // PAWS (RFC 7323 §5.3 R1): a timestamp older than TS.Recent marks an old duplicate.
        // TS.Recent older than 24 days is no longer valid (§5.5).
        let tsval = seg
            .options
            .timestamps
            .filter(|_| self.ts_ok)
            .map(|(v, _)| v);
        if let Some(v) = tsval {
            let stale = env.now.saturating_duration_since(self.ts_recent_at) > PAWS_IDLE_LIMIT;
            if !f.contains(TcpFlags::RST) && !stale && (v.wrapping_sub(self.ts_recent) as i32) < 0 {
                self.answer_invalid(seg, env);
                return Err((DropReason::Paws, None));
            }
        }

        // First: the sequence number (acceptability test, RFC 9293 §3.10.7.4 table).
        let wnd = self.rcv_adv.since(self.rcv_nxt);
        let seg_len = payload.len() as u32 + u32::from(f.contains(TcpFlags::SYN)) + u32::from(fin);
        let acceptable = if seg_len == 0 {
            if wnd == 0 {
                seq == self.rcv_nxt
            } else {
                seq.in_range(self.rcv_nxt, self.rcv_nxt + wnd)
            }
        } else if wnd == 0 {
            false
        } else {
            seq.in_range(self.rcv_nxt, self.rcv_nxt + wnd)
                || (seq + (seg_len - 1)).in_range(self.rcv_nxt, self.rcv_nxt + wnd)
        };
        let zero_window_probe = !acceptable && wnd == 0 && seq == self.rcv_nxt;
        if !acceptable && !zero_window_probe {
            if f.contains(TcpFlags::RST) {
                return Err((DropReason::RstOutOfWindow, None));
            }
            if self.sack_ok && !payload.is_empty() && seq < self.rcv_nxt {
                // Data we already have: report it as a D-SACK (RFC 2883 §4).
                self.dsack = Some((seq, seq + payload.len()));
            }
            if self.state == TcpState::TimeWait && fin {
                // A retransmitted FIN: acknowledge it and restart the 2·MSL timer.
                self.linger_deadline = Deadline::at(env.now + 2 * env.cfg.msl);
            }
            self.answer_invalid(seg, env);
            return Err((DropReason::OutOfWindow, None));
        }

        // Second: RST (RFC 5961 §3.2: only an exact match resets).
        if f.contains(TcpFlags::RST) {
            if seq != self.rcv_nxt {
                self.challenge_ack(env);
                return Err((DropReason::RstInWindow, None));
            }
            self.on_reset(env);
            return Ok(());
        }

        // Trim to the window: bytes before RCV.NXT, then bytes past the right edge.
        if zero_window_probe {
            payload = &[];
            fin = false;
            // The probe must be answered with the current window (RFC 1122 §4.2.2.17), or the
            // sender never learns that it opened.
            self.ack_now = true;
        }
        // Trimming never clears the SYN: "irrespective of the sequence number" it draws a
        // challenge ACK below (RFC 5961 §4.2), even when its data reaches into the window.
        let syn = f.contains(TcpFlags::SYN);
        if seq < self.rcv_nxt {
            let mut skip = self.rcv_nxt.since(seq);
            if syn {
                skip -= 1;
                seq += 1;
            }
            let cut = (skip as usize).min(payload.len());
            payload = &payload[cut..];
            seq += cut as u32;
            if skip as usize > cut {
                // The FIN itself is old too.
                fin = false;
            }
        }
        let room = (self.rcv_nxt + wnd).since(seq) as usize;
        if payload.len() > room {
            payload = &payload[..room];
            fin = false;
        }

        // Fourth: SYN in a synchronized state (RFC 5961 §4): challenge ACK.
        if syn {
            self.challenge_ack(env);
            return Err((DropReason::SynOnSynchronized, None));
        }

        // Fifth: ACK.
        if !f.contains(TcpFlags::ACK) {
            return Err((DropReason::InvalidFlags, None));
        }
        let ack = SeqNumber(seg.ack);
        if self.state == TcpState::SynReceived {
            if ack <= self.snd_una || ack > self.snd_max {
                return Err((DropReason::BadAck, Some(Reply::Rst { seq: ack })));
            }
            self.update_window(seq, ack, seg.window, false);
            self.set_state(TcpState::Established, env);
            if self.fin_queued {
                // The application shut down during the handshake (RFC 9293 §3.10.4).
                self.set_state(TcpState::FinWait1, env);
            }
            self.rto_after_handshake(env);
            if self.owner == Owner::User {
                // Simultaneous open completes an active open.
                self.notify(env, Event::Connected { conn: self.id });
            }
            self.arm_keepalive(env.now);
        }
        if let Err(reason) = self.process_ack(seq, ack, seg, payload.len(), fin, env) {
            return Err((reason, None));
        }
        // RFC 7323 §4.3 (R3): remember the newest timestamp of a segment at or before the
        // point we acknowledged — only now that its RST, SYN and ACK checks passed, so that a
        // blind forged segment cannot push TS.Recent ahead and make PAWS drop the real peer.
        if let Some(v) = tsval {
            if (v.wrapping_sub(self.ts_recent) as i32) >= 0
                && SeqNumber(seg.seq) <= self.last_ack_sent
            {
                self.ts_recent = v;
                self.ts_recent_at = env.now;
            }
        }
        if self.state == TcpState::Closed {
            return Ok(());
        }
        if self.state == TcpState::TimeWait && fin {
            self.linger_deadline = Deadline::at(env.now + 2 * env.cfg.msl);
        }

        // Seventh and eighth: text and FIN.
        let mut trimmed = *seg;
        trimmed.payload = payload;
        trimmed.flags = if fin {
            seg.flags
        } else {
            TcpFlags(seg.flags.0 & !TcpFlags::FIN.0)
        };
        self.receive_text_and_fin(&trimmed, seq, env)
    }

    /// The ACK step for SYN-RECEIVED (after it became ESTABLISHED) and later states.
    fn process_ack(
        &mut self,
        seq: SeqNumber,
        ack: SeqNumber,
        seg: &TcpRepr<'_>,
        data_len: usize,
        fin: bool,
        env: &mut Env<'_>,
    ) -> Result<(), DropReason> {
        // RFC 5961 §5: acceptable if SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.MAX.
        if ack > self.snd_max {
            self.ack_now = true;
            return Err(DropReason::BadAck);
        }
        if ack < self.snd_una - self.max_snd_wnd.max(1) {
            self.challenge_ack(env);
            return Err(DropReason::BadAck);
        }
        let window_before = self.snd_wnd;
        let duplicate = ack == self.snd_una
            && data_len == 0
            && !fin
            && self.snd_max > self.snd_una
            && u32::from(seg.window) << self.snd_wscale == window_before;
        let advanced = ack > self.snd_una;
        if advanced {
            let ecr = seg
                .options
                .timestamps
                .filter(|_| self.ts_ok)
                .map(|(_, e)| e);
            self.on_new_ack(ack, ecr, env);
        }
        if self.ecn_ok && seg.flags.contains(TcpFlags::ECE) {
            self.on_ecn_echo(env);
        }
        if self.sack_ok {
            self.on_sack(seg, duplicate, advanced, env);
        } else if duplicate {
            // Duplicate ACK (RFC 5681 §2).
            if self
                .cc
                .on_dupack(self.snd_una, self.snd_max, self.flight_size(), env.now)
                == RecoveryAction::RetransmitFirst
            {
                env.stats.fast_retransmits += 1;
                self.rtx_first = true;
                self.rtt.cancel_timing();
            }
        }
        if ack >= self.snd_una {
            self.update_window(seq, ack, seg.window, false);
        }

        // State-specific ACK processing (RFC 9293 §3.10.7.4, fifth step).
        match self.state {
            TcpState::FinWait1 if self.fin_acked() => {
                self.set_state(TcpState::FinWait2, env);
                if self.owner == Owner::Orphan {
                    self.linger_deadline = Deadline::at(env.now + env.cfg.fin_wait_2_timeout);
                }
            }
            TcpState::Closing if self.fin_acked() => self.enter_time_wait(env),
            TcpState::LastAck if self.fin_acked() => self.finish(CloseReason::Normal, env),
            _ => {}
        }
        Ok(())
    }

    /// ECN on an arriving segment (RFC 3168 §6.1.3): a CE mark on data makes us echo ECE
    /// until the peer's CWR; the peer's CWR stops the echo.
    fn note_ecn(&mut self, seg: &TcpRepr<'_>, ip_ecn: u8, env: &mut Env<'_>) {
        if seg.flags.contains(TcpFlags::CWR) {
            self.ece_pending = false;
        }
        if ip_ecn == ECN_CE && !seg.payload.is_empty() {
            env.stats.ecn_ce_received += 1;
            self.ece_pending = true;
            self.ack_now = true;
        }
    }

    /// The sender's side of ECN (RFC 3168 §6.1.2): an ECE reduces the window once per
    /// window of data, and the next new segment carries CWR.
    fn on_ecn_echo(&mut self, env: &mut Env<'_>) {
        if self.ecn_recover.is_some_and(|r| self.snd_una < r) || self.snd_una == self.snd_max {
            return;
        }
        if self.cc.on_ecn_echo(self.flight_size(), env.now) {
            env.stats.ecn_reductions += 1;
            self.cwr_pending = true;
            self.ecn_recover = Some(self.snd_max);
        }
    }

    /// SACK information of an ACK: update the scoreboard, enter RFC 6675 loss recovery when
    /// DupThresh duplicate ACKs arrived or the first unacknowledged segment counts as lost.
    fn on_sack(&mut self, seg: &TcpRepr<'_>, duplicate: bool, advanced: bool, env: &mut Env<'_>) {
        self.scoreboard.ack(self.snd_una);
        let blocks = seg.options.sack_blocks();
        let (newly, dsack) = self.scoreboard.update(blocks, self.snd_una, self.snd_max);
        if dsack {
            env.stats.dsacks_received += 1;
            if self.cc.on_dsack() {
                env.stats.spurious_undos += 1;
            }
        }
        // RFC 6675 §5: an ACK with new SACK information counts as a duplicate ACK too.
        let dupacks = if duplicate || (newly > 0 && !advanced) {
            self.cc.count_dupack()
        } else {
            self.cc.dupacks()
        };
        let scoreboard = &self.scoreboard;
        self.rack
            .on_ack(self.snd_una, |s, e| scoreboard.covers(s, e), env.now);
        let rack_lost = self.rack_detect(env);
        if self.cc.in_sack_recovery() || self.snd_max == self.snd_una {
            return;
        }
        let mss = self.smss();
        if rack_lost || dupacks >= DUP_THRESH || self.scoreboard.is_lost(self.snd_una, mss) {
            let flight = self.flight_size();
            if self
                .cc
                .enter_sack_recovery(self.snd_una, self.snd_max, flight, env.now)
            {
                env.stats.fast_retransmits += 1;
                self.scoreboard.high_rxt = self.snd_una;
                self.rtt.cancel_timing();
            }
        }
    }

    /// Runs RACK loss detection (RFC 8985 §6.2 step 5) and arms its reordering timer; a
    /// newly lost segment starts SACK recovery if none is under way. Returns whether any
    /// segment was newly marked lost.
    pub(crate) fn rack_detect(&mut self, env: &mut Env<'_>) -> bool {
        let (lost, timer) = self.rack.detect_loss(env.now);
        self.rack_deadline = timer.into();
        if lost && !self.cc.in_recovery() && self.snd_max > self.snd_una {
            let flight = self.flight_size();
            if self
                .cc
                .enter_sack_recovery(self.snd_una, self.snd_max, flight, env.now)
            {
                env.stats.fast_retransmits += 1;
                self.scoreboard.high_rxt = self.snd_una;
                self.rtt.cancel_timing();
            }
        }
        lost
    }

    /// SND.UNA advances to `ack`: free acknowledged data, feed RTT (from the echoed timestamp
    /// when there is one, RFC 7323 §4) and congestion control, restart the retransmission
    /// timer (RFC 6298 §5.2–5.3).
    fn on_new_ack(&mut self, ack: SeqNumber, ts_ecr: Option<u32>, env: &mut Env<'_>) {
        let flight = self.flight_size();
        let acked = ack.since(self.snd_una);
        // SYN, data and FIN share the sequence space; only data sits in the send queue.
        let data_acked = (ack.since(self.send_seq) as usize).min(self.send.len());
        self.send.consume(data_acked);
        self.send_seq += data_acked as u32;
        self.snd_una = ack;
        if self.snd_nxt < ack {
            self.snd_nxt = ack;
        }
        match ts_ecr.filter(|e| *e != 0) {
            Some(ecr) => {
                let elapsed = self.ts_val(env.now).wrapping_sub(ecr);
                // A sane echo is at most a few minutes old; anything else is not ours.
                if elapsed < 600_000 {
                    self.rtt.sample(Duration::from_millis(u64::from(elapsed)));
                }
                self.rtt.cancel_timing();
            }
            None => {
                self.rtt.on_ack(ack, env.now);
            }
        }
        self.rtt.reset_backoff();
        self.retries = 0;
        self.persist_backoff = 0;
        if let Some(sample) = self.rtt.take_latest() {
            self.cc.on_rtt_sample(sample, ack, self.snd_max);
        }
        if self.cc.on_ack(acked, ack, flight, env.now, self.rtt.srtt())
            == RecoveryAction::RetransmitFirst
        {
            self.rtx_first = true;
        }
        self.rtx_deadline = if self.snd_una == self.snd_max {
            Deadline::NONE
        } else {
            Deadline::at(env.now + self.rtt.rto())
        };
        self.tlp_outstanding = false;
        self.arm_tlp(env.now);
        if self.writable_wanted && self.send.free() > 0 && !self.fin_queued {
            self.writable_wanted = false;
            self.notify(env, Event::Writable { conn: self.id });
        }
    }

    /// Updates SND.WND per RFC 9293 §3.10.7.4 (SND.WL1/SND.WL2 rule).
    fn update_window(&mut self, seq: SeqNumber, ack: SeqNumber, window: u16, syn: bool) {
        if self.snd_wl1 < seq || (self.snd_wl1 == seq && self.snd_wl2 <= ack) || syn {
            let shift = if syn { 0 } else { self.snd_wscale };
            self.snd_wnd = u32::from(window) << shift;
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
            if self.snd_wnd > 0 {
                self.persist_deadline = Deadline::NONE;
                self.persist_backoff = 0;
            }
        }
    }

    /// The RST step: RFC 9293 §3.10.7.4 "second", per state.
    fn on_reset(&mut self, env: &mut Env<'_>) {
        if self.state != TcpState::TimeWait {
            env.stats.resets_in += 1;
        }
        match self.state {
            TcpState::SynReceived if matches!(self.owner, Owner::SynQueue(_)) => {
                // A passive open goes back to LISTEN: the half-open connection just disappears.
                self.finish(CloseReason::Refused, env);
            }
            TcpState::SynReceived => self.finish(CloseReason::Refused, env),
            // RFC 1337: ignore RSTs in TIME-WAIT rather than let them cut it short.
            TcpState::TimeWait => {}
            _ => self.finish(CloseReason::Reset, env),
        }
    }

    /// Sends a challenge ACK if the stack-wide limit allows (RFC 5961 §7).
    pub(crate) fn challenge_ack(&mut self, env: &mut Env<'_>) {
        if self
            .challenge
            .allow(env.now, env.cfg.challenge_ack_per_conn_limit)
            && env.challenge.allow(env.now, env.cfg.challenge_ack_limit)
        {
            env.stats.challenge_acks += 1;
            self.ack_now = true;
        } else {
            env.stats.challenge_acks_suppressed += 1;
        }
    }

    /// The ACK owed to an unacceptable segment (RFC 9293 §3.10.7.4) or a PAWS failure
    /// (RFC 7323 §5.3). A segment with data or a SYN/FIN always gets it; a pure ACK at most
    /// once per `invalid_ack_interval`: two ends that each find the other's ACKs out of window
    /// must not answer each other forever (ACK storm).
    fn answer_invalid(&mut self, seg: &TcpRepr<'_>, env: &mut Env<'_>) {
        let pure = seg.payload.is_empty() && !seg.flags.intersects(TcpFlags::SYN | TcpFlags::FIN);
        if pure {
            if let Some(last) = self.last_invalid_ack.get() {
                if env.now.saturating_duration_since(last) < env.cfg.invalid_ack_interval {
                    env.stats.invalid_acks_suppressed += 1;
                    return;
                }
            }
            self.last_invalid_ack = Deadline::at(env.now);
        }
        self.ack_now = true;
    }

    /// The text and FIN steps: in-order data to the receive queue, out-of-order data to the
    /// reassembly queue, ACK policy (RFC 1122 §4.2.3.2, RFC 5681 §4.2), FIN per state.
    fn receive_text_and_fin(
        &mut self,
        seg: &TcpRepr<'_>,
        seq: SeqNumber,
        env: &mut Env<'_>,
    ) -> SegmentResult {
        let payload = seg.payload;
        let fin = seg.flags.contains(TcpFlags::FIN);
        let mut result = Ok(());
        if !payload.is_empty() {
            if !self.state.can_receive() || self.fin_received {
                self.ack_now = true;
                return Err((DropReason::DataAfterFin, None));
            }
            if self.owner == Owner::Orphan {
                // Nobody will read it: reset, as Linux does for data after close().
                self.abort(env);
                return Err((DropReason::DataAfterFin, None));
            }
            if seq == self.rcv_nxt {
                let n = self.recv.push(payload);
                self.rcv_nxt += n as u32;
                env.stats.bytes_received += n as u64;
                let filled_hole = !self.reasm.is_empty();
                if filled_hole {
                    let recv = &mut self.recv;
                    let mut got = 0u64;
                    self.rcv_nxt = self.reasm.pop_ready(self.rcv_nxt, |d| {
                        got += recv.push(d) as u64;
                    });
                    env.stats.bytes_received += got;
                    // RFC 5681 §4.2: ACK at once when a segment fills (part of) a gap.
                    self.ack_now = true;
                }
                self.unacked_bytes = self.unacked_bytes.saturating_add(n as u32);
                if self.unacked_bytes >= 2 * u32::from(self.local_mss)
                    || env.cfg.delayed_ack.is_zero()
                {
                    self.ack_now = true;
                } else if self.delack_deadline.is_none() {
                    self.delack_deadline = Deadline::at(env.now + env.cfg.delayed_ack);
                }
                if !self.readable_notified {
                    self.readable_notified = true;
                    self.notify(env, Event::Readable { conn: self.id });
                }
            } else {
                // Out of order: keep it, and send a duplicate ACK at once (RFC 5681 §4.2).
                if self.ack_now {
                    self.dup_acks_owed = self.dup_acks_owed.saturating_add(1).min(64);
                }
                self.ack_now = true;
                let outcome = if payload.len() > self.recv_budget {
                    // The stack-wide receive memory is spent.
                    InsertOutcome::Full
                } else {
                    self.reasm.insert(self.rcv_nxt, seq, payload)
                };
                match outcome {
                    InsertOutcome::Full => result = Err((DropReason::ReassemblyFull, None)),
                    InsertOutcome::Stored => self.last_ooo = Some(seq),
                    InsertOutcome::Duplicate if self.sack_ok => {
                        self.dsack = Some((seq, seq + payload.len()));
                    }
                    InsertOutcome::Duplicate => {}
                }
            }
        }
        if fin {
            let fin_seq = seq + payload.len();
            if fin_seq == self.rcv_nxt {
                self.accept_fin(env);
            } else if fin_seq > self.rcv_nxt {
                self.pending_fin = Some(fin_seq);
                self.ack_now = true;
            }
        } else if self.pending_fin == Some(self.rcv_nxt) {
            self.accept_fin(env);
        }
        result
    }

    /// Our peer's FIN is in order: RFC 9293 §3.10.7.4 "eighth".
    fn accept_fin(&mut self, env: &mut Env<'_>) {
        if self.fin_received {
            return;
        }
        self.pending_fin = None;
        self.fin_received = true;
        self.rcv_nxt += 1u32;
        self.ack_now = true;
        self.notify(env, Event::PeerClosed { conn: self.id });
        match self.state {
            TcpState::SynReceived | TcpState::Established => {
                self.set_state(TcpState::CloseWait, env)
            }
            TcpState::FinWait1 => {
                if self.fin_acked() {
                    self.enter_time_wait(env);
                } else {
                    self.set_state(TcpState::Closing, env);
                }
            }
            TcpState::FinWait2 => self.enter_time_wait(env),
            _ => {}
        }
    }

    /// TIME-WAIT: wait 2·MSL (RFC 9293 §3.4.2), all other timers off.
    pub(crate) fn enter_time_wait(&mut self, env: &mut Env<'_>) {
        self.set_state(TcpState::TimeWait, env);
        self.rtx_deadline = Deadline::NONE;
        self.persist_deadline = Deadline::NONE;
        self.keepalive_deadline = Deadline::NONE;
        self.linger_deadline = Deadline::at(env.now + 2 * env.cfg.msl);
    }

    /// Applies an ICMP error that quoted one of our segments with sequence number `seq`
    /// (RFC 5927 §4.1: only if it lies in SND.UNA..SND.MAX). `mtu` is set for "fragmentation
    /// needed" / "packet too big" (RFC 1191, RFC 8201).
    pub(crate) fn handle_icmp_error(
        &mut self,
        seq: SeqNumber,
        kind: (u8, u8),
        mtu: Option<u16>,
    ) -> bool {
        let valid = if self.snd_una == self.snd_max {
            seq == self.snd_una
        } else {
            seq.in_range(self.snd_una, self.snd_max)
        };
        if !valid {
            return false;
        }
        match mtu {
            Some(mtu) => {
                let floor = if self.header_overhead >= 60 {
                    1280
                } else {
                    576
                };
                let mtu = mtu.max(floor);
                if mtu < self.mtu {
                    self.mtu = mtu;
                    self.update_mss();
                    // Resend what was lost to the smaller MTU, without a congestion response.
                    self.rtx_first = self.snd_max > self.snd_una;
                }
            }
            None => self.soft_error = Some(kind),
        }
        true
    }
}
