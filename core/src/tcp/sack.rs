//! Selective acknowledgements: the blocks a receiver reports (RFC 2018 §4, D-SACK per
//! RFC 2883) and the sender's scoreboard with the loss-recovery queries of RFC 6675
//! (`IsLost`, `SetPipe`, `NextSeg`).

use alloc::vec::Vec;

use super::seq::SeqNumber;
use crate::wire::SackBlock;

/// The most SACKed ranges the scoreboard keeps; beyond this the lowest ones merge away.
pub const MAX_SCOREBOARD_RANGES: usize = 64;

/// Duplicate-ACK threshold of RFC 6675 §2 ("DupThresh").
pub const DUP_THRESH: u32 = 3;

/// What the receiver has told us it holds above SND.UNA, and where this recovery stands.
#[derive(Debug, Clone, Default)]
pub struct Scoreboard {
    /// Disjoint SACKed ranges above SND.UNA, in sequence order.
    ranges: Vec<(SeqNumber, SeqNumber)>,
    /// RFC 6675 "HighRxt": the highest sequence number retransmitted in this recovery.
    pub high_rxt: SeqNumber,
}

impl Scoreboard {
    /// Whether the peer has SACKed anything we still hold.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The SACKed ranges, lowest first.
    pub fn ranges(&self) -> &[(SeqNumber, SeqNumber)] {
        &self.ranges
    }

    /// Forgets everything (after an RTO the receiver may have reneged, RFC 2018 §8).
    pub fn clear(&mut self) {
        self.ranges.clear();
    }

    /// Merges the blocks of one ACK. Blocks outside (`snd_una`, `snd_max`] or with
    /// left >= right are ignored; a block at or below `snd_una` is a D-SACK (RFC 2883 §4).
    /// Returns (new bytes SACKed, whether a D-SACK was seen).
    pub fn update(
        &mut self,
        blocks: &[SackBlock],
        snd_una: SeqNumber,
        snd_max: SeqNumber,
    ) -> (u32, bool) {
        let mut newly = 0;
        let mut dsack = false;
        for (i, b) in blocks.iter().enumerate() {
            let (left, right) = (SeqNumber(b.left), SeqNumber(b.right));
            if left >= right {
                continue;
            }
            if right <= snd_una {
                dsack = true;
                continue;
            }
            // RFC 2883 §4: a first block inside the second one reports a duplicate too.
            if i == 0 {
                if let Some(next) = blocks.get(1) {
                    if left >= SeqNumber(next.left) && right <= SeqNumber(next.right) {
                        dsack = true;
                        continue;
                    }
                }
            }
            if right > snd_max {
                continue;
            }
            newly += self.insert(left.max(snd_una), right);
        }
        (newly, dsack)
    }

    /// Adds one range; returns how many bytes were new.
    fn insert(&mut self, left: SeqNumber, right: SeqNumber) -> u32 {
        let before: u32 = self.sacked_bytes();
        let mut left = left;
        let mut right = right;
        // Absorb every range that overlaps or touches [left, right).
        self.ranges.retain(|&(l, r)| {
            if r < left || l > right {
                true
            } else {
                left = left.min(l);
                right = right.max(r);
                false
            }
        });
        let pos = self.ranges.partition_point(|&(l, _)| l < left);
        self.ranges.insert(pos, (left, right));
        if self.ranges.len() > MAX_SCOREBOARD_RANGES {
            // Keep the newest information about the highest data: merge the two lowest ranges
            // conservatively by dropping the lowest (it only makes us retransmit more).
            self.ranges.remove(0);
        }
        self.sacked_bytes().saturating_sub(before)
    }

    /// SND.UNA moved to `snd_una`: drop what it covers.
    pub fn ack(&mut self, snd_una: SeqNumber) {
        self.ranges.retain_mut(|(l, r)| {
            if *r <= snd_una {
                return false;
            }
            *l = (*l).max(snd_una);
            true
        });
        self.high_rxt = self.high_rxt.max(snd_una);
    }

    /// Bytes SACKed in all.
    pub fn sacked_bytes(&self) -> u32 {
        self.ranges.iter().map(|(l, r)| r.since(*l)).sum()
    }

    /// The first octet at or after `seq` that is not SACKed.
    pub fn skip_sacked(&self, seq: SeqNumber) -> SeqNumber {
        self.ranges
            .iter()
            .find(|&&(l, r)| seq >= l && seq < r)
            .map_or(seq, |&(_, r)| r)
    }

    /// The start of the first SACKed range above `seq`.
    pub fn next_sacked_after(&self, seq: SeqNumber) -> Option<SeqNumber> {
        self.ranges.iter().map(|&(l, _)| l).find(|&l| l > seq)
    }

    /// Whether all of `[start, end)` is SACKed.
    pub fn covers(&self, start: SeqNumber, end: SeqNumber) -> bool {
        self.ranges.iter().any(|&(l, r)| l <= start && end <= r)
    }

    /// Whether `seq` is SACKed.
    pub fn is_sacked(&self, seq: SeqNumber) -> bool {
        self.ranges.iter().any(|&(l, r)| seq >= l && seq < r)
    }

    /// RFC 6675 `IsLost(seq)`: at least DupThresh discontiguous SACKed ranges, or more than
    /// (DupThresh - 1) · SMSS SACKed bytes, lie above `seq`.
    pub fn is_lost(&self, seq: SeqNumber, mss: u32) -> bool {
        let mut count = 0;
        let mut bytes = 0u32;
        for &(l, r) in self.ranges.iter().rev() {
            if r <= seq {
                break;
            }
            let above = if l > seq {
                r.since(l)
            } else {
                r.since(seq + 1u32)
            };
            bytes = bytes.saturating_add(above);
            count += 1;
            if count >= DUP_THRESH || bytes > (DUP_THRESH - 1) * mss {
                return true;
            }
        }
        false
    }

    /// The un-SACKed holes between `snd_una` and `snd_max`, lowest first, as (start, end).
    fn holes(
        &self,
        snd_una: SeqNumber,
        snd_max: SeqNumber,
    ) -> impl Iterator<Item = (SeqNumber, SeqNumber)> + '_ {
        let mut cursor = snd_una;
        let mut iter = self.ranges.iter();
        let mut done = false;
        core::iter::from_fn(move || loop {
            if done {
                return None;
            }
            match iter.next() {
                Some(&(l, r)) => {
                    let hole = (cursor, l);
                    cursor = cursor.max(r);
                    if hole.0 < hole.1 {
                        return Some(hole);
                    }
                }
                None => {
                    done = true;
                    if cursor < snd_max {
                        return Some((cursor, snd_max));
                    }
                    return None;
                }
            }
        })
    }

    /// RFC 6675 `SetPipe`: the bytes the sender believes are still in the network.
    pub fn pipe(&self, snd_una: SeqNumber, snd_max: SeqNumber, mss: u32) -> u32 {
        let mut pipe = 0u32;
        for (start, end) in self.holes(snd_una, snd_max) {
            if !self.is_lost(start, mss) {
                pipe = pipe.saturating_add(end.since(start));
            }
            // Retransmitted octets of the hole are in flight again.
            let rtx_end = self.high_rxt.min(end);
            pipe = pipe.saturating_add(rtx_end.since(start));
        }
        pipe
    }

    /// RFC 6675 `NextSeg` rules 1 and 3: the first hole octet above HighRxt to retransmit,
    /// and how many octets of it (at most `mss`). Rule 1 takes holes judged lost; rule 3
    /// (`any_hole`) takes any hole, for when no new data can be sent.
    pub fn next_retransmit(
        &self,
        snd_una: SeqNumber,
        snd_max: SeqNumber,
        mss: u32,
        any_hole: bool,
    ) -> Option<(SeqNumber, u32)> {
        // Both rules only look below the highest SACKed octet (RFC 6675 §5, NextSeg (1.b));
        // the tail above it is simply in flight.
        let highest_sacked = self.ranges.last()?.1;
        for (start, end) in self.holes(snd_una, snd_max) {
            let from = start.max(self.high_rxt);
            if start >= highest_sacked {
                break;
            }
            if from >= end {
                continue;
            }
            if any_hole || self.is_lost(from, mss) {
                return Some((from, end.since(from).min(mss)));
            }
        }
        None
    }
}

/// The blocks a receiver reports (RFC 2018 §4): a D-SACK first if one is pending (RFC 2883),
/// then the block holding the most recently received segment, then the others from the
/// highest down. `held` are the reassembly queue's contiguous ranges.
pub fn receiver_blocks(
    dsack: Option<(SeqNumber, SeqNumber)>,
    latest: Option<SeqNumber>,
    held: impl Iterator<Item = (SeqNumber, SeqNumber)>,
) -> ([SackBlock; 4], usize) {
    let mut out = [SackBlock::default(); 4];
    let mut n = 0;
    let push = |l: SeqNumber, r: SeqNumber, out: &mut [SackBlock; 4], n: &mut usize| {
        if *n < out.len() {
            out[*n] = SackBlock {
                left: l.0,
                right: r.0,
            };
            *n += 1;
        }
    };
    if let Some((l, r)) = dsack {
        push(l, r, &mut out, &mut n);
    }
    let mut ranges: [(SeqNumber, SeqNumber); 8] = [(SeqNumber(0), SeqNumber(0)); 8];
    let mut count = 0;
    let mut first: Option<(SeqNumber, SeqNumber)> = None;
    for (l, r) in held {
        if latest.is_some_and(|s| s >= l && s < r) {
            first = Some((l, r));
        } else {
            // Keep the highest ranges: shift the window of 8 along.
            if count < ranges.len() {
                ranges[count] = (l, r);
                count += 1;
            } else {
                ranges.rotate_left(1);
                ranges[ranges.len() - 1] = (l, r);
            }
        }
    }
    if let Some((l, r)) = first {
        push(l, r, &mut out, &mut n);
    }
    for &(l, r) in ranges[..count].iter().rev() {
        push(l, r, &mut out, &mut n);
    }
    (out, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blk(l: u32, r: u32) -> SackBlock {
        SackBlock { left: l, right: r }
    }

    #[test]
    fn scoreboard_merges_and_finds_holes() {
        let mut sb = Scoreboard::default();
        let una = SeqNumber(1000);
        let max = SeqNumber(11_000);
        let (n, d) = sb.update(&[blk(3000, 4000), blk(5000, 6000)], una, max);
        assert_eq!((n, d), (2000, false));
        let (n, _) = sb.update(&[blk(4000, 5000)], una, max);
        assert_eq!(n, 1000);
        assert_eq!(sb.ranges(), &[(SeqNumber(3000), SeqNumber(6000))]);
        // 3000 bytes SACKed above 1000 with MSS 1000: more than 2 MSS, so lost.
        assert!(sb.is_lost(una, 1000));
        assert_eq!(sb.next_retransmit(una, max, 1000, false), Some((una, 1000)));
        sb.high_rxt = SeqNumber(2000);
        assert_eq!(
            sb.next_retransmit(una, max, 1000, false),
            Some((SeqNumber(2000), 1000))
        );
        sb.high_rxt = SeqNumber(3000);
        // The tail 6000..11000 lies above every SACK: neither rule picks it.
        assert_eq!(sb.next_retransmit(una, max, 1000, false), None);
        assert_eq!(sb.next_retransmit(una, max, 1000, true), None);
        // pipe: hole 1000..3000 lost (not counted) but retransmitted (2000 counted); tail 5000.
        assert_eq!(sb.pipe(una, max, 1000), 2000 + 5000);
        // Rule 3 takes a hole below the highest SACK even when it is not judged lost.
        sb.update(&[blk(8000, 9000)], una, max);
        assert_eq!(sb.next_retransmit(una, max, 1000, false), None);
        assert_eq!(
            sb.next_retransmit(una, max, 1000, true),
            Some((SeqNumber(6000), 1000))
        );
        sb.update(&[blk(6000, 8000)], una, max);
        sb.ack(SeqNumber(4000));
        assert_eq!(sb.ranges(), &[(SeqNumber(4000), SeqNumber(9000))]);
    }

    #[test]
    fn dsack_is_recognised() {
        let mut sb = Scoreboard::default();
        let (_, d) = sb.update(&[blk(500, 900)], SeqNumber(1000), SeqNumber(5000));
        assert!(d);
        let (_, d) = sb.update(
            &[blk(2000, 2500), blk(1500, 3000)],
            SeqNumber(1000),
            SeqNumber(5000),
        );
        assert!(d);
        assert_eq!(sb.ranges(), &[(SeqNumber(1500), SeqNumber(3000))]);
    }

    #[test]
    fn receiver_blocks_order() {
        let held = [
            (SeqNumber(10), SeqNumber(20)),
            (SeqNumber(30), SeqNumber(40)),
            (SeqNumber(50), SeqNumber(60)),
        ];
        let (b, n) = receiver_blocks(
            Some((SeqNumber(1), SeqNumber(5))),
            Some(SeqNumber(35)),
            held.into_iter(),
        );
        assert_eq!(n, 4);
        assert_eq!(b[0], blk(1, 5));
        assert_eq!(b[1], blk(30, 40));
        assert_eq!(b[2], blk(50, 60));
        assert_eq!(b[3], blk(10, 20));
    }
}
