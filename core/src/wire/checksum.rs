//! The Internet checksum (RFC 1071).
//!
//! The checksum is the 16-bit ones'-complement of the ones'-complement sum of
//! the data taken as big-endian 16-bit words (RFC 1071 §1). This module works
//! with the *un-inverted* sum so that partial sums (pseudo header, header,
//! payload) can be computed independently and then combined (RFC 1071 §2(B),
//! "associative").
//!
//! * The value written into a header is `!combine(&[pseudo, data(segment)])`
//!   computed with the checksum field set to zero.
//! * A received segment verifies when `combine(&[pseudo, data(segment)])`
//!   equals `0xffff`.

use core::net::IpAddr;

/// Adds a 64-bit word into a ones'-complement accumulator, with end-around
/// carry (RFC 1071 §2(C): "the sum may be computed in 32 or 64 bits and
/// folded afterwards", since 2^64 ≡ 1 modulo 2^16 − 1).
#[inline(always)]
fn add64(acc: u64, word: u64) -> u64 {
    let (sum, carry) = acc.overflowing_add(word);
    // `sum` is at most 2^64 - 2 when a carry occurred, so this cannot overflow.
    sum + u64::from(carry)
}

/// Folds a 64-bit ones'-complement accumulator down to 16 bits.
#[inline(always)]
fn fold(acc: u64) -> u16 {
    // Each step keeps the value congruent modulo 2^16 - 1 and never
    // overflows: (a >> 32) + (a & 0xffff_ffff) < 2^33.
    let acc = (acc >> 32) + (acc & 0xffff_ffff);
    let acc = (acc >> 32) + (acc & 0xffff_ffff);
    let acc = (acc >> 16) + (acc & 0xffff);
    let acc = (acc >> 16) + (acc & 0xffff);
    // After two 16-bit folds of a value < 2^33 the result fits 16 bits.
    (acc & 0xffff) as u16
}

/// Ones'-complement 16-bit sum of `bytes` (not inverted).
///
/// Bytes are taken as big-endian 16-bit words; an odd trailing byte is padded
/// with a zero byte on the right (RFC 1071 §1, step (1)).
///
/// Fast path: the data is summed as native-endian 32-bit words into four
/// 64-bit accumulators, 16 bytes per step. No carry handling is needed (each
/// addition is below 2^32, so 2^32 of them cannot overflow), which lets the
/// compiler vectorize the loop. Since 2^16 ≡ 1 modulo 2^16 − 1, folding the
/// 32-bit words gives the sum of their 16-bit halves (RFC 1071 §2(C)); summing
/// in native byte order and swapping the result gives the big-endian sum
/// (RFC 1071 §2(B), byte-order independence).
///
/// The result is `0` only for input consisting solely of zero bytes.
pub fn data(bytes: &[u8]) -> u16 {
    let mut acc = [0u64; 4];
    let mut blocks = bytes.chunks_exact(16);
    for b in &mut blocks {
        acc[0] += u64::from(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
        acc[1] += u64::from(u32::from_ne_bytes([b[4], b[5], b[6], b[7]]));
        acc[2] += u64::from(u32::from_ne_bytes([b[8], b[9], b[10], b[11]]));
        acc[3] += u64::from(u32::from_ne_bytes([b[12], b[13], b[14], b[15]]));
    }
    let mut sum = acc.iter().fold(0u64, |a, &w| add64(a, w));
    // Up to 15 bytes remain: whole 16-bit words, then an odd byte padded with
    // zero on the right, all in the same native order as above.
    let mut words = blocks.remainder().chunks_exact(2);
    for w in &mut words {
        sum = add64(sum, u64::from(u16::from_ne_bytes([w[0], w[1]])));
    }
    if let Some(&last) = words.remainder().first() {
        sum = add64(sum, u64::from(u16::from_ne_bytes([last, 0])));
    }
    u16::from_be(fold(sum))
}

/// Ones'-complement addition of partial sums (RFC 1071 §2(B)).
pub fn combine(sums: &[u16]) -> u16 {
    let mut acc: u64 = 0;
    for &s in sums {
        acc = add64(acc, u64::from(s));
    }
    fold(acc)
}

/// Ones'-complement sum of the pseudo header used by TCP, UDP and ICMPv6.
///
/// * IPv4 (RFC 9293 §3.1, "TCP Pseudo-Header"): source address, destination
///   address, a zero byte, the protocol, and the 16-bit segment length.
/// * IPv6 (RFC 8200 §8.1): source address, destination address, the 32-bit
///   upper-layer packet length, three zero bytes and the next header value.
///
/// Both layouts reduce to the same sum of 16-bit words, so the two families
/// share one computation here. For mixed families the result is the sum of
/// both addresses (unspecified, never useful).
pub fn pseudo_header(src: &IpAddr, dst: &IpAddr, protocol: u8, length: u32) -> u16 {
    let addr_sum = |addr: &IpAddr| match addr {
        IpAddr::V4(a) => data(&a.octets()),
        IpAddr::V6(a) => data(&a.octets()),
    };
    combine(&[
        addr_sum(src),
        addr_sum(dst),
        u16::from(protocol),
        (length >> 16) as u16,
        (length & 0xffff) as u16,
    ])
}

/// Computes the checksum field value for `bytes` (the inverted sum), for
/// headers without a pseudo header such as IPv4 and ICMPv4 (RFC 791 §3.1,
/// RFC 792). The checksum field inside `bytes` must be zero.
pub fn checksum_of(bytes: &[u8]) -> u16 {
    !data(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    /// Straightforward reference: 16-bit words, 32-bit accumulator, folded.
    fn reference(bytes: &[u8]) -> u16 {
        let mut acc: u64 = 0;
        let mut it = bytes.chunks(2);
        for pair in &mut it {
            let hi = u64::from(pair[0]);
            let lo = u64::from(pair.get(1).copied().unwrap_or(0));
            acc += (hi << 8) | lo;
        }
        while acc > 0xffff {
            acc = (acc >> 16) + (acc & 0xffff);
        }
        acc as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(data(&bytes), 0xddf2);
        assert_eq!(checksum_of(&bytes), !0xddf2);
    }

    #[test]
    fn known_ipv4_header() {
        // A classic example IPv4 header with checksum 0xb861.
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum_of(&hdr), 0xb861);
        hdr[10] = 0xb8;
        hdr[11] = 0x61;
        assert_eq!(data(&hdr), 0xffff);
    }

    #[test]
    fn odd_and_small_lengths() {
        assert_eq!(data(&[]), 0);
        assert_eq!(data(&[0xab]), 0xab00);
        assert_eq!(data(&[0xab, 0xcd, 0xef]), 0x9ace); // 0xabcd + 0xef00 = 0x19acd, folded
        for len in 0..64 {
            let v: alloc::vec::Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(data(&v), reference(&v), "len {len}");
            let ff = alloc::vec![0xffu8; len];
            assert_eq!(data(&ff), reference(&ff), "ff len {len}");
        }
    }

    #[test]
    fn combine_matches_concatenation() {
        let a = [1u8, 2, 3, 4, 5, 6];
        let b = [7u8, 8, 9, 10];
        let mut ab = alloc::vec::Vec::new();
        ab.extend_from_slice(&a);
        ab.extend_from_slice(&b);
        assert_eq!(combine(&[data(&a), data(&b)]), data(&ab));
        assert_eq!(combine(&[]), 0);
        assert_eq!(combine(&[0xffff, 0xffff]), 0xffff);
        assert_eq!(combine(&[0x8000, 0x8000]), 0x0001);
    }

    #[test]
    fn pseudo_header_v4_and_v6() {
        let s4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let d4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let mut ph = [0u8; 12];
        ph[0..4].copy_from_slice(&[10, 0, 0, 1]);
        ph[4..8].copy_from_slice(&[10, 0, 0, 2]);
        ph[9] = 6;
        ph[10..12].copy_from_slice(&1234u16.to_be_bytes());
        assert_eq!(pseudo_header(&s4, &d4, 6, 1234), data(&ph));

        let s6 = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 1, 2, 3, 4));
        let d6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9));
        let mut ph6 = [0u8; 40];
        ph6[0..16].copy_from_slice(&Ipv6Addr::new(0xfe80, 0, 0, 0, 1, 2, 3, 4).octets());
        ph6[16..32].copy_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9).octets());
        ph6[32..36].copy_from_slice(&70000u32.to_be_bytes());
        ph6[39] = 58;
        assert_eq!(pseudo_header(&s6, &d6, 58, 70000), data(&ph6));
    }
}
