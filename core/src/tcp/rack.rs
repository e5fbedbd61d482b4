//! RACK (RFC 8985 §6): time-based loss detection. A segment is lost when a segment sent
//! after it has been delivered and more than one RTT plus a reordering window has passed
//! since it was sent. Unlike duplicate-ACK counting this also finds lost retransmissions.

use alloc::collections::VecDeque;
use core::time::Duration;

use super::seq::SeqNumber;
use crate::Instant;

/// One transmitted segment still in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    start: SeqNumber,
    end: SeqNumber,
    /// When it was (last) sent.
    xmit: Instant,
    retransmitted: bool,
    /// SACKed by the receiver.
    delivered: bool,
    /// Judged lost and not sent again since.
    lost: bool,
}

/// The RACK state of one connection.
#[derive(Debug, Clone, Default)]
pub struct Rack {
    /// Segments between SND.UNA and SND.MAX, in sequence order.
    sent: VecDeque<Sent>,
    /// RACK.xmit_ts / RACK.end_seq: the most recently sent segment known delivered.
    newest: Option<(Instant, SeqNumber)>,
    /// RACK.rtt: the RTT of that segment.
    rtt: Duration,
    /// The smallest RTT seen (RACK.min_RTT).
    min_rtt: Option<Duration>,
}

/// The most segments tracked; beyond this RACK simply stops tracking new ones until the
/// window drains (duplicate-ACK detection and the RTO still work).
const MAX_TRACKED: usize = 1 << 16;

impl Rack {
    /// New data `[start, end)` went out at `now`.
    pub fn on_send(&mut self, start: SeqNumber, end: SeqNumber, now: Instant) {
        if start >= end || self.sent.len() >= MAX_TRACKED {
            return;
        }
        if self.sent.back().is_some_and(|s| s.end != start) {
            // A gap (after an RTO rewound SND.NXT): tracking restarts from here.
            self.sent.clear();
        }
        self.sent.push_back(Sent {
            start,
            end,
            xmit: now,
            retransmitted: false,
            delivered: false,
            lost: false,
        });
    }

    /// `[start, end)` was sent again at `now`.
    pub fn on_retransmit(&mut self, start: SeqNumber, end: SeqNumber, now: Instant) {
        for s in self
            .sent
            .iter_mut()
            .filter(|s| s.end > start && s.start < end)
        {
            s.xmit = now;
            s.retransmitted = true;
            s.lost = false;
        }
    }

    /// Forgets everything (after an RTO the go-back-N resend starts anew).
    pub fn clear(&mut self) {
        self.sent.clear();
        self.newest = None;
    }

    /// An ACK moved SND.UNA to `snd_una` and the scoreboard says what is SACKed
    /// (`sacked(start, end)`): update RACK.xmit_ts and RACK.rtt from what was delivered
    /// (RFC 8985 §6.2 steps 1–2). `srtt` guards against ambiguous samples of retransmissions.
    pub fn on_ack(
        &mut self,
        snd_una: SeqNumber,
        sacked: impl Fn(SeqNumber, SeqNumber) -> bool,
        now: Instant,
    ) {
        let mut newest = self.newest;
        let mut rtt = self.rtt;
        let mut min_rtt = self.min_rtt;
        let mut note = |s: &Sent| {
            let sample = now.saturating_duration_since(s.xmit);
            // A retransmission's sample is ambiguous unless it is at least min_RTT
            // (RFC 8985 §6.2 step 2: the ACK cannot be for the original then).
            if s.retransmitted && min_rtt.is_some_and(|m| sample < m) {
                return;
            }
            min_rtt = Some(min_rtt.map_or(sample, |m| m.min(sample)));
            if newest.is_none_or(|(t, e)| s.xmit > t || (s.xmit == t && s.end > e)) {
                newest = Some((s.xmit, s.end));
                rtt = sample;
            }
        };
        while let Some(front) = self.sent.front() {
            if front.end > snd_una {
                break;
            }
            if !front.delivered {
                note(front);
            }
            self.sent.pop_front();
        }
        for s in self.sent.iter_mut() {
            if !s.delivered && sacked(s.start, s.end) {
                s.delivered = true;
                s.lost = false;
                note(s);
            }
        }
        self.newest = newest;
        self.rtt = rtt;
        self.min_rtt = min_rtt;
    }

    /// RFC 8985 §6.2 step 5: marks segments sent before the newest delivered one and older
    /// than RACK.rtt + the reordering window as lost. Returns whether any was newly marked,
    /// and when the next one will be due (the reordering timer).
    pub fn detect_loss(&mut self, now: Instant) -> (bool, Option<Instant>) {
        let Some((newest, newest_end)) = self.newest else {
            return (false, None);
        };
        // RACK.reo_wnd = min_RTT / 4 (§6.2.4), never more than the RTT itself.
        let reo_wnd = self.min_rtt.map_or(Duration::ZERO, |m| m / 4).min(self.rtt);
        let mut marked = false;
        let mut timer: Option<Instant> = None;
        for s in self.sent.iter_mut() {
            if s.delivered || s.lost {
                continue;
            }
            let before = s.xmit < newest || (s.xmit == newest && s.end <= newest_end);
            if !before {
                continue;
            }
            let due = s.xmit + self.rtt + reo_wnd;
            if due <= now {
                s.lost = true;
                marked = true;
            } else {
                timer = Some(timer.map_or(due, |t: Instant| t.min(due)));
            }
        }
        (marked, timer)
    }

    /// Where the last segment sent starts, if any is tracked.
    pub fn last_start(&self) -> Option<SeqNumber> {
        self.sent.back().map(|s| s.start)
    }

    /// Bytes judged lost and not sent again since.
    pub fn lost_bytes(&self) -> u32 {
        self.sent
            .iter()
            .filter(|s| s.lost)
            .map(|s| s.end.since(s.start))
            .sum()
    }

    /// The first segment judged lost and not sent again since, as (start, end).
    pub fn first_lost(&self) -> Option<(SeqNumber, SeqNumber)> {
        self.sent.iter().find(|s| s.lost).map(|s| (s.start, s.end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn later_delivery_marks_earlier_segment_lost_after_rtt_plus_window() {
        let mut r = Rack::default();
        for i in 0..4u32 {
            r.on_send(
                SeqNumber(i * 100),
                SeqNumber(i * 100 + 100),
                ms(u64::from(i)),
            );
        }
        // At 50 ms segments 2 and 3 are SACKed; segment 1 (sent at 1 ms) is not, and
        // segment 0 is cumulatively acknowledged.
        let sacked = |s: SeqNumber, _e: SeqNumber| s.0 >= 200;
        r.on_ack(SeqNumber(100), sacked, ms(50));
        // RACK.rtt = 50 - 3 = 47 ms; min RTT 47 ms, window 11.75 ms: due at 1 + 58.75.
        let (lost, timer) = r.detect_loss(ms(50));
        assert!(!lost);
        assert_eq!(timer, Some(Instant::from_micros(59_750)));
        let (lost, _) = r.detect_loss(ms(60));
        assert!(lost);
        assert_eq!(r.first_lost(), Some((SeqNumber(100), SeqNumber(200))));
        // Retransmitted: no longer lost; if the retransmission is lost too, a later
        // delivery marks it again.
        r.on_retransmit(SeqNumber(100), SeqNumber(200), ms(60));
        assert_eq!(r.first_lost(), None);
        r.on_send(SeqNumber(400), SeqNumber(500), ms(61));
        r.on_ack(SeqNumber(100), |s, _| s.0 >= 200, ms(110));
        let (lost, _) = r.detect_loss(ms(200));
        assert!(lost, "the lost retransmission is detected");
    }
}
