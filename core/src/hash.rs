//! Keyed hashing, so that a remote peer can neither predict values nor aim hash collisions:
//! SipHash-2-4 for ISNs (RFC 6528), ephemeral ports (RFC 6056) and SYN cookies, and the
//! lighter SipHash-1-3 (as Rust's standard hash map uses) for the connection table, which
//! hashes on every packet.

use core::hash::{BuildHasher, Hasher};

/// SipHash-c-d (Aumasson & Bernstein) keyed with 128 bits: `C` rounds per message word, `D`
/// finalization rounds.
#[derive(Debug, Clone)]
pub struct Sip<const C: usize, const D: usize> {
    v: [u64; 4],
    tail: u64,
    ntail: usize,
    length: usize,
}

/// SipHash-2-4, the function's standard strength.
pub type SipHasher = Sip<2, 4>;

/// SipHash-1-3, for hash tables.
pub type SipHasher13 = Sip<1, 3>;

impl<const C: usize, const D: usize> Sip<C, D> {
    /// A hasher keyed with `key`.
    pub fn new(key: [u64; 2]) -> Self {
        Sip {
            v: [
                key[0] ^ 0x736f_6d65_7073_6575,
                key[1] ^ 0x646f_7261_6e64_6f6d,
                key[0] ^ 0x6c79_6765_6e65_7261,
                key[1] ^ 0x7465_6462_7974_6573,
            ],
            tail: 0,
            ntail: 0,
            length: 0,
        }
    }

    fn round(&mut self) {
        let v = &mut self.v;
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }

    fn push_byte(&mut self, b: u8) {
        self.tail |= u64::from(b) << (8 * self.ntail);
        self.ntail += 1;
        if self.ntail == 8 {
            let m = self.tail;
            self.compress(m);
            self.tail = 0;
            self.ntail = 0;
        }
    }

    fn compress(&mut self, m: u64) {
        self.v[3] ^= m;
        for _ in 0..C {
            self.round();
        }
        self.v[0] ^= m;
    }
}

impl<const C: usize, const D: usize> Hasher for Sip<C, D> {
    fn write(&mut self, bytes: &[u8]) {
        self.length = self.length.wrapping_add(bytes.len());
        let mut rest = bytes;
        // Complete a partial word first, then take whole little-endian words at a time.
        while self.ntail != 0 && !rest.is_empty() {
            self.push_byte(rest[0]);
            rest = &rest[1..];
        }
        let mut words = rest.chunks_exact(8);
        for w in &mut words {
            self.compress(u64::from_le_bytes([
                w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7],
            ]));
        }
        for &b in words.remainder() {
            self.push_byte(b);
        }
    }

    fn finish(&self) -> u64 {
        let mut s = self.clone();
        let b = ((s.length as u64 & 0xff) << 56) | s.tail;
        s.compress(b);
        s.v[2] ^= 0xff;
        for _ in 0..D {
            s.round();
        }
        s.v[0] ^ s.v[1] ^ s.v[2] ^ s.v[3]
    }
}

/// Builds [`SipHasher13`]s with one fixed key; used by the connection table.
#[derive(Debug, Clone, Copy)]
pub struct KeyedState {
    key: [u64; 2],
}

impl KeyedState {
    /// A builder whose hashers are keyed with `key`.
    pub fn new(key: [u64; 2]) -> KeyedState {
        KeyedState { key }
    }
}

impl BuildHasher for KeyedState {
    type Hasher = SipHasher13;
    fn build_hasher(&self) -> SipHasher13 {
        SipHasher13::new(self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference vector from the SipHash paper (appendix A): key 00..0f, message 00..0e.
    #[test]
    fn siphash_reference_vector() {
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        let mut h = SipHasher::new([k0, k1]);
        let msg: [u8; 15] = core::array::from_fn(|i| i as u8);
        h.write(&msg);
        assert_eq!(h.finish(), 0xa129_ca61_49be_45e5);
        // The same message in pieces that straddle word boundaries.
        let mut h = SipHasher::new([k0, k1]);
        for piece in [&msg[..3], &msg[3..4], &msg[4..13], &msg[13..]] {
            h.write(piece);
        }
        assert_eq!(h.finish(), 0xa129_ca61_49be_45e5);
    }

    /// SipHash-1-3 against the standard library's hasher (SipHash-1-3 keyed with zeros).
    #[cfg(feature = "std")]
    #[test]
    fn siphash13_matches_std() {
        extern crate std;
        for len in [0usize, 1, 7, 8, 9, 15, 16, 36, 100] {
            let msg: std::vec::Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let mut ours = SipHasher13::new([0, 0]);
            ours.write(&msg);
            let mut std_h = std::collections::hash_map::DefaultHasher::new();
            std_h.write(&msg);
            assert_eq!(ours.finish(), std_h.finish(), "length {len}");
        }
    }
}
