//! CUBIC congestion avoidance (RFC 9438), in integer arithmetic: windows in bytes, time in
//! milliseconds, C = 0.4 segments/s³, β = 0.7, fast convergence, and the Reno-friendly region.

use core::time::Duration;

use super::congestion::{CongestionControl, Window};
use crate::Instant;

/// β_cubic (RFC 9438 §4.6) as a fraction of 10.
const BETA_TENTHS: u64 = 7;
/// The cube of 1000 ms: (t - K)³ in ms³ divided by this is in s³.
const MS3_PER_S3: i128 = 1_000_000_000;

/// CUBIC state of one connection. Windows are bytes in 32 bits, as cwnd is; the arithmetic
/// is done in 64 and 128 bits.
#[derive(Debug, Clone, Default)]
pub struct Cubic {
    /// The start of the current congestion-avoidance epoch.
    epoch_start: Option<Instant>,
    /// W_max: the window just before the last reduction, bytes.
    w_max: u32,
    /// K: time from the epoch start until W_cubic reaches W_max again, ms.
    k_ms: u32,
    /// W_est: the Reno-friendly estimate (RFC 9438 §4.3), bytes.
    w_est: u32,
    /// cwnd_prior: the window when the last congestion event set ssthresh, bytes.
    cwnd_prior: u32,
}

/// `v` saturated to 32 bits.
fn sat32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Integer cube root (the largest r with r³ <= n).
fn cbrt(n: u128) -> u64 {
    let (mut lo, mut hi) = (0u64, 1u64 << 43);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        let m = u128::from(mid);
        if m * m * m <= n {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

impl Cubic {
    /// W_cubic(t) of RFC 9438 eq. 1 for `t_ms` since the epoch start, in bytes.
    fn w_cubic(&self, t_ms: u64, mss: u64) -> u64 {
        let d = i128::from(t_ms) - i128::from(self.k_ms);
        // C·(t-K)³ in segments = 0.4·d³/1e9; in bytes times MSS.
        let grow = 4 * d * d * d * i128::from(mss) / (10 * MS3_PER_S3);
        (i128::from(self.w_max) + grow).clamp(0, i128::from(u32::MAX)) as u64
    }
}

impl CongestionControl for Cubic {
    fn avoid(&mut self, w: &mut Window, acked: u32, now: Instant, srtt: Option<Duration>) {
        let mss = u64::from(w.mss);
        let cwnd = u64::from(w.cwnd);
        let epoch = match self.epoch_start {
            Some(e) => e,
            None => {
                // A new epoch (RFC 9438 §4.2): K from how far below W_max the window is.
                self.epoch_start = Some(now);
                if self.w_max <= w.cwnd {
                    self.w_max = w.cwnd;
                    self.k_ms = 0;
                } else {
                    // K = cbrt((W_max - cwnd) / C) seconds, with C = 0.4 segments/s³.
                    let segs_e9 =
                        u128::from(self.w_max - w.cwnd) * 25 * 100_000_000 / u128::from(mss);
                    self.k_ms = sat32(cbrt(segs_e9));
                }
                self.w_est = w.cwnd;
                now
            }
        };
        let rtt_ms = srtt.map_or(100, |d| d.as_millis() as u64);
        let t = now.saturating_duration_since(epoch).as_millis() as u64;
        // The target one RTT ahead, at most 1.5·cwnd (RFC 9438 §4.2).
        let target = self.w_cubic(t + rtt_ms, mss).clamp(cwnd, cwnd + cwnd / 2);
        // Reno-friendly estimate (RFC 9438 §4.3): α = 3(1-β)/(1+β) segments per RTT until
        // W_est is back at cwnd_prior, then 1, Reno's own rate.
        let (alpha_num, alpha_den) = if self.w_est >= self.cwnd_prior {
            (1, 1)
        } else {
            (3 * (10 - BETA_TENTHS), 10 + BETA_TENTHS)
        };
        let w_est =
            u64::from(self.w_est) + alpha_num * mss * u64::from(acked) / (alpha_den * cwnd.max(1));
        self.w_est = sat32(w_est);
        let next = if self.w_cubic(t, mss) < w_est {
            w_est.max(cwnd)
        } else {
            // Concave or convex region: close (target - cwnd) over one window of ACKs.
            cwnd + (target - cwnd) * u64::from(acked) / cwnd.max(1)
        };
        w.cwnd = next.min(u64::from(u32::MAX)) as u32;
    }

    fn on_congestion_event(&mut self, w: &Window, _flight: u32, _now: Instant) -> u32 {
        let cwnd = u64::from(w.cwnd);
        // Fast convergence (RFC 9438 §4.7): release bandwidth when the window did not reach
        // the previous W_max.
        self.w_max = if w.cwnd < self.w_max {
            sat32(cwnd * (10 + BETA_TENTHS) / 20)
        } else {
            w.cwnd
        };
        self.epoch_start = None;
        self.cwnd_prior = w.cwnd;
        let reduced = cwnd * BETA_TENTHS / 10;
        reduced.max(2 * u64::from(w.mss)).min(u64::from(u32::MAX)) as u32
    }

    fn on_timeout(&mut self) {
        self.epoch_start = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_cube_root() {
        assert_eq!(cbrt(0), 0);
        assert_eq!(cbrt(26), 2);
        assert_eq!(cbrt(27), 3);
        assert_eq!(cbrt(1_000_000_000), 1000);
        assert_eq!(cbrt(u128::from(u64::MAX)), 2_642_245);
    }

    #[test]
    fn window_returns_to_w_max_after_k() {
        let mss = 1000u32;
        let mut c = Cubic::default();
        let mut w = Window {
            cwnd: 100_000,
            ssthresh: u32::MAX,
            mss,
        };
        let ss = c.on_congestion_event(&w, 100_000, Instant::ZERO);
        assert_eq!(ss, 70_000);
        w.cwnd = ss;
        w.ssthresh = ss;
        // K = cbrt(30 segments / 0.4) s = cbrt(75) s ≈ 4.217 s.
        let rtt = Duration::from_millis(100);
        let mut now = Instant::ZERO;
        c.avoid(&mut w, mss, now, Some(rtt));
        assert!((4200..=4230).contains(&c.k_ms), "K = {} ms", c.k_ms);
        // Feed one window of ACKs per RTT for 4.3 s: the window is back near W_max,
        // concave on the way (growth slows as it approaches).
        let mut last_growth = u32::MAX;
        for step in 0..43 {
            let before = w.cwnd;
            let acks = w.cwnd / mss;
            for _ in 0..acks {
                c.avoid(&mut w, mss, now, Some(rtt));
            }
            now = now + rtt;
            if step > 5 && step < 38 {
                assert!(
                    w.cwnd - before <= last_growth.saturating_add(mss),
                    "concave"
                );
            }
            last_growth = w.cwnd - before;
        }
        assert!((95_000..=106_000).contains(&w.cwnd), "cwnd {}", w.cwnd);
    }

    #[test]
    fn reno_friendly_estimate_grows_at_renos_rate_once_back_at_cwnd_prior() {
        // RFC 9438 §4.3: W_est grows by α = 3(1-β)/(1+β) ≈ 0.53 segments per window of ACKs
        // until it reaches cwnd_prior, then by 1. A tiny window at a short RTT keeps CUBIC in
        // the Reno-friendly region.
        let mss = 1000u32;
        let mut c = Cubic::default();
        let mut w = Window {
            cwnd: 10_000,
            ssthresh: u32::MAX,
            mss,
        };
        w.cwnd = c.on_congestion_event(&w, 10_000, Instant::ZERO);
        assert_eq!(w.cwnd, 7000);
        let rtt = Duration::from_millis(10);
        let mut now = Instant::ZERO;
        let mut per_rtt = alloc::vec::Vec::new();
        for _ in 0..12 {
            let before = w.cwnd;
            for _ in 0..w.cwnd / mss {
                c.avoid(&mut w, mss, now, Some(rtt));
            }
            now = now + rtt;
            per_rtt.push(w.cwnd - before);
        }
        // Below cwnd_prior (10 segments): about half a segment per round trip.
        assert!(
            per_rtt[..4].iter().all(|&g| (400..=600).contains(&g)),
            "{per_rtt:?}"
        );
        // Past it: a whole segment per round trip.
        assert!(
            per_rtt[9..].iter().all(|&g| (900..=1100).contains(&g)),
            "{per_rtt:?}"
        );
    }
}
