//! Congestion control: the window a sender may have in flight, and loss recovery.
//!
//! [`Congestion`] holds what every algorithm shares: slow start with appropriate byte counting
//! (RFC 5681 §3.1, RFC 3465), fast retransmit and NewReno fast recovery with partial ACKs
//! (RFC 5681 §3.2, RFC 6582), SACK-based recovery (RFC 6675 §5) whose sending rate follows
//! Proportional Rate Reduction (RFC 6937, RFC 9937), the RTO response, and congestion-window
//! validation (RFC 7661). How the window grows in congestion avoidance and how far it falls on
//! a congestion event is the algorithm's: a [`CongestionControl`].
//! NewReno (RFC 5681) is the default; CUBIC (RFC 9438) is in `cubic.rs`.

use core::time::Duration;

use super::cubic::Cubic;
use super::rtt::{rtt_us, NO_RTT};
use super::seq::SeqNumber;
use crate::{CongestionAlgorithm, Instant};

/// The window state an algorithm works on, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Congestion window.
    pub cwnd: u32,
    /// Slow-start threshold.
    pub ssthresh: u32,
    /// Sender MSS.
    pub mss: u32,
}

/// The part of a congestion-control algorithm that differs between algorithms. Implement it
/// (integer arithmetic only, no allocation) and add a [`CongestionAlgorithm`] variant to plug
/// in another one.
pub trait CongestionControl {
    /// Congestion avoidance (cwnd >= ssthresh, not in recovery): `acked` bytes were newly
    /// acknowledged at `now`; grow `w.cwnd`.
    fn avoid(&mut self, w: &mut Window, acked: u32, now: Instant, srtt: Option<Duration>);
    /// A congestion event (loss detected, or an ECN echo): the new ssthresh.
    fn on_congestion_event(&mut self, w: &Window, flight: u32, now: Instant) -> u32;
    /// The retransmission timer expired.
    fn on_timeout(&mut self);
}

/// NewReno's window policy (RFC 5681 §3.1): one MSS per window of acknowledged data, and half
/// the flight size on a congestion event.
#[derive(Debug, Clone, Default)]
pub struct NewReno {
    /// Bytes acknowledged in congestion avoidance since the last increase.
    bytes_acked: u32,
}

impl CongestionControl for NewReno {
    fn avoid(&mut self, w: &mut Window, acked: u32, _now: Instant, _srtt: Option<Duration>) {
        // RFC 5681 eq. 3 with byte counting (RFC 3465 §2.1).
        self.bytes_acked = self.bytes_acked.saturating_add(acked);
        if self.bytes_acked >= w.cwnd {
            self.bytes_acked -= w.cwnd;
            w.cwnd = w.cwnd.saturating_add(w.mss);
        }
    }

    fn on_congestion_event(&mut self, w: &Window, flight: u32, _now: Instant) -> u32 {
        self.bytes_acked = 0;
        // RFC 5681 eq. 4.
        (flight / 2).max(2 * w.mss)
    }

    fn on_timeout(&mut self) {
        self.bytes_acked = 0;
    }
}

/// The algorithm of one connection, dispatched without allocation.
#[derive(Debug, Clone)]
enum Algorithm {
    NewReno(NewReno),
    Cubic(Cubic),
    /// No congestion control: the window never limits.
    None(NewReno),
}

impl Algorithm {
    fn get(&mut self) -> &mut dyn CongestionControl {
        match self {
            Algorithm::NewReno(a) | Algorithm::None(a) => a,
            Algorithm::Cubic(a) => a,
        }
    }
}

/// HyStart++ (RFC 9406 §4): when the RTT of a round rises by more than eta over the previous
/// round's, slow start turns into conservative slow start (a quarter of the growth) for up to
/// five rounds, then into congestion avoidance — unless the RTT falls back, which resumes
/// slow start (a spurious exit). RTTs are kept in microseconds ([`NO_RTT`]: none yet), which
/// keeps the per-connection state small.
#[derive(Debug, Clone)]
struct HyStart {
    /// The round ends when this is acknowledged.
    round_end: Option<SeqNumber>,
    last_round_min_us: u32,
    current_round_min_us: u32,
    samples: u32,
    /// In conservative slow start: rounds so far, and the RTT baseline (µs) that started it.
    css: Option<(u32, u32)>,
}

impl Default for HyStart {
    fn default() -> HyStart {
        HyStart {
            round_end: None,
            last_round_min_us: NO_RTT,
            current_round_min_us: NO_RTT,
            samples: 0,
            css: None,
        }
    }
}

/// RFC 9406 §4.3: CSS grows a quarter as fast, for at most five rounds.
const CSS_GROWTH_DIVISOR: u32 = 4;
const CSS_ROUNDS: u32 = 5;

/// RFC 9406 §4.3 constants.
const HYSTART_MIN_RTT_THRESH: Duration = Duration::from_millis(4);
const HYSTART_MAX_RTT_THRESH: Duration = Duration::from_millis(16);
const HYSTART_N_RTT_SAMPLE: u32 = 8;

/// What the sender should do after an acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryAction {
    /// Nothing special.
    None,
    /// Retransmit the first unacknowledged segment now (fast retransmit, or a partial ACK in
    /// fast recovery per RFC 6582 §3.2 step 3).
    RetransmitFirst,
}

/// Proportional Rate Reduction (RFC 6937 §3) state of one SACK-based recovery: how much may
/// be sent is tied to how much the receiver reports delivered, so that the window falls
/// smoothly from the flight size at entry to ssthresh over one round trip, instead of RFC 6675
/// sending nothing until the pipe has drained below the halved window and then a burst.
#[derive(Debug, Clone, Copy, Default)]
struct Prr {
    /// RecoverFS: the flight size when recovery started.
    recover_fs: u32,
    /// prr_delivered: bytes the receiver reported delivered (cumulatively or SACKed) since.
    delivered: u32,
    /// prr_out: bytes sent (new data and retransmissions) since.
    out: u32,
    /// The delivery mark (SND.UNA plus the SACKed bytes above it, wrapping) when last seen;
    /// `None` until the first update of this recovery.
    mark: Option<u32>,
    /// SND.UNA when last seen (whether the latest ACK advanced it).
    una: SeqNumber,
}

/// Congestion window, slow-start threshold and the loss-recovery state of one connection.
#[derive(Debug, Clone)]
pub struct Congestion {
    algorithm: Algorithm,
    w: Window,
    /// Duplicate ACKs in a row (RFC 5681 §2 definition).
    dupacks: u32,
    /// `Some(recover)` while in fast recovery (RFC 6582 §3.2 "recover").
    recover: Option<SeqNumber>,
    /// Highest sequence sent when the last loss was detected; dupacks below it do not start a
    /// new recovery (RFC 6582 §3.2 step 2, the "careful" variant).
    recover_guard: Option<SeqNumber>,
    /// The current recovery is SACK-based (RFC 6675) rather than NewReno.
    sack_recovery: bool,
    hystart: HyStart,
    /// The window before the last reduction, and how many of the retransmissions since have
    /// not yet been reported as duplicates (D-SACK undo, RFC 2883 §5 / RFC 3708).
    undo: Option<(Window, u32)>,
    /// PRR state while a SACK-based recovery is in progress.
    prr: Option<Prr>,
}

/// Duplicate ACKs that trigger fast retransmit (RFC 5681 §3.2).
pub const DUPACK_THRESHOLD: u32 = 3;

impl Congestion {
    /// Starting state: an initial window of `iw` segments (RFC 6928: 10).
    pub fn new(algorithm: CongestionAlgorithm, mss: u32, iw: u32) -> Congestion {
        let mss = mss.max(1);
        let algorithm = match algorithm {
            CongestionAlgorithm::Cubic => Algorithm::Cubic(Cubic::default()),
            CongestionAlgorithm::None => Algorithm::None(NewReno::default()),
            _ => Algorithm::NewReno(NewReno::default()),
        };
        Congestion {
            algorithm,
            w: Window {
                cwnd: iw.saturating_mul(mss),
                ssthresh: u32::MAX,
                mss,
            },
            dupacks: 0,
            recover: None,
            recover_guard: None,
            sack_recovery: false,
            hystart: HyStart::default(),
            undo: None,
            prr: None,
        }
    }

    /// The window the sender may have in flight, bytes.
    pub fn window(&self) -> u32 {
        match self.algorithm {
            Algorithm::None(_) => u32::MAX,
            _ => self.w.cwnd,
        }
    }

    /// The algorithm in use.
    pub fn algorithm(&self) -> CongestionAlgorithm {
        match self.algorithm {
            Algorithm::NewReno(_) => CongestionAlgorithm::NewReno,
            Algorithm::Cubic(_) => CongestionAlgorithm::Cubic,
            Algorithm::None(_) => CongestionAlgorithm::None,
        }
    }

    /// Congestion window, bytes.
    pub fn cwnd(&self) -> u32 {
        self.w.cwnd
    }

    /// Slow-start threshold, bytes (`u32::MAX` until the first loss).
    pub fn ssthresh(&self) -> u32 {
        self.w.ssthresh
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
        self.w.mss = mss.max(1);
    }

    /// An RTT sample arrived with an ACK up to `ack`; `snd_max` is the highest sequence sent.
    /// Runs HyStart++'s delay-increase test while in slow start (RFC 9406 §4.2).
    pub fn on_rtt_sample(&mut self, sample: Duration, ack: SeqNumber, snd_max: SeqNumber) {
        if self.w.cwnd >= self.w.ssthresh || self.recover.is_some() {
            return;
        }
        let h = &mut self.hystart;
        if h.round_end.is_none_or(|end| ack >= end) {
            // A new round starts.
            h.round_end = Some(snd_max);
            if h.current_round_min_us != NO_RTT {
                h.last_round_min_us = h.current_round_min_us;
            }
            h.current_round_min_us = NO_RTT;
            h.samples = 0;
            if let Some((rounds, baseline)) = h.css {
                if rounds + 1 >= CSS_ROUNDS {
                    // Five rounds of CSS: the delay rise was real. Congestion avoidance.
                    h.css = None;
                    self.w.ssthresh = self.w.cwnd;
                    return;
                }
                h.css = Some((rounds + 1, baseline));
            }
        }
        let sample = rtt_us(sample);
        h.current_round_min_us = h.current_round_min_us.min(sample);
        h.samples += 1;
        if h.samples < HYSTART_N_RTT_SAMPLE {
            return;
        }
        let current = h.current_round_min_us;
        match h.css {
            // RFC 9406 §4.2: the RTT fell back below the baseline: the exit was spurious.
            Some((_, baseline)) if current < baseline => h.css = None,
            Some(_) => {}
            None => {
                let last = h.last_round_min_us;
                if last != NO_RTT {
                    let eta = (last / 8).clamp(
                        rtt_us(HYSTART_MIN_RTT_THRESH),
                        rtt_us(HYSTART_MAX_RTT_THRESH),
                    );
                    if current >= last.saturating_add(eta) {
                        h.css = Some((0, current));
                    }
                }
            }
        }
    }

    /// A congestion event: the algorithm picks the new ssthresh.
    fn reduce(&mut self, flight: u32, now: Instant) -> u32 {
        self.hystart.css = None;
        self.undo = Some((self.w, 0));
        let w = self.w;
        self.algorithm.get().on_congestion_event(&w, flight, now)
    }

    /// Enters SACK-based loss recovery (RFC 6675 §5 step 4): ssthresh = the reduced window,
    /// RecoveryPoint = HighData, and Proportional Rate Reduction starts with RecoverFS = the
    /// flight size (RFC 6937 §3). Until the sender's first [`Congestion::prr_update`] the
    /// window is ssthresh. Returns false while an earlier recovery's data is not yet all
    /// acknowledged (RFC 6675 §5: no new recovery before HighACK passes RecoveryPoint), so a
    /// window of data with several losses is reduced once.
    pub fn enter_sack_recovery(
        &mut self,
        snd_una: SeqNumber,
        snd_max: SeqNumber,
        flight: u32,
        now: Instant,
    ) -> bool {
        if self.recover.is_some() || self.recover_guard.is_some_and(|g| snd_una < g) {
            return false;
        }
        self.w.ssthresh = self.reduce(flight, now);
        self.w.cwnd = self.w.ssthresh;
        self.recover = Some(snd_max);
        self.recover_guard = Some(snd_max);
        self.sack_recovery = true;
        self.prr = Some(Prr {
            recover_fs: flight.max(1),
            una: snd_una,
            ..Prr::default()
        });
        true
    }

    /// Proportional Rate Reduction (RFC 6937 §3, as updated by RFC 9937 §4), run by the
    /// sender before it decides what to send during SACK-based recovery. `pipe` is RFC 6675's
    /// SetPipe; the delivery mark is SND.UNA plus the bytes SACKed above it (`sacked`), which
    /// grows by exactly what each ACK reports delivered. On the first call after an ACK that
    /// delivered data it sets cwnd = pipe + sndcnt; later calls before the next such ACK
    /// change nothing, so what goes out in answer to one ACK is at most sndcnt, plus whatever
    /// a loss marked in between (a RACK timer) takes out of the pipe.
    pub fn prr_update(&mut self, pipe: u32, snd_una: SeqNumber, sacked: u32) {
        let (ssthresh, mss) = (self.w.ssthresh, self.w.mss);
        let Some(p) = self.prr.as_mut().filter(|_| self.sack_recovery) else {
            return;
        };
        let mark = snd_una.0.wrapping_add(sacked);
        let (last, first) = match p.mark {
            Some(m) => (m, false),
            None => {
                // The first update of this recovery: what was SACKed before it will never be
                // reported delivered again, so it does not count in RecoverFS either
                // (RFC 9937 §4).
                p.recover_fs = p.recover_fs.saturating_sub(sacked).max(mss);
                p.una = snd_una;
                (mark, true)
            }
        };
        p.mark = Some(mark);
        // DeliveredData of this ACK (RFC 6937 §3). A mark that went back (the scoreboard
        // dropped ranges) delivers nothing.
        let delivered = mark.wrapping_sub(last);
        let mut sndcnt = 0;
        if delivered > 0 && delivered < 1 << 31 {
            p.delivered = p.delivered.saturating_add(delivered);
            let advanced = snd_una > p.una;
            p.una = snd_una;
            sndcnt = if pipe > ssthresh {
                // The proportional part: sndcnt = CEIL(prr_delivered · ssthresh / RecoverFS)
                // - prr_out, so that the flight falls to ssthresh by the end of recovery.
                let target = (u64::from(p.delivered) * u64::from(ssthresh))
                    .div_ceil(u64::from(p.recover_fs));
                target
                    .saturating_sub(u64::from(p.out))
                    .min(u64::from(u32::MAX)) as u32
            } else {
                // More was lost and the pipe is below ssthresh: catch up. The conservative
                // reduction bound (PRR-CRB: no more than was delivered) by default, one MSS
                // more per ACK (PRR-SSRB) when the ACK advanced SND.UNA and so shows the
                // repair progressing (RFC 9937 §4 "safeACK").
                let mut limit = p.delivered.saturating_sub(p.out).max(delivered);
                if advanced {
                    limit = limit.saturating_add(mss);
                }
                (ssthresh - pipe).min(limit)
            };
        } else if !first {
            return;
        }
        if p.out == 0 && sndcnt == 0 {
            // Force the fast retransmit on entering recovery (RFC 9937 §4; RFC 6675 §5 step
            // 4.2): the ACK that started recovery came before the first update, so its
            // delivery is not counted above.
            sndcnt = mss;
        }
        self.w.cwnd = pipe.saturating_add(sndcnt);
    }

    /// `len` bytes of data (new or retransmitted) went out: PRR's prr_out (RFC 6937 §3).
    pub fn on_send(&mut self, len: u32) {
        if let Some(p) = self.prr.as_mut() {
            p.out = p.out.saturating_add(len);
        }
    }

    /// An ECN echo (RFC 3168 §6.1.2): reduce the window as for a loss, but retransmit
    /// nothing; at most once per window (the caller checks) and never during a recovery,
    /// which has reduced it already.
    pub fn on_ecn_echo(&mut self, flight: u32, now: Instant) -> bool {
        if self.recover.is_some() {
            return false;
        }
        self.w.ssthresh = self.reduce(flight, now);
        self.w.cwnd = self.w.ssthresh;
        true
    }

    /// A retransmission went out: if it proves spurious, a D-SACK will say so.
    pub fn on_retransmit(&mut self) {
        if let Some((_, pending)) = &mut self.undo {
            *pending += 1;
        }
    }

    /// A D-SACK reported a duplicate. Once every retransmission since the last reduction
    /// came back as a duplicate, the reduction was for nothing: restore the window
    /// (spurious-retransmission undo, as in RFC 3708's D-SACK detection). Returns whether it
    /// undid a reduction.
    pub fn on_dsack(&mut self) -> bool {
        let Some((prior, pending)) = &mut self.undo else {
            return false;
        };
        *pending = pending.saturating_sub(1);
        if *pending > 0 {
            return false;
        }
        let prior = *prior;
        self.undo = None;
        self.w.cwnd = self.w.cwnd.max(prior.cwnd);
        self.w.ssthresh = self.w.ssthresh.max(prior.ssthresh);
        self.recover = None;
        self.sack_recovery = false;
        self.prr = None;
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
    pub fn on_ack(
        &mut self,
        acked: u32,
        ack: SeqNumber,
        flight: u32,
        now: Instant,
        srtt: Option<Duration>,
    ) -> RecoveryAction {
        self.dupacks = 0;
        if self.sack_recovery {
            // RFC 6675: the pipe estimate and PRR decide what is sent during recovery, which
            // ends when RecoveryPoint is acknowledged; the window is then ssthresh
            // (RFC 9937 §4).
            if self.recover.is_some_and(|r| ack >= r) {
                self.recover = None;
                self.sack_recovery = false;
                self.prr = None;
                self.w.cwnd = self.w.ssthresh;
            }
            return RecoveryAction::None;
        }
        if let Some(recover) = self.recover {
            if ack >= recover {
                // Full acknowledgement: deflate the window (RFC 6582 §3.2 step 3, option 1).
                let after = flight.saturating_sub(acked);
                self.w.cwnd = self.w.ssthresh.min(after.max(self.w.mss) + self.w.mss);
                self.recover = None;
                return RecoveryAction::None;
            }
            // Partial acknowledgement: retransmit the next hole, deflate by the amount acked,
            // add back one MSS if at least one MSS was acked. Never below one MSS (as BSD):
            // segments with options carry less than the MSS, so partial ACKs of whole
            // segments would otherwise deflate the window to nothing.
            self.w.cwnd = self.w.cwnd.saturating_sub(acked);
            if acked >= self.w.mss {
                self.w.cwnd = self.w.cwnd.saturating_add(self.w.mss);
            }
            self.w.cwnd = self.w.cwnd.max(self.w.mss);
            return RecoveryAction::RetransmitFirst;
        }
        if self.w.cwnd < self.w.ssthresh {
            // Slow start with ABC, L = 2 (RFC 3465 §2.2); grow only while the window is what
            // limits the sender (RFC 7661 §4.3), so that a receive-window-limited flow does
            // not build a window it never used.
            if flight.saturating_mul(2) >= self.w.cwnd {
                let mut grow = acked.min(2 * self.w.mss);
                if self.hystart.css.is_some() {
                    grow /= CSS_GROWTH_DIVISOR;
                }
                self.w.cwnd = self.w.cwnd.saturating_add(grow.max(1));
            }
        } else if flight.saturating_add(self.w.mss) >= self.w.cwnd {
            let mut w = self.w;
            self.algorithm.get().avoid(&mut w, acked, now, srtt);
            self.w = w;
        }
        RecoveryAction::None
    }

    /// A duplicate ACK arrived (NewReno, without SACK). `snd_una` is the cumulative ACK
    /// point, `snd_max` the highest sequence sent, `flight` the bytes outstanding.
    pub fn on_dupack(
        &mut self,
        snd_una: SeqNumber,
        snd_max: SeqNumber,
        flight: u32,
        now: Instant,
    ) -> RecoveryAction {
        self.dupacks = self.dupacks.saturating_add(1);
        if self.recover.is_some() {
            // Window inflation for each segment that left the network (RFC 5681 §3.2 step 4).
            self.w.cwnd = self.w.cwnd.saturating_add(self.w.mss);
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
        self.w.ssthresh = self.reduce(flight, now);
        self.w.cwnd = self
            .w
            .ssthresh
            .saturating_add(DUPACK_THRESHOLD * self.w.mss);
        self.recover = Some(snd_max);
        self.recover_guard = Some(snd_max);
        RecoveryAction::RetransmitFirst
    }

    /// The retransmission timer expired (RFC 5681 §3.1 eq. 4; loss window of one segment).
    ///
    /// An RTO in the middle of a fast recovery belongs to the loss episode that recovery
    /// already answered: ssthresh stays what that reduction set (it is no more than half the
    /// flight size, which is all RFC 5681 eq. 4 asks), so the episode costs one reduction,
    /// not two, and the undo record of that reduction stays, counting every retransmission
    /// since (as Linux keeps its undo state when an RTO interrupts recovery).
    pub fn on_rto(&mut self, snd_max: SeqNumber, flight: u32, first_backoff: bool, now: Instant) {
        if first_backoff && self.recover.is_none() {
            self.w.ssthresh = self.reduce(flight, now);
        }
        self.algorithm.get().on_timeout();
        self.w.cwnd = self.w.mss;
        self.dupacks = 0;
        self.recover = None;
        self.sack_recovery = false;
        self.prr = None;
        self.recover_guard = Some(snd_max);
    }

    /// After an idle period longer than the RTO, restart from the initial window
    /// (RFC 5681 §4.1).
    pub fn on_idle_restart(&mut self, iw: u32) {
        let restart = iw.saturating_mul(self.w.mss);
        self.w.cwnd = self.w.cwnd.min(restart);
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
        c.on_ack(1000, SeqNumber(1000), 10_000, Instant::ZERO, None);
        assert_eq!(c.window(), 11_000);
        let una = SeqNumber(1000);
        let max = SeqNumber(20_000);
        assert_eq!(
            c.on_dupack(una, max, 19_000, Instant::ZERO),
            RecoveryAction::None
        );
        assert_eq!(
            c.on_dupack(una, max, 19_000, Instant::ZERO),
            RecoveryAction::None
        );
        assert_eq!(
            c.on_dupack(una, max, 19_000, Instant::ZERO),
            RecoveryAction::RetransmitFirst
        );
        assert_eq!(c.ssthresh(), 9_500);
        assert_eq!(c.window(), 12_500);
        assert!(c.in_recovery());
        // Partial ACK: retransmit again.
        assert_eq!(
            c.on_ack(1000, SeqNumber(2000), 19_000, Instant::ZERO, None),
            RecoveryAction::RetransmitFirst
        );
        // Full ACK ends recovery with cwnd <= ssthresh.
        assert_eq!(
            c.on_ack(18_000, SeqNumber(20_000), 18_000, Instant::ZERO, None),
            RecoveryAction::None
        );
        assert!(!c.in_recovery());
        assert!(c.window() <= 9_500);
    }

    #[test]
    fn rto_collapses_window() {
        let mut c = Congestion::new(CongestionAlgorithm::NewReno, 1000, 10);
        c.on_rto(SeqNumber(10_000), 10_000, true, Instant::ZERO);
        assert_eq!(c.window(), 1000);
        assert_eq!(c.ssthresh(), 5000);
    }

    #[test]
    fn dsack_for_every_retransmission_undoes_the_reduction() {
        let mut c = Congestion::new(CongestionAlgorithm::NewReno, 1000, 10);
        let (una, max) = (SeqNumber(0), SeqNumber(10_000));
        assert!(c.enter_sack_recovery(una, max, 10_000, Instant::ZERO));
        assert_eq!(c.window(), 5000);
        c.on_retransmit();
        c.on_retransmit();
        assert!(!c.on_dsack(), "one retransmission still unexplained");
        assert!(c.on_dsack());
        assert_eq!(c.window(), 10_000);
        assert_eq!(c.ssthresh(), u32::MAX);
        assert!(!c.in_recovery());
    }

    #[test]
    fn prr_spreads_the_reduction_over_the_recovery_round_trip() {
        // RFC 6937 §3: 20 segments in flight, one lost; NewReno halves to 10. Each ACK that
        // reports one more segment delivered releases half a segment: one every second ACK.
        let mss = 1000;
        let mut c = Congestion::new(CongestionAlgorithm::NewReno, mss, 20);
        let una = SeqNumber(0);
        assert!(c.enter_sack_recovery(una, SeqNumber(20_000), 20_000, Instant::ZERO));
        assert_eq!(c.ssthresh(), 10_000);
        // The ACK that started recovery SACKed 3 segments: pipe = 20 - 3 - 1 lost = 16.
        let mut pipe = 16_000;
        let mut sacked = 3000;
        c.prr_update(pipe, una, sacked);
        // The fast retransmit goes at once (RFC 9937 §4, RFC 6675 §5 step 4.2).
        assert_eq!(c.window(), pipe + mss);
        c.on_send(mss);
        pipe += mss;
        // No further ACK: nothing more, however often the sender asks.
        c.prr_update(pipe, una, sacked);
        assert_eq!(c.window(), pipe);
        let mut sent = mss;
        for _ in 0..16 {
            sacked += mss;
            pipe -= mss;
            c.prr_update(pipe, una, sacked);
            while c.window() >= pipe + mss {
                c.on_send(mss);
                pipe += mss;
                sent += mss;
            }
        }
        // RecoverFS = 20 - 3 SACKed before = 17 segments; 16 delivered since: CEIL(16·10/17)
        // = 10 segments sent in all, the fast retransmit included.
        assert_eq!(sent, 10 * mss);
        assert!(
            pipe > c.ssthresh() - mss && pipe <= c.ssthresh() + mss,
            "pipe {pipe}"
        );
        // The retransmission is acknowledged: recovery ends at cwnd = ssthresh.
        c.on_ack(20_000, SeqNumber(20_000), 10_000, Instant::ZERO, None);
        assert!(!c.in_recovery());
        assert_eq!(c.window(), 10_000);
    }

    #[test]
    fn prr_catches_up_when_the_pipe_falls_below_ssthresh() {
        // Heavy loss: pipe far below ssthresh. PRR-CRB sends what was delivered; an ACK that
        // advances SND.UNA adds one MSS (PRR-SSRB), never past ssthresh.
        let mss = 1000;
        let mut c = Congestion::new(CongestionAlgorithm::NewReno, mss, 20);
        assert!(c.enter_sack_recovery(SeqNumber(0), SeqNumber(20_000), 20_000, Instant::ZERO));
        c.prr_update(2000, SeqNumber(0), 3000);
        c.on_send(mss);
        // A SACK of 2 more segments, SND.UNA unchanged: CRB, 2 segments.
        c.prr_update(2000, SeqNumber(0), 5000);
        assert_eq!(c.window(), 2000 + 2 * mss);
        c.on_send(2 * mss);
        // SND.UNA advances by one segment: SSRB, 1 + 1 segments.
        c.prr_update(3000, SeqNumber(1000), 5000);
        assert_eq!(c.window(), 3000 + 2 * mss);
    }

    #[test]
    fn rto_during_recovery_does_not_reduce_again() {
        let mss = 1000;
        let mut c = Congestion::new(CongestionAlgorithm::NewReno, mss, 20);
        assert!(c.enter_sack_recovery(SeqNumber(0), SeqNumber(20_000), 20_000, Instant::ZERO));
        assert_eq!(c.ssthresh(), 10_000);
        c.on_retransmit();
        c.on_rto(SeqNumber(20_000), 20_000, true, Instant::ZERO);
        assert_eq!(c.window(), mss);
        assert_eq!(c.ssthresh(), 10_000, "one loss episode, one reduction");
        // Go-back-N resends two segments; both come back as duplicates, but the first
        // retransmission (the real repair) does not: no undo.
        c.on_retransmit();
        c.on_retransmit();
        assert!(!c.on_dsack());
        assert!(!c.on_dsack());
        assert_eq!(c.ssthresh(), 10_000);
        // Outside recovery an RTO reduces as before.
        let mut c = Congestion::new(CongestionAlgorithm::NewReno, mss, 20);
        c.on_rto(SeqNumber(20_000), 20_000, true, Instant::ZERO);
        assert_eq!(c.ssthresh(), 10_000);
    }
}
