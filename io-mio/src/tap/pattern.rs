//! A cheap integrity check for benchmarks: every byte of a stream must equal its stream
//! offset mod 256 (`00 01 02 .. ff 00 01 ..`, what `io-mio/tests/tap/peer.py blast` sends).
//!
//! The received bytes are compared against a precomputed buffer of the same pattern with
//! slice equality (`memcmp`), so the check runs at memory speed, where SHA-256 of every byte
//! costs more than the TCP stack itself. (Also compiled into `examples/smoltcp_tap.rs`, so
//! that both programs of `scripts/bench-tap` do exactly the same work per byte.)

/// Bytes compared per `memcmp` (a multiple of 256, so that the phase of the pattern is the
/// same after each full comparison).
const STRIDE: usize = 16 * 1024;

/// The first byte that broke the pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// Its offset in the stream.
    pub offset: u64,
    /// What it was.
    pub got: u8,
    /// What the pattern has there (`offset % 256`).
    pub expected: u8,
}

/// Checks a stream, fed in pieces of any size, against the pattern byte `i` = `i mod 256`.
pub struct PatternCheck {
    /// `STRIDE + 256` bytes of the pattern from offset 0: any phase can be followed by
    /// `STRIDE` bytes of it.
    reference: Box<[u8]>,
    /// Bytes seen so far.
    bytes: u64,
    /// The first mismatch, if any (bytes after it are only counted).
    mismatch: Option<Mismatch>,
}

impl Default for PatternCheck {
    fn default() -> PatternCheck {
        PatternCheck::new()
    }
}

impl PatternCheck {
    /// A check at stream offset 0.
    pub fn new() -> PatternCheck {
        PatternCheck {
            reference: (0..STRIDE + 256).map(|i| i as u8).collect(),
            bytes: 0,
            mismatch: None,
        }
    }

    /// Checks the next `data` of the stream.
    pub fn update(&mut self, data: &[u8]) {
        if self.mismatch.is_none() {
            let mut at = self.bytes;
            for piece in data.chunks(STRIDE) {
                let phase = (at % 256) as usize;
                let want = &self.reference[phase..phase + piece.len()];
                if piece != want {
                    let i = piece
                        .iter()
                        .zip(want)
                        .position(|(a, b)| a != b)
                        .expect("unequal slices of one length differ somewhere");
                    self.mismatch = Some(Mismatch {
                        offset: at + i as u64,
                        got: piece[i],
                        expected: want[i],
                    });
                    break;
                }
                at += piece.len() as u64;
            }
        }
        self.bytes += data.len() as u64;
    }

    /// Bytes seen so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The first byte that broke the pattern, if one did.
    pub fn mismatch(&self) -> Option<Mismatch> {
        self.mismatch
    }

    /// `N bytes pattern ok`, or `N bytes pattern MISMATCH at offset K (got 0xGG, expected
    /// 0xEE)` for the first wrong byte.
    pub fn summary(&self) -> String {
        match self.mismatch {
            None => format!("{} bytes pattern ok", self.bytes()),
            Some(m) => format!(
                "{} bytes pattern MISMATCH at offset {} (got {:#04x}, expected {:#04x})",
                self.bytes(),
                m.offset,
                m.got,
                m.expected
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` bytes of the pattern.
    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| i as u8).collect()
    }

    /// Feeds `data` to a fresh check in pieces ending at `cuts`, then the rest.
    fn check_split(data: &[u8], cuts: &[usize]) -> PatternCheck {
        let mut c = PatternCheck::new();
        let mut from = 0;
        for &to in cuts {
            c.update(&data[from..to]);
            from = to;
        }
        c.update(&data[from..]);
        c
    }

    /// Split points: none, single bytes, odd sizes, pieces straddling STRIDE boundaries.
    fn splits(len: usize) -> Vec<Vec<usize>> {
        let mut out = vec![
            vec![],
            vec![1],
            vec![255, 256, 257],
            vec![STRIDE - 1, STRIDE + 1],
            vec![STRIDE, 2 * STRIDE],
        ];
        for step in [1usize, 7, 255, 4093, 65_537] {
            out.push((1..).map(|k| k * step).take_while(|&c| c < len).collect());
        }
        // Pseudo-random cut points (xorshift), sorted.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..5 {
            let mut cuts: Vec<usize> = (0..20)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % len as u64) as usize
                })
                .collect();
            cuts.sort_unstable();
            out.push(cuts);
        }
        out.into_iter()
            .map(|c| c.into_iter().filter(|&p| p <= len).collect())
            .collect()
    }

    #[test]
    fn the_pattern_passes_in_any_pieces() {
        let len = 3 * STRIDE + 1000;
        let data = pattern(len);
        for cuts in splits(len) {
            let c = check_split(&data, &cuts);
            assert_eq!(c.bytes(), len as u64, "{cuts:?}");
            assert_eq!(c.mismatch(), None, "{cuts:?}");
            assert_eq!(c.summary(), format!("{len} bytes pattern ok"));
        }
        let mut empty = PatternCheck::new();
        empty.update(&[]);
        assert_eq!((empty.bytes(), empty.mismatch()), (0, None));
    }

    #[test]
    fn a_wrong_byte_is_found_wherever_it_is() {
        let len = 3 * STRIDE + 1000;
        // The first and last byte, both sides of STRIDE and 256-byte boundaries, the middle.
        let spots = [
            0,
            1,
            255,
            256,
            STRIDE - 1,
            STRIDE,
            STRIDE + 1,
            2 * STRIDE,
            len / 2,
            len - 1,
        ];
        for bad in spots {
            let mut data = pattern(len);
            data[bad] ^= 0x40;
            // Also a second wrong byte later: the first one is reported.
            if bad + 300 < len {
                data[bad + 300] ^= 1;
            }
            let mut cut_lists = splits(len);
            // Pieces that end right before, at and after the wrong byte.
            cut_lists.push(vec![bad]);
            cut_lists.push(vec![bad + 1]);
            cut_lists.push(vec![bad.saturating_sub(1), bad, bad + 1]);
            for cuts in cut_lists {
                let cuts: Vec<usize> = cuts.into_iter().filter(|&p| p <= len).collect();
                let c = check_split(&data, &cuts);
                assert_eq!(c.bytes(), len as u64, "bad {bad}, cuts {cuts:?}");
                assert_eq!(
                    c.mismatch(),
                    Some(Mismatch {
                        offset: bad as u64,
                        got: (bad as u8) ^ 0x40,
                        expected: bad as u8,
                    }),
                    "bad {bad}, cuts {cuts:?}"
                );
            }
        }
        let mut c = PatternCheck::new();
        c.update(&[0, 1, 2, 9]);
        assert_eq!(
            c.summary(),
            "4 bytes pattern MISMATCH at offset 3 (got 0x09, expected 0x03)"
        );
    }

    #[test]
    fn a_stream_that_starts_late_or_skips_is_caught() {
        // A stream shifted by one byte (lost or duplicated data) fails at once.
        let data = pattern(1000);
        let mut c = PatternCheck::new();
        c.update(&data[1..]);
        assert_eq!(c.mismatch().map(|m| m.offset), Some(0));
        // A 256-byte gap keeps the phase but not the length: the count shows it.
        let mut c = PatternCheck::new();
        c.update(&data[..300]);
        c.update(&data[556..]);
        assert_eq!(c.mismatch(), None);
        assert_eq!(c.bytes(), 744);
    }
}
