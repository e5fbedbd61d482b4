//! Round-trip time estimation and the retransmission timeout (RFC 6298).

use core::time::Duration;

use super::seq::SeqNumber;
use crate::Instant;

/// Smoothed RTT, RTT variance and RTO (RFC 6298 §2), with Karn's rule (§3) applied by timing
/// only segments that were never retransmitted.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    srtt_ns: u64,
    rttvar_ns: u64,
    rto_ns: u64,
    min_ns: u64,
    max_ns: u64,
    has_sample: bool,
    /// The segment being timed: the sequence number whose acknowledgement ends the sample.
    timed: Option<(SeqNumber, Instant)>,
    /// Consecutive backoffs (RFC 6298 §5.5).
    backoff: u32,
    /// The last sample taken.
    latest: Option<Duration>,
}

/// Clock granularity G of RFC 6298 §2: the core's clock is nanoseconds, but take 1 ms so that
/// the variance term never collapses to nothing.
const GRANULARITY_NS: u64 = 1_000_000;

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl RttEstimator {
    /// A fresh estimator with the initial RTO (RFC 6298 §2.1).
    pub fn new(initial: Duration, min: Duration, max: Duration) -> RttEstimator {
        RttEstimator {
            srtt_ns: 0,
            rttvar_ns: 0,
            rto_ns: ns(initial).clamp(ns(min), ns(max).max(ns(min))),
            min_ns: ns(min),
            max_ns: ns(max).max(ns(min)),
            has_sample: false,
            timed: None,
            backoff: 0,
            latest: None,
        }
    }

    /// Starts timing the segment that ends at `end` if none is being timed.
    pub fn start_timing(&mut self, end: SeqNumber, now: Instant) {
        if self.timed.is_none() {
            self.timed = Some((end, now));
        }
    }

    /// Karn's rule: a retransmission makes the running sample ambiguous.
    pub fn cancel_timing(&mut self) {
        self.timed = None;
    }

    /// An acknowledgement up to `ack` arrived at `now`: take a sample if it covers the timed
    /// segment. Returns whether a sample was taken.
    pub fn on_ack(&mut self, ack: SeqNumber, now: Instant) -> bool {
        match self.timed {
            Some((end, sent)) if ack >= end => {
                self.timed = None;
                self.sample(now.saturating_duration_since(sent));
                true
            }
            _ => false,
        }
    }

    /// Feeds one RTT measurement (RFC 6298 §2.2 and §2.3).
    pub fn sample(&mut self, rtt: Duration) {
        self.latest = Some(rtt);
        let r = ns(rtt);
        if !self.has_sample {
            self.srtt_ns = r;
            self.rttvar_ns = r / 2;
            self.has_sample = true;
        } else {
            let delta = self.srtt_ns.abs_diff(r);
            self.rttvar_ns = (3 * self.rttvar_ns + delta) / 4;
            self.srtt_ns = (7 * self.srtt_ns + r) / 8;
        }
        let rto = self
            .srtt_ns
            .saturating_add(GRANULARITY_NS.max(self.rttvar_ns.saturating_mul(4)));
        self.rto_ns = rto.clamp(self.min_ns, self.max_ns);
        self.backoff = 0;
    }

    /// The RTO timer expired: back off (RFC 6298 §5.5).
    pub fn on_timeout(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
        self.timed = None;
    }

    /// New data was acknowledged: the backoff ends (RFC 6298 §5.7 keeps the RTO until a sample,
    /// but a fresh ACK proves the path works; Linux does the same).
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// The current RTO including backoff.
    pub fn rto(&self) -> Duration {
        let shift = self.backoff.min(30);
        Duration::from_nanos(self.rto_ns.saturating_mul(1u64 << shift).min(self.max_ns))
    }

    /// Takes the sample taken since the last call, if any.
    pub fn take_latest(&mut self) -> Option<Duration> {
        self.latest.take()
    }

    /// The smoothed RTT, if any sample was taken.
    pub fn srtt(&self) -> Option<Duration> {
        self.has_sample.then(|| Duration::from_nanos(self.srtt_ns))
    }

    /// The RTT variance.
    pub fn rttvar(&self) -> Duration {
        Duration::from_nanos(self.rttvar_ns)
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
        // RTTVAR = 3/4*50 + 0 = 37.5 ms; RTO = 100 + 150 = 250 ms.
        assert_eq!(r.rto(), Duration::from_micros(250_000));
        r.on_timeout();
        assert_eq!(r.rto(), Duration::from_millis(500));
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
