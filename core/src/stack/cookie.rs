//! SYN cookies (RFC 4987 §3.6): when a listener's SYN queue is full, the SYN-ACK's sequence
//! number carries what the handshake needs, so no state is kept until the final ACK.
//!
//! Layout of the 32-bit cookie (our ISS):
//!
//! ```text
//! 31      27 26  24 23                                   0
//! | time  5 | mss 3 |  MAC 24: SipHash(secret, 4-tuple, peer ISN, time, mss) |
//! ```
//!
//! `time` counts 64-second periods (the low 5 bits); a cookie is good for the current and the
//! previous period. The MSS is an index into [`MSS_TABLE`]. Window scale, SACK-permitted and
//! ECN travel in the low 6 bits of our SYN-ACK's TSval (when the peer sent timestamps), which
//! the final ACK echoes (the same trick Linux uses).

use core::hash::Hasher;
use core::net::SocketAddr;

use crate::hash::SipHasher;
use crate::tcp::SeqNumber;
use crate::Instant;

/// MSS values a cookie can carry; the peer's MSS is rounded down to one of them.
pub const MSS_TABLE: [u16; 8] = [536, 1200, 1300, 1380, 1420, 1440, 1460, 8940];

/// Seconds per cookie time period.
const PERIOD_SECS: u64 = 64;

/// The options that ride in the TSval's low bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieOptions {
    /// The peer's window-scale shift, if it offered scaling.
    pub window_scale: Option<u8>,
    /// The peer offered SACK (and we agreed).
    pub sack: bool,
    /// ECN was negotiated.
    pub ecn: bool,
}

/// TSval bits used for the options.
pub const TS_OPTION_BITS: u32 = 6;
const NO_WSCALE: u32 = 0xf;

impl CookieOptions {
    /// Packs into the low [`TS_OPTION_BITS`] bits: wscale (4 bits, 15 = none), SACK, ECN.
    pub fn encode(self) -> u32 {
        let ws = self
            .window_scale
            .map_or(NO_WSCALE, |w| u32::from(w.min(14)));
        ws | (u32::from(self.sack) << 4) | (u32::from(self.ecn) << 5)
    }
    /// Unpacks what [`CookieOptions::encode`] packed.
    pub fn decode(bits: u32) -> CookieOptions {
        let ws = bits & 0xf;
        CookieOptions {
            window_scale: (ws != NO_WSCALE).then_some(ws.min(14) as u8),
            sack: bits & 0x10 != 0,
            ecn: bits & 0x20 != 0,
        }
    }
}

fn period(now: Instant) -> u64 {
    now.as_nanos() / 1_000_000_000 / PERIOD_SECS
}

fn mac(
    key: [u64; 2],
    local: SocketAddr,
    remote: SocketAddr,
    peer_isn: SeqNumber,
    period: u64,
    mss_index: u32,
) -> u32 {
    let mut h = SipHasher::new(key);
    h.write_u8(0xc0);
    super::hash_tuple(&mut h, local, remote);
    h.write_u32(peer_isn.0);
    h.write_u64(period);
    h.write_u32(mss_index);
    (h.finish() as u32) & 0x00ff_ffff
}

/// The cookie for a SYN from `remote` with initial sequence number `peer_isn` offering
/// `peer_mss`.
pub fn make(
    key: [u64; 2],
    local: SocketAddr,
    remote: SocketAddr,
    peer_isn: SeqNumber,
    peer_mss: u16,
    now: Instant,
) -> SeqNumber {
    let index = MSS_TABLE.iter().rposition(|&m| m <= peer_mss).unwrap_or(0) as u32;
    let p = period(now);
    let cookie =
        ((p as u32 & 0x1f) << 27) | (index << 24) | mac(key, local, remote, peer_isn, p, index);
    SeqNumber(cookie)
}

/// Checks the cookie an ACK returns (`ack - 1`) against the ACK's own sequence number
/// (`seq - 1` is the peer's ISN); the peer's MSS if it is genuine and fresh.
pub fn check(
    key: [u64; 2],
    local: SocketAddr,
    remote: SocketAddr,
    ack: SeqNumber,
    seq: SeqNumber,
    now: Instant,
) -> Option<u16> {
    let cookie = (ack - 1u32).0;
    let peer_isn = seq - 1u32;
    let index = (cookie >> 24) & 0x7;
    let stamp = cookie >> 27;
    let current = period(now);
    // The current period or the one before it.
    let p = [current, current.saturating_sub(1)]
        .into_iter()
        .find(|p| (*p as u32 & 0x1f) == stamp)?;
    (mac(key, local, remote, peer_isn, p, index) == cookie & 0x00ff_ffff)
        .then(|| MSS_TABLE[index as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (SocketAddr, SocketAddr) {
        (
            "10.0.0.1:80".parse().unwrap(),
            "10.0.0.2:40000".parse().unwrap(),
        )
    }

    #[test]
    fn round_trip_keeps_the_mss_and_options() {
        let (l, r) = addrs();
        let key = [1, 2];
        for (mss, expect) in [(1460, 1460), (1400, 1380), (100, 536), (9000, 8940)] {
            let isn = SeqNumber(12345);
            let c = make(key, l, r, isn, mss, Instant::from_secs(1000));
            let got = check(key, l, r, c + 1u32, isn + 1u32, Instant::from_secs(1030));
            assert_eq!(got, Some(expect));
        }
        for o in [
            CookieOptions {
                window_scale: Some(7),
                sack: true,
                ecn: false,
            },
            CookieOptions {
                window_scale: None,
                sack: false,
                ecn: true,
            },
            CookieOptions {
                window_scale: Some(14),
                sack: true,
                ecn: true,
            },
        ] {
            assert_eq!(CookieOptions::decode(o.encode()), o);
        }
    }

    #[test]
    fn forged_stale_or_misdirected_cookies_fail() {
        let (l, r) = addrs();
        let key = [1, 2];
        let isn = SeqNumber(777);
        let c = make(key, l, r, isn, 1460, Instant::from_secs(1000));
        // Another peer ISN, another port, another key, one bit flipped.
        assert_eq!(
            check(key, l, r, c + 1u32, isn + 2u32, Instant::from_secs(1000)),
            None
        );
        let other: SocketAddr = "10.0.0.2:40001".parse().unwrap();
        assert_eq!(
            check(
                key,
                l,
                other,
                c + 1u32,
                isn + 1u32,
                Instant::from_secs(1000)
            ),
            None
        );
        assert_eq!(
            check([1, 3], l, r, c + 1u32, isn + 1u32, Instant::from_secs(1000)),
            None
        );
        assert_eq!(
            check(
                key,
                l,
                r,
                SeqNumber((c + 1u32).0 ^ 1),
                isn + 1u32,
                Instant::from_secs(1000)
            ),
            None
        );
        // Two periods later it is stale.
        assert_eq!(
            check(
                key,
                l,
                r,
                c + 1u32,
                isn + 1u32,
                Instant::from_secs(1000 + 130)
            ),
            None
        );
    }
}
