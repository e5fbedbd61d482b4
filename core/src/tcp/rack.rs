//! RACK (RFC 8985 §6): time-based loss detection. A segment is lost when a segment sent
//! after it has been delivered and more than one RTT plus a reordering window has passed
//! since it was sent. Unlike duplicate-ACK counting this also finds lost retransmissions.

use alloc::collections::VecDeque;
use core::time::Duration;

use super::rtt::{from_us, rtt_us, NO_RTT};
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
#[derive(Debug, Clone)]
pub struct Rack {
    /// Segments between SND.UNA and SND.MAX, in sequence order.
    sent: VecDeque<Sent>,
    /// RACK.xmit_ts / RACK.end_seq: the most recently sent segment known delivered.
    newest: Option<(Instant, SeqNumber)>,
    /// RACK.rtt: the RTT of that segment, µs (kept in 32 bits, like the other RTTs of a
    /// connection, to keep its state small).
    rtt_us: u32,
    /// The smallest RTT seen (RACK.min_RTT), µs; `NO_RTT` before the first.
    min_rtt_us: u32,
    /// RACK.fack: the highest end of any segment known delivered.
    fack: Option<SeqNumber>,
    /// RACK.reordering_seen: a segment never sent twice was delivered below RACK.fack.
    reordering_seen: bool,
    /// RACK.segs_sacked: tracked segments SACKed and not yet cumulatively acknowledged.
    segs_sacked: u32,
}

/// DupThresh (RFC 6675 §2), which RFC 8985 §6.2 step 4 uses as the SACKed-segment count
/// beyond which the reordering window is zero until reordering has been seen.
const DUP_THRESH: u32 = super::sack::DUP_THRESH;

impl Default for Rack {
    fn default() -> Rack {
        Rack {
            sent: VecDeque::new(),
            newest: None,
            rtt_us: 0,
            min_rtt_us: NO_RTT,
            fack: None,
            reordering_seen: false,
            segs_sacked: 0,
        }
    }
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
            self.segs_sacked = 0;
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
        self.fack = None;
        self.segs_sacked = 0;
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
        let mut rtt = self.rtt_us;
        let mut min_rtt = self.min_rtt_us;
        // RFC 8985 §6.2 step 3: a segment never retransmitted that is delivered below the
        // highest delivered sequence (as known before this ACK) was reordered.
        let fack_before = self.fack;
        let mut fack = self.fack;
        let mut reordered = false;
        let mut note = |s: &Sent| {
            if !s.retransmitted && fack_before.is_some_and(|f| s.end < f) {
                reordered = true;
            }
            fack = Some(fack.map_or(s.end, |f| f.max(s.end)));
            let sample = rtt_us(now.saturating_duration_since(s.xmit));
            // A retransmission's sample is ambiguous unless it is at least min_RTT
            // (RFC 8985 §6.2 step 2: the ACK cannot be for the original then).
            if s.retransmitted && min_rtt != NO_RTT && sample < min_rtt {
                return;
            }
            min_rtt = min_rtt.min(sample);
            if newest.is_none_or(|(t, e)| s.xmit > t || (s.xmit == t && s.end > e)) {
                newest = Some((s.xmit, s.end));
                rtt = sample;
            }
        };
        while let Some(front) = self.sent.front() {
            if front.end > snd_una {
                break;
            }
            if front.delivered {
                self.segs_sacked = self.segs_sacked.saturating_sub(1);
            } else {
                note(front);
            }
            self.sent.pop_front();
        }
        for s in self.sent.iter_mut() {
            if !s.delivered && sacked(s.start, s.end) {
                s.delivered = true;
                s.lost = false;
                self.segs_sacked += 1;
                note(s);
            }
        }
        self.newest = newest;
        self.rtt_us = rtt;
        self.min_rtt_us = min_rtt;
        self.fack = fack;
        self.reordering_seen |= reordered;
    }

    /// RFC 8985 §6.2 step 5: marks segments sent before the newest delivered one and older
    /// than RACK.rtt + the reordering window as lost. Returns whether any was newly marked,
    /// and when the next one will be due (the reordering timer).
    pub fn detect_loss(&mut self, now: Instant) -> (bool, Option<Instant>) {
        let Some((newest, newest_end)) = self.newest else {
            return (false, None);
        };
        // RACK.reo_wnd (RFC 8985 §6.2 step 4): zero while no reordering has been seen and
        // DupThresh segments are SACKed (the duplicate-ACK rule would count the first hole
        // lost already; recovery is under way or about to start), else min_RTT / 4, never
        // more than the RTT itself. (The D-SACK-driven growth of the window is not done:
        // a spurious retransmission is undone through D-SACK instead.)
        let reo_wnd = if !self.reordering_seen && self.segs_sacked >= DUP_THRESH {
            Duration::ZERO
        } else {
            let min_rtt = if self.min_rtt_us == NO_RTT {
                0
            } else {
                self.min_rtt_us
            };
            from_us((min_rtt / 4).min(self.rtt_us))
        };
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
            let due = s.xmit + from_us(self.rtt_us) + reo_wnd;
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

    /// If the segment holding `seq` was retransmitted, is neither judged lost since nor
    /// SACKed, that retransmission is still in flight: where the segment ends.
    pub fn resent_in_flight_at(&self, seq: SeqNumber) -> Option<SeqNumber> {
        let i = self.sent.partition_point(|s| s.end <= seq);
        self.sent
            .get(i)
            .filter(|s| s.start <= seq && s.retransmitted && !s.lost && !s.delivered)
            .map(|s| s.end)
    }

    /// The retransmitted segments still in flight (neither judged lost since nor SACKed), as
    /// (start, end), lowest first.
    pub fn resent_in_flight(&self) -> impl Iterator<Item = (SeqNumber, SeqNumber)> + '_ {
        self.sent
            .iter()
            .filter(|s| s.retransmitted && !s.lost && !s.delivered)
            .map(|s| (s.start, s.end))
    }

    /// The segments judged lost and not sent again since, as (start, end), lowest first.
    pub fn lost(&self) -> impl Iterator<Item = (SeqNumber, SeqNumber)> + '_ {
        self.sent
            .iter()
            .filter(|s| s.lost)
            .map(|s| (s.start, s.end))
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

    #[test]
    fn reordering_window_is_zero_until_reordering_is_seen() {
        // RFC 8985 §6.2 step 4: with DupThresh segments SACKed and no reordering seen, a
        // segment is lost one RACK.rtt after it was sent, without the min_RTT/4 allowance.
        let mut r = Rack::default();
        for i in 0..8u32 {
            r.on_send(
                SeqNumber(i * 100),
                SeqNumber(i * 100 + 100),
                ms(u64::from(i)),
            );
        }
        // Segment 1 missing, 2..=5 SACKed at 50 ms: RACK.rtt = 45 ms, segment 1 due at 46 ms.
        r.on_ack(SeqNumber(100), |s, _| s.0 >= 200 && s.0 < 600, ms(50));
        let (lost, _) = r.detect_loss(ms(50));
        assert!(lost);
        assert_eq!(r.first_lost(), Some((SeqNumber(100), SeqNumber(200))));
        // Segment 1 turns up after all (never retransmitted, below the highest delivered):
        // reordering. From now on the window is min_RTT / 4 again.
        r.on_ack(SeqNumber(600), |_, _| false, ms(52));
        assert!(r.reordering_seen);
        r.on_ack(SeqNumber(600), |s, _| s.0 == 700, ms(60));
        // RACK.rtt = 60 - 7 = 53 ms, min_RTT 45 ms: segment 6 (sent at 6 ms) is due at
        // 6 + 53 + 11.25 ms.
        let (lost, timer) = r.detect_loss(ms(60));
        assert!(!lost);
        assert_eq!(timer, Some(Instant::from_micros(70_250)));
    }

    #[test]
    fn a_retransmission_in_flight_is_known_until_judged_lost_or_delivered() {
        let mut r = Rack::default();
        for i in 0..4u32 {
            r.on_send(
                SeqNumber(i * 100),
                SeqNumber(i * 100 + 100),
                ms(u64::from(i)),
            );
        }
        assert_eq!(r.resent_in_flight_at(SeqNumber(150)), None);
        r.on_retransmit(SeqNumber(100), SeqNumber(200), ms(10));
        assert_eq!(r.resent_in_flight_at(SeqNumber(150)), Some(SeqNumber(200)));
        assert_eq!(r.resent_in_flight_at(SeqNumber(250)), None);
        assert_eq!(
            r.resent_in_flight().collect::<alloc::vec::Vec<_>>(),
            [(SeqNumber(100), SeqNumber(200))]
        );
        // Segment 3, sent after the retransmission, is SACKed much later: the retransmission
        // is judged lost and no longer in flight.
        r.on_send(SeqNumber(400), SeqNumber(500), ms(11));
        r.on_ack(SeqNumber(0), |s, _| s.0 == 400, ms(100));
        r.detect_loss(ms(200));
        assert_eq!(r.resent_in_flight_at(SeqNumber(150)), None);
        assert_eq!(r.first_lost(), Some((SeqNumber(0), SeqNumber(100))));
    }
}
