//! Round-trip time estimation and the retransmission timeout (RFC 6298).

use core::time::Duration;

use super::seq::SeqNumber;
use crate::time::Deadline;
use crate::Instant;

/// Smoothed RTT, RTT variance and RTO (RFC 6298 §2), with Karn's rule (§3) applied by timing
/// only segments that were never retransmitted.
///
/// Kept in microseconds in 32 bits (up to 71 minutes, far past any RTO bound): every
/// connection holds one, and a million idle connections are a target.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    srtt_us: u32,
    rttvar_us: u32,
    rto_us: u32,
    min_us: u32,
    max_us: u32,
    /// The last sample taken and not yet read by [`RttEstimator::take_latest`]; `NO_SAMPLE`
    /// when none.
    latest_us: u32,
    /// The segment being timed: the sequence number whose acknowledgement ends the sample,
    /// and when it was sent (none when nothing is timed).
    timed_end: SeqNumber,
    timed_at: Deadline,
    /// Consecutive backoffs (RFC 6298 §5.5).
    backoff: u32,
    has_sample: bool,
}

/// Clock granularity G of RFC 6298 §2: the core's clock is nanoseconds, but take 1 ms so that
/// the variance term never collapses to nothing.
const GRANULARITY_US: u64 = 1_000;

/// A 32-bit microsecond RTT field that holds no value yet (the connection's RTT state —
/// this estimator, RACK, HyStart — is kept in 32-bit microseconds to keep it small).
pub(crate) const NO_RTT: u32 = u32::MAX;

/// `latest_us` when no sample is waiting.
const NO_SAMPLE: u32 = NO_RTT;

/// `d` in whole microseconds, saturated below [`NO_RTT`].
pub(crate) fn rtt_us(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).map_or(NO_RTT - 1, |v| v.min(NO_RTT - 1))
}

/// A 32-bit microsecond field as a duration.
pub(crate) fn from_us(v: u32) -> Duration {
    Duration::from_micros(u64::from(v))
}

impl RttEstimator {
    /// A fresh estimator with the initial RTO (RFC 6298 §2.1).
    pub fn new(initial: Duration, min: Duration, max: Duration) -> RttEstimator {
        let (min_us, max_us) = (rtt_us(min), rtt_us(max).max(rtt_us(min)));
        RttEstimator {
            srtt_us: 0,
            rttvar_us: 0,
            rto_us: rtt_us(initial).clamp(min_us, max_us),
            min_us,
            max_us,
            latest_us: NO_SAMPLE,
            timed_end: SeqNumber(0),
            timed_at: Deadline::NONE,
            backoff: 0,
            has_sample: false,
        }
    }

    /// Starts timing the segment that ends at `end` if none is being timed.
    pub fn start_timing(&mut self, end: SeqNumber, now: Instant) {
        if self.timed_at.is_none() {
            self.timed_end = end;
            self.timed_at = Deadline::at(now);
        }
    }

    /// Karn's rule: a retransmission makes the running sample ambiguous.
    pub fn cancel_timing(&mut self) {
        self.timed_at = Deadline::NONE;
    }

    /// An acknowledgement up to `ack` arrived at `now`: take a sample if it covers the timed
    /// segment. Returns whether a sample was taken.
    pub fn on_ack(&mut self, ack: SeqNumber, now: Instant) -> bool {
        match self.timed_at.get() {
            Some(sent) if ack >= self.timed_end => {
                self.timed_at = Deadline::NONE;
                self.sample(now.saturating_duration_since(sent));
                true
            }
            _ => false,
        }
    }

    /// Feeds one RTT measurement (RFC 6298 §2.2 and §2.3).
    pub fn sample(&mut self, rtt: Duration) {
        let r = rtt_us(rtt);
        self.latest_us = r;
        if !self.has_sample {
            self.srtt_us = r;
            self.rttvar_us = r / 2;
            self.has_sample = true;
        } else {
            let (srtt, rttvar, r) = (
                u64::from(self.srtt_us),
                u64::from(self.rttvar_us),
                u64::from(r),
            );
            // Both averages stay within the range of their inputs, so they fit in 32 bits.
            self.rttvar_us = ((3 * rttvar + srtt.abs_diff(r)) / 4) as u32;
            self.srtt_us = ((7 * srtt + r) / 8) as u32;
        }
        // RFC 6298 §2.3 with the variance term floored at the minimum RTO, as Linux does
        // (tcp_set_rto): with a sample from every ACK (RFC 7323 §4) RTTVAR shrinks towards
        // zero on a steady path, and SRTT + 4·RTTVAR alone would fire spuriously as soon as a
        // queue (our own slow start's, for one) delays a retransmission by a little.
        let variance = (4 * u64::from(self.rttvar_us))
            .max(GRANULARITY_US)
            .max(u64::from(self.min_us));
        let rto = u64::from(self.srtt_us) + variance;
        self.rto_us = rto.clamp(u64::from(self.min_us), u64::from(self.max_us)) as u32;
        self.backoff = 0;
    }

    /// The RTO timer expired: back off (RFC 6298 §5.5).
    pub fn on_timeout(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
        self.timed_at = Deadline::NONE;
    }

    /// New data was acknowledged: the backoff ends (RFC 6298 §5.7 keeps the RTO until a sample,
    /// but a fresh ACK proves the path works; Linux does the same).
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// The current RTO including backoff.
    pub fn rto(&self) -> Duration {
        let shift = self.backoff.min(30);
        let rto = u64::from(self.rto_us) << shift;
        Duration::from_micros(rto.min(u64::from(self.max_us)))
    }

    /// Takes the sample taken since the last call, if any.
    pub fn take_latest(&mut self) -> Option<Duration> {
        let latest = core::mem::replace(&mut self.latest_us, NO_SAMPLE);
        (latest != NO_SAMPLE).then(|| from_us(latest))
    }

    /// The smoothed RTT, if any sample was taken.
    pub fn srtt(&self) -> Option<Duration> {
        self.has_sample.then(|| from_us(self.srtt_us))
    }

    /// The RTT variance.
    pub fn rttvar(&self) -> Duration {
        from_us(self.rttvar_us)
    }

    /// Consecutive backoffs.
    pub fn backoff(&self) -> u32 {
        self.backoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6298_first_and_later_samples() {
        let mut r = RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(60),
        );
        assert_eq!(r.rto(), Duration::from_secs(1));
        r.sample(Duration::from_millis(100));
        // SRTT = 100 ms, RTTVAR = 50 ms, RTO = 100 + 4*50 = 300 ms.
        assert_eq!(r.rto(), Duration::from_millis(300));
        r.sample(Duration::from_millis(100));
        // RTTVAR = 3/4*50 + 0 = 37.5 ms; 4*RTTVAR = 150 ms is below the 200 ms floor, so
        // RTO = 100 + 200 = 300 ms.
        assert_eq!(r.rto(), Duration::from_millis(300));
        r.on_timeout();
        assert_eq!(r.rto(), Duration::from_millis(600));
    }

    /// A steady path sampled on every ACK: RTTVAR decays to nothing, but the RTO stays a
    /// minimum RTO above SRTT instead of collapsing onto it.
    #[test]
    fn steady_samples_keep_the_rto_above_srtt() {
        let mut r = RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(60),
        );
        for _ in 0..200 {
            r.sample(Duration::from_millis(400));
        }
        assert!(r.rttvar() < Duration::from_millis(1));
        assert_eq!(r.rto(), Duration::from_millis(600));
    }

    #[test]
    fn karn_ignores_retransmitted() {
        let mut r = RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(60),
        );
        r.start_timing(SeqNumber(100), Instant::from_millis(0));
        r.cancel_timing();
        assert!(!r.on_ack(SeqNumber(100), Instant::from_millis(50)));
        assert!(r.srtt().is_none());
    }
}
