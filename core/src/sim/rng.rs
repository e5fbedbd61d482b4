//! A small deterministic pseudo-random number generator.

/// One step of splitmix64: advances `state` and returns the next output.
///
/// Used to expand a single `u64` seed into the larger xoshiro state, as its authors advise.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A small, fast, deterministic pseudo-random number generator (xoshiro256\*\*, seeded
/// through splitmix64).
///
/// The same seed always yields the same sequence, on every platform. It is meant for
/// simulation, tests and fuzzing, and is **not** cryptographically secure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose whole sequence is determined by `seed` (any value, zero included).
    pub fn new(seed: u64) -> Rng {
        let mut sm = seed;
        // splitmix64 is a bijection of its state, so four consecutive outputs are never all
        // zero: the xoshiro state is always valid.
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Rng { s }
    }

    /// A generator with this exact internal state (for reference test vectors).
    #[cfg(test)]
    pub(crate) fn from_state(s: [u64; 4]) -> Rng {
        Rng { s }
    }

    /// The next 64 uniformly distributed bits.
    pub fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = &mut self.s;
        let result = s1.wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = *s1 << 17;
        *s2 ^= *s0;
        *s3 ^= *s1;
        *s1 ^= *s2;
        *s0 ^= *s3;
        *s2 ^= t;
        *s3 = s3.rotate_left(45);
        result
    }

    /// The next 32 uniformly distributed bits (the high half of [`Rng::next_u64`]).
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A uniformly distributed float in `[0, 1)`, with 53 bits of precision.
    pub fn gen_f64(&mut self) -> f64 {
        const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
        (self.next_u64() >> 11) as f64 * SCALE
    }

    /// A number in `[0, n)`; `0` when `n == 0`.
    ///
    /// Uses one multiply-and-shift draw (no rejection loop, so it always takes constant
    /// time); the bias is at most `n / 2^64`, negligible for simulation purposes.
    pub fn gen_range(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// `true` with probability `p`.
    ///
    /// `p <= 0` (or NaN) is always `false` and `p >= 1` always `true`; neither consumes a
    /// draw. Any other `p` consumes exactly one draw.
    pub fn gen_bool(&mut self, p: f64) -> bool {
        if p.is_nan() || p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.gen_f64() < p
        }
    }

    /// Fills `buf` with random bytes.
    pub fn fill_bytes(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let bytes = self.next_u64().to_le_bytes();
            rest.copy_from_slice(&bytes[..rest.len()]);
        }
    }

    /// A new generator seeded from this one: an independent stream, handy for giving each
    /// component its own randomness without disturbing the others.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_value() {
        let mut state = 0;
        assert_eq!(splitmix64(&mut state), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn xoshiro_reference_values() {
        let mut rng = Rng::from_state([1, 2, 3, 4]);
        assert_eq!(rng.next_u64(), 11520);
        assert_eq!(rng.next_u64(), 0);
        assert_eq!(rng.next_u64(), 1_509_978_240);
        assert_eq!(rng.next_u64(), 1_215_971_899_390_074_240);
    }

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let mut c = Rng::new(43);
        let mut differs = false;
        for _ in 0..100 {
            let x = a.next_u64();
            assert_eq!(x, b.next_u64());
            differs |= x != c.next_u64();
        }
        assert!(differs);
    }

    #[test]
    fn ranges_hold() {
        let mut rng = Rng::new(7);
        let mut seen = [false; 10];
        for _ in 0..10_000 {
            let f = rng.gen_f64();
            assert!((0.0..1.0).contains(&f));
            let r = rng.gen_range(10);
            assert!(r < 10);
            seen[r as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(rng.gen_range(0), 0);
        assert_eq!(rng.gen_range(1), 0);
    }

    #[test]
    fn gen_bool_edges_and_rate() {
        let mut rng = Rng::new(1);
        let before = rng.clone();
        assert!(!rng.gen_bool(0.0));
        assert!(!rng.gen_bool(-1.0));
        assert!(!rng.gen_bool(f64::NAN));
        assert!(rng.gen_bool(1.0));
        assert!(rng.gen_bool(2.0));
        assert_eq!(rng, before, "edge probabilities consume no draws");
        let hits = (0..100_000).filter(|_| rng.gen_bool(0.25)).count();
        assert!((24_000..26_000).contains(&hits), "{hits}");
    }

    #[test]
    fn fill_bytes_covers_odd_lengths() {
        let mut rng = Rng::new(3);
        let mut buf = [0u8; 13];
        rng.fill_bytes(&mut buf);
        assert!(buf.iter().any(|&b| b != 0));
        let mut again = Rng::new(3);
        let mut buf2 = [0u8; 13];
        again.fill_bytes(&mut buf2);
        assert_eq!(buf, buf2);
        rng.fill_bytes(&mut []);
    }

    #[test]
    fn fork_is_deterministic_and_distinct() {
        let mut a = Rng::new(9);
        let mut b = Rng::new(9);
        let mut fa = a.fork();
        let mut fb = b.fork();
        assert_eq!(fa.next_u64(), fb.next_u64());
        assert_ne!(fa.next_u64(), a.next_u64());
    }
}
