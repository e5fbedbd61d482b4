//! Connection timers: retransmission (RFC 6298), persist (zero-window probes, RFC 9293
//! §3.8.6.1), delayed ACK (RFC 1122 §4.2.3.2), keep-alive (RFC 1122 §4.2.3.6), TIME-WAIT and
//! the FIN-WAIT-2 timeout.

use core::time::Duration;

use super::connection::{Connection, Env};
use super::state::TcpState;
use crate::time::Deadline;
use crate::{CloseReason, Instant};

/// RFC 8985 §7.2 "WCDelAckT": the longest a receiver may delay an ACK.
const WORST_CASE_DELAYED_ACK: Duration = Duration::from_millis(200);

/// Longest interval between zero-window probes.
const PERSIST_MAX: Duration = Duration::from_secs(60);

impl Connection {
    /// The earliest deadline of any running timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        // Called after every packet: a branch-free minimum over the raw nanoseconds, where
        // "not running" is u64::MAX.
        let min = [
            self.rtx_deadline.raw(),
            self.persist_deadline.raw(),
            self.delack_deadline.raw(),
            self.keepalive_deadline.raw(),
            self.linger_deadline.raw(),
            self.tlp_deadline.raw(),
            self.pace_deadline.raw(),
            self.rack_deadline.raw(),
        ]
        .into_iter()
        .fold(u64::MAX, u64::min);
        (min != u64::MAX).then_some(Instant(min))
    }

    /// Runs every timer due at `env.now`.
    pub(crate) fn handle_timeout(&mut self, env: &mut Env<'_>) {
        let now = env.now;
        if self.linger_deadline.is_due(now) {
            self.linger_deadline = Deadline::NONE;
            match self.state {
                TcpState::TimeWait => self.finish(CloseReason::Normal, env),
                TcpState::FinWait2 => self.finish(CloseReason::TimedOut, env),
                _ => {}
            }
            if self.outcome.is_some() {
                return;
            }
        }
        if self.tlp_deadline.is_due(now) {
            // RFC 8985 §7.3: send one probe, then fall back on the RTO.
            self.tlp_deadline = Deadline::NONE;
            if self.snd_max > self.snd_una {
                self.tlp_pending = true;
                self.tlp_outstanding = true;
                env.stats.tail_loss_probes += 1;
                self.rtx_deadline = Deadline::at(env.now + self.rtt.rto());
            }
        }
        if self.rtx_deadline.is_due(now) {
            self.rtx_deadline = Deadline::NONE;
            self.on_retransmit_timeout(env);
            if self.outcome.is_some() {
                return;
            }
        }
        if self.persist_deadline.is_due(now) {
            self.persist_deadline = Deadline::NONE;
            if self.snd_una == self.snd_max {
                if self.snd_wnd == 0 {
                    self.probe_pending = true;
                    env.stats.window_probes += 1;
                } else {
                    self.sws_override = true;
                }
                self.persist_backoff = self.persist_backoff.saturating_add(1);
            }
        }
        if self.rack_deadline.is_due(now) {
            self.rack_deadline = Deadline::NONE;
            self.rack_detect(env);
        }
        if self.pace_deadline.is_due(now) {
            // Paced data may leave now; the output path sends it.
            self.pace_deadline = Deadline::NONE;
        }
        if self.delack_deadline.is_due(now) {
            self.delack_deadline = Deadline::NONE;
            self.ack_now = true;
        }
        if self.keepalive_deadline.is_due(now) {
            self.keepalive_deadline = Deadline::NONE;
            self.on_keepalive_timeout(env);
        }
        self.arm_persist(now);
    }

    /// RFC 6298 §5.4–5.6: back off, collapse the congestion window, resend from SND.UNA.
    fn on_retransmit_timeout(&mut self, env: &mut Env<'_>) {
        if self.snd_max == self.snd_una {
            return;
        }
        let limit = match self.state {
            TcpState::SynSent | TcpState::SynReceived => env.cfg.syn_retries,
            _ => env.cfg.max_retries,
        };
        if self.retries >= limit {
            self.finish(CloseReason::TimedOut, env);
            return;
        }
        self.retries += 1;
        env.stats.rto_expirations += 1;
        self.tlp_deadline = Deadline::NONE;
        self.tlp_outstanding = false;
        let flight = self.flight_size();
        self.cc
            .on_rto(self.snd_max, flight, self.retries == 1, env.now);
        self.rtt.on_timeout();
        // Start over from SND.UNA under the collapsed window. The scoreboard stays: the
        // go-back-N resend skips what the receiver SACKed, as Linux does. (A receiver that
        // reneges is caught by the next RTO, which then resends SND.UNA itself.)
        if self.retries > 1 {
            self.scoreboard.clear();
        }
        self.rack.clear();
        self.rack_deadline = Deadline::NONE;
        self.scoreboard.high_rxt = self.snd_una;
        self.snd_nxt = self.snd_una;
        self.rtx_first = false;
        self.rtx_deadline = Deadline::at(env.now + self.rtt.rto());
    }

    /// Starts the persist timer when data waits but nothing is in flight to elicit an ACK:
    /// the peer's window is zero (RFC 9293 §3.8.6.1), or too small for sender-side SWS
    /// avoidance to use (RFC 1122 §4.2.3.4 override). Without it a lost window update would
    /// stall the connection for good.
    pub(crate) fn arm_persist(&mut self, now: Instant) {
        let waiting = self.send.len() > self.snd_nxt.since(self.send_seq) as usize;
        if self.state.is_synchronized()
            && self.snd_wnd < u32::from(self.mss)
            && waiting
            && self.snd_una == self.snd_max
            && self.persist_deadline.is_none()
            && self.outcome.is_none()
        {
            let shift = self.persist_backoff.min(16);
            let interval = self.rtt.rto().saturating_mul(1 << shift).min(PERSIST_MAX);
            self.persist_deadline = Deadline::at(now + interval);
        }
    }

    /// Arms the tail loss probe (RFC 8985 §7.2) after new data went out or an ACK arrived:
    /// with SACK, data in flight, outside recovery and RTO backoff, one probe at a time.
    /// PTO = 2·SRTT (+ the worst-case delayed ACK when one segment is in flight), at most
    /// until the RTO would fire.
    pub(crate) fn arm_tlp(&mut self, now: Instant) {
        self.tlp_deadline = Deadline::NONE;
        let flight = self.flight_size();
        if !self.sack_ok
            || flight == 0
            || !self.state.is_synchronized()
            || self.cc.in_recovery()
            || self.rtt.backoff() > 0
            || self.tlp_outstanding
        {
            return;
        }
        let mut pto = self.rtt.srtt().map_or(Duration::from_secs(1), |s| 2 * s);
        if flight <= u32::from(self.mss) {
            pto += WORST_CASE_DELAYED_ACK;
        }
        // A PTO past the RTO is cut to it: the probe then goes instead of the RTO firing.
        let at = now + pto.max(Duration::from_millis(10));
        self.tlp_deadline = Deadline::at(self.rtx_deadline.get().map_or(at, |r| at.min(r)));
    }

    /// Starts or restarts keep-alive after activity, when it is on.
    pub(crate) fn arm_keepalive(&mut self, now: Instant) {
        self.keepalive_deadline = match self.keepalive {
            Some(idle) if self.state.is_synchronized() && self.state != TcpState::TimeWait => {
                Deadline::at(self.last_recv.max(now) + idle)
            }
            _ => Deadline::NONE,
        };
    }

    /// Keep-alive (RFC 1122 §4.2.3.6): probe after the idle time, then every interval; give up
    /// after the configured number of unanswered probes.
    fn on_keepalive_timeout(&mut self, env: &mut Env<'_>) {
        let Some(idle) = self.keepalive else { return };
        if !self.state.is_synchronized() || self.state == TcpState::TimeWait {
            return;
        }
        let since = env.now.saturating_duration_since(self.last_recv);
        if since < idle {
            self.keepalive_deadline = Deadline::at(self.last_recv + idle);
            return;
        }
        if self.keepalive_unanswered >= env.cfg.keepalive_probes {
            self.finish(CloseReason::TimedOut, env);
            return;
        }
        self.keepalive_unanswered += 1;
        env.stats.keepalive_probes += 1;
        self.probe_pending = true;
        self.keepalive_deadline = Deadline::at(env.now + env.cfg.keepalive_interval);
    }
}
