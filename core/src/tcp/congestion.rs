//! Congestion control: the window a sender may have in flight, and loss recovery.
//!
//! NewReno is the default: slow start and congestion avoidance with appropriate byte counting
//! (RFC 5681 §3.1, RFC 3465), fast retransmit / fast recovery (RFC 5681 §3.2) with the partial
//! ACK rule of RFC 6582.

use super::seq::SeqNumber;
use crate::CongestionAlgorithm;

/// What the sender should do after an acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryAction {
    /// Nothing special.
    None,
    /// Retransmit the first unacknowledged segment now (fast retransmit, or a partial ACK in
    /// fast recovery per RFC 6582 §3.2 step 3).
    RetransmitFirst,
}

/// Congestion window, slow-start threshold and the fast-recovery state of one connection.
#[derive(Debug, Clone)]
pub struct Congestion {
    algorithm: CongestionAlgorithm,
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acknowledged during congestion avoidance since the last window increase.
    bytes_acked: u32,
    /// Duplicate ACKs in a row (RFC 5681 §2 definition).
    dupacks: u32,
    /// `Some(recover)` while in fast recovery (RFC 6582 §3.2 "recover").
    recover: Option<SeqNumber>,
    /// Highest sequence sent when the last loss was detected; dupacks below it do not start a
    /// new recovery (RFC 6582 §3.2 step 2, the "careful" variant).
    recover_guard: Option<SeqNumber>,
    /// The current recovery is SACK-based (RFC 6675) rather than NewReno.
    sack_recovery: bool,
}

/// Duplicate ACKs that trigger fast retransmit (RFC 5681 §3.2).
pub const DUPACK_THRESHOLD: u32 = 3;

impl Congestion {
    /// Starting state: initial window per RFC 6928 (`iw` segments, at most
    /// max(2·MSS, 14600) bytes when `iw` is 10 or less... we take `iw`·MSS as configured).
    pub fn new(algorithm: CongestionAlgorithm, mss: u32, iw: u32) -> Congestion {
        let mss = mss.max(1);
        Congestion {
            algorithm,
            mss,
            cwnd: iw.saturating_mul(mss),
            ssthresh: u32::MAX,
            bytes_acked: 0,
            dupacks: 0,
            recover: None,
            recover_guard: None,
            sack_recovery: false,
        }
    }

    /// The window the sender may have in flight, bytes.
    pub fn window(&self) -> u32 {
        match self.algorithm {
            CongestionAlgorithm::None => u32::MAX,
            _ => self.cwnd,
        }
    }

    /// The algorithm in use.
    pub fn algorithm(&self) -> CongestionAlgorithm {
        self.algorithm
    }

    /// Congestion window, bytes.
    pub fn cwnd(&self) -> u32 {
        self.cwnd
    }

    /// Slow-start threshold, bytes (`u32::MAX` until the first loss).
    pub fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    /// Whether fast recovery is in progress.
    pub fn in_recovery(&self) -> bool {
        self.recover.is_some()
    }

    /// Whether a SACK-based recovery (RFC 6675) is in progress.
    pub fn in_sack_recovery(&self) -> bool {
        self.sack_recovery
    }

    /// Duplicate ACKs counted so far.
    pub fn dupacks(&self) -> u32 {
        self.dupacks
    }

    /// The sender's MSS changed (path MTU).
    pub fn set_mss(&mut self, mss: u32) {
        self.mss = mss.max(1);
    }

    /// Enters SACK-based loss recovery (RFC 6675 §5 step 4): cwnd = ssthresh = FlightSize / 2,
    /// RecoveryPoint = HighData. Returns false while an earlier recovery's data is not yet
    /// all acknowledged (RFC 6675 §5: no new recovery before HighACK passes RecoveryPoint).
    pub fn enter_sack_recovery(
        &mut self,
        snd_una: SeqNumber,
        snd_max: SeqNumber,
        flight: u32,
    ) -> bool {
        if self.recover.is_some() || self.recover_guard.is_some_and(|g| snd_una < g) {
            return false;
        }
        self.ssthresh = (flight / 2).max(2 * self.mss);
        self.cwnd = self.ssthresh;
        self.recover = Some(snd_max);
        self.recover_guard = Some(snd_max);
        self.sack_recovery = true;
        true
    }

    /// Counts a duplicate ACK under SACK-based recovery, where the scoreboard rather than
    /// window inflation governs what is sent. Returns the count.
    pub fn count_dupack(&mut self) -> u32 {
        self.dupacks = self.dupacks.saturating_add(1);
        self.dupacks
    }

    /// New data was acknowledged: `acked` bytes, the ACK now at `ack`, `flight` bytes were
    /// outstanding before this ACK.
    pub fn on_ack(&mut self, acked: u32, ack: SeqNumber, flight: u32) -> RecoveryAction {
        self.dupacks = 0;
        if self.sack_recovery {
            // RFC 6675: the window stays at ssthresh through recovery; the pipe estimate
            // decides what is sent. Recovery ends when RecoveryPoint is acknowledged.
            if self.recover.is_some_and(|r| ack >= r) {
                self.recover = None;
                self.sack_recovery = false;
            }
            return RecoveryAction::None;
        }
        if let Some(recover) = self.recover {
            if ack >= recover {
                // Full acknowledgement: deflate the window (RFC 6582 §3.2 step 3, option 1).
                let after = flight.saturating_sub(acked);
                self.cwnd = self.ssthresh.min(after.max(self.mss) + self.mss);
                self.recover = None;
                return RecoveryAction::None;
            }
            // Partial acknowledgement: retransmit the next hole, deflate by the amount acked,
            // add back one MSS if at least one MSS was acked.
            self.cwnd = self.cwnd.saturating_sub(acked);
            if acked >= self.mss {
                self.cwnd = self.cwnd.saturating_add(self.mss);
            }
            return RecoveryAction::RetransmitFirst;
        }
        if self.cwnd < self.ssthresh {
            // Slow start with ABC, L = 2 (RFC 3465 §2.2); grow only while the window is what
            // limits the sender (RFC 7661 §4.3), so that a receive-window-limited flow does
            // not build a window it never used.
            if flight.saturating_mul(2) >= self.cwnd {
                self.cwnd = self.cwnd.saturating_add(acked.min(2 * self.mss));
            }
        } else if flight.saturating_add(self.mss) >= self.cwnd {
            // Congestion avoidance: one MSS per window of data acknowledged (RFC 5681 eq. 3).
            self.bytes_acked = self.bytes_acked.saturating_add(acked);
            if self.bytes_acked >= self.cwnd {
                self.bytes_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(self.mss);
            }
        }
        RecoveryAction::None
    }

    /// A duplicate ACK arrived. `snd_una` is the cumulative ACK point, `snd_max` the highest
    /// sequence sent, `flight` the bytes outstanding.
    pub fn on_dupack(
        &mut self,
        snd_una: SeqNumber,
        snd_max: SeqNumber,
        flight: u32,
    ) -> RecoveryAction {
        self.dupacks = self.dupacks.saturating_add(1);
        if self.recover.is_some() {
            // Window inflation for each segment that left the network (RFC 5681 §3.2 step 4).
            self.cwnd = self.cwnd.saturating_add(self.mss);
            return RecoveryAction::None;
        }
        if self.dupacks != DUPACK_THRESHOLD {
            return RecoveryAction::None;
        }
        if let Some(guard) = self.recover_guard {
            // RFC 6582 §3.2 step 2: only start a new recovery once the previous one's data is
            // all acknowledged.
            if snd_una <= guard {
                return RecoveryAction::None;
            }
        }
        self.ssthresh = (flight / 2).max(2 * self.mss);
        self.cwnd = self.ssthresh.saturating_add(DUPACK_THRESHOLD * self.mss);
        self.recover = Some(snd_max);
        self.recover_guard = Some(snd_max);
        RecoveryAction::RetransmitFirst
    }

    /// The retransmission timer expired (RFC 5681 §3.1 eq. 4; loss window of one segment).
    pub fn on_rto(&mut self, snd_max: SeqNumber, flight: u32, first_backoff: bool) {
        if first_backoff {
            self.ssthresh = (flight / 2).max(2 * self.mss);
        }
        self.cwnd = self.mss;
        self.bytes_acked = 0;
        self.dupacks = 0;
        self.recover = None;
        self.sack_recovery = false;
        self.recover_guard = Some(snd_max);
    }

    /// After an idle period longer than the RTO, restart from the initial window
    /// (RFC 5681 §4.1).
    pub fn on_idle_restart(&mut self, iw: u32) {
        let restart = iw.saturating_mul(self.mss);
        self.cwnd = self.cwnd.min(restart);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_then_fast_recovery() {
        let mss = 1000;
        let mut c = Congestion::new(CongestionAlgorithm::NewReno, mss, 10);
        assert_eq!(c.window(), 10_000);
        c.on_ack(1000, SeqNumber(1000), 10_000);
        assert_eq!(c.window(), 11_000);
        let una = SeqNumber(1000);
        let max = SeqNumber(20_000);
        assert_eq!(c.on_dupack(una, max, 19_000), RecoveryAction::None);
        assert_eq!(c.on_dupack(una, max, 19_000), RecoveryAction::None);
        assert_eq!(
            c.on_dupack(una, max, 19_000),
            RecoveryAction::RetransmitFirst
        );
        assert_eq!(c.ssthresh(), 9_500);
        assert_eq!(c.window(), 12_500);
        assert!(c.in_recovery());
        // Partial ACK: retransmit again.
        assert_eq!(
            c.on_ack(1000, SeqNumber(2000), 19_000),
            RecoveryAction::RetransmitFirst
        );
        // Full ACK ends recovery with cwnd <= ssthresh.
        assert_eq!(
            c.on_ack(18_000, SeqNumber(20_000), 18_000),
            RecoveryAction::None
        );
        assert!(!c.in_recovery());
        assert!(c.window() <= 9_500);
    }

    #[test]
    fn rto_collapses_window() {
        let mut c = Congestion::new(CongestionAlgorithm::NewReno, 1000, 10);
        c.on_rto(SeqNumber(10_000), 10_000, true);
        assert_eq!(c.window(), 1000);
        assert_eq!(c.ssthresh(), 5000);
    }
}
