//! Internet Protocol version 4 (RFC 791 §3.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |   DSCP    |ECN|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |Flags|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! |                    Destination Address                        |
//! |                    Options (IHL > 5)                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The DSCP/ECN split of the old Type of Service octet is from RFC 2474 §3
//! and RFC 3168 §5.

use super::checksum;
use super::field;
use super::{Result, WireError};
use core::net::Ipv4Addr;

mod offs {
    pub(super) const VER_IHL: usize = 0;
    pub(super) const DSCP_ECN: usize = 1;
    pub(super) const TOTAL_LEN: usize = 2;
    pub(super) const IDENT: usize = 4;
    pub(super) const FLAGS_FRAG: usize = 6;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const CHECKSUM: usize = 10;
    pub(super) const SRC: usize = 12;
    pub(super) const DST: usize = 16;
    pub(super) const OPTIONS: usize = 20;
}

/// "Don't Fragment" bit in the flags/fragment-offset word (RFC 791 §3.1).
const FLAG_DF: u16 = 0x4000;
/// "More Fragments" bit in the flags/fragment-offset word (RFC 791 §3.1).
const FLAG_MF: u16 = 0x2000;
/// Fragment offset mask (in units of 8 bytes).
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A zero-copy view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

super::view_wrapping!(Ipv4Packet);

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Length of a header without options.
    pub const MIN_HEADER_LEN: usize = offs::OPTIONS;

    /// Checks that the buffer holds the fixed header, that IHL is at least 5
    /// and within the buffer, and that Total Length covers the header and
    /// fits the buffer (RFC 791 §3.1; RFC 1122 §3.2.1.1 allows the buffer to
    /// be longer, e.g. because of link-layer padding).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < Self::MIN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header_len = usize::from(self.header_len());
        if header_len < Self::MIN_HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if header_len > len {
            return Err(WireError::Truncated);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(WireError::Malformed);
        }
        if total_len > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    fn buf(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Version field (4 for IPv4).
    pub fn version(&self) -> u8 {
        field::u8_at(self.buf(), offs::VER_IHL) >> 4
    }

    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> u8 {
        (field::u8_at(self.buf(), offs::VER_IHL) & 0x0f) * 4
    }

    /// Differentiated Services Code Point (RFC 2474 §3).
    pub fn dscp(&self) -> u8 {
        field::u8_at(self.buf(), offs::DSCP_ECN) >> 2
    }

    /// Explicit Congestion Notification codepoint (RFC 3168 §5).
    pub fn ecn(&self) -> u8 {
        field::u8_at(self.buf(), offs::DSCP_ECN) & 0x03
    }

    /// Total Length: header plus data, in bytes.
    pub fn total_len(&self) -> u16 {
        field::u16_at(self.buf(), offs::TOTAL_LEN)
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        field::u16_at(self.buf(), offs::IDENT)
    }

    fn flags_frag(&self) -> u16 {
        field::u16_at(self.buf(), offs::FLAGS_FRAG)
    }

    /// "Don't Fragment" flag.
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }

    /// "More Fragments" flag.
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }

    /// Fragment offset in **bytes** (the field counts 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        (self.flags_frag() & FRAG_OFFSET_MASK) << 3
    }

    /// Time to Live.
    pub fn hop_limit(&self) -> u8 {
        field::u8_at(self.buf(), offs::TTL)
    }

    /// Protocol of the payload (see [`super::ip_protocol`]).
    pub fn next_header(&self) -> u8 {
        field::u8_at(self.buf(), offs::PROTOCOL)
    }

    /// Alias of [`next_header`](Self::next_header), RFC 791's name.
    pub fn protocol(&self) -> u8 {
        self.next_header()
    }

    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        field::u16_at(self.buf(), offs::CHECKSUM)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(field::array_at::<4>(self.buf(), offs::SRC))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(field::array_at::<4>(self.buf(), offs::DST))
    }

    /// The header bytes (IHL × 4, clamped to the buffer).
    pub fn header(&self) -> &[u8] {
        let buf = self.buf();
        let end = usize::from(self.header_len()).min(buf.len());
        buf.get(..end).unwrap_or(&[])
    }

    /// Whether the header checksum verifies (RFC 791 §3.1: the ones'
    /// complement sum over the header, checksum included, is all ones).
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.header()) == 0xffff
    }

    /// The option bytes between the fixed header and the payload.
    pub fn options(&self) -> &[u8] {
        let header = self.header();
        header.get(offs::OPTIONS..).unwrap_or(&[])
    }

    /// The payload, bounded by Total Length (so link-layer padding is
    /// excluded) and clamped to the buffer.
    pub fn payload(&self) -> &[u8] {
        let buf = self.buf();
        let end = usize::from(self.total_len()).min(buf.len());
        let start = usize::from(self.header_len()).min(end);
        buf.get(start..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the version field.
    pub fn set_version(&mut self, value: u8) {
        let b = field::u8_at(self.buf(), offs::VER_IHL);
        field::set_u8(self.buf_mut(), offs::VER_IHL, (b & 0x0f) | (value << 4));
    }

    /// Sets the header length in bytes (rounded down to a multiple of 4).
    pub fn set_header_len(&mut self, len: u8) {
        let b = field::u8_at(self.buf(), offs::VER_IHL);
        field::set_u8(
            self.buf_mut(),
            offs::VER_IHL,
            (b & 0xf0) | ((len / 4) & 0x0f),
        );
    }

    /// Sets the DSCP (6 bits).
    pub fn set_dscp(&mut self, value: u8) {
        let b = field::u8_at(self.buf(), offs::DSCP_ECN);
        field::set_u8(self.buf_mut(), offs::DSCP_ECN, (b & 0x03) | (value << 2));
    }

    /// Sets the ECN codepoint (2 bits).
    pub fn set_ecn(&mut self, value: u8) {
        let b = field::u8_at(self.buf(), offs::DSCP_ECN);
        field::set_u8(self.buf_mut(), offs::DSCP_ECN, (b & 0xfc) | (value & 0x03));
    }

    /// Sets Total Length.
    pub fn set_total_len(&mut self, value: u16) {
        field::set_u16(self.buf_mut(), offs::TOTAL_LEN, value);
    }

    /// Sets Identification.
    pub fn set_ident(&mut self, value: u16) {
        field::set_u16(self.buf_mut(), offs::IDENT, value);
    }

    fn set_flag(&mut self, mask: u16, on: bool) {
        let w = self.flags_frag();
        let w = if on { w | mask } else { w & !mask };
        field::set_u16(self.buf_mut(), offs::FLAGS_FRAG, w);
    }

    /// Sets the "Don't Fragment" flag.
    pub fn set_dont_frag(&mut self, on: bool) {
        self.set_flag(FLAG_DF, on);
    }

    /// Sets the "More Fragments" flag.
    pub fn set_more_frags(&mut self, on: bool) {
        self.set_flag(FLAG_MF, on);
    }

    /// Sets the fragment offset, in bytes (must be a multiple of 8).
    pub fn set_frag_offset(&mut self, bytes: u16) {
        let w = (self.flags_frag() & !FRAG_OFFSET_MASK) | ((bytes >> 3) & FRAG_OFFSET_MASK);
        field::set_u16(self.buf_mut(), offs::FLAGS_FRAG, w);
    }

    /// Sets Time to Live.
    pub fn set_hop_limit(&mut self, value: u8) {
        field::set_u8(self.buf_mut(), offs::TTL, value);
    }

    /// Sets Protocol.
    pub fn set_next_header(&mut self, value: u8) {
        field::set_u8(self.buf_mut(), offs::PROTOCOL, value);
    }

    /// Alias of [`set_next_header`](Self::set_next_header).
    pub fn set_protocol(&mut self, value: u8) {
        self.set_next_header(value);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        field::set_u16(self.buf_mut(), offs::CHECKSUM, value);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        field::set_bytes(self.buf_mut(), offs::SRC, &addr.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        field::set_bytes(self.buf_mut(), offs::DST, &addr.octets());
    }

    /// Computes and stores the header checksum (RFC 791 §3.1).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::checksum_of(self.header());
        self.set_checksum(sum);
    }

    /// The mutable payload, bounded like [`payload`](Self::payload).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = self.buf().len();
        let end = usize::from(self.total_len()).min(len);
        let start = usize::from(self.header_len()).min(end);
        self.buf_mut().get_mut(start..end).unwrap_or(&mut [])
    }
}

/// High-level representation of an unfragmented IPv4 header without options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Payload protocol (see [`super::ip_protocol`]).
    pub protocol: u8,
    /// Payload length in bytes.
    pub payload_len: usize,
    /// Time to Live.
    pub hop_limit: u8,
    /// ECN codepoint (RFC 3168 §5), 2 bits.
    pub ecn: u8,
    /// DSCP (RFC 2474 §3), 6 bits.
    pub dscp: u8,
    /// Identification.
    pub ident: u16,
    /// "Don't Fragment" flag.
    pub dont_frag: bool,
}

impl Ipv4Repr {
    /// Length of the header this type emits (no options).
    pub const HEADER_LEN: usize = offs::OPTIONS;

    /// Largest payload that fits the 16-bit Total Length field.
    pub const MAX_PAYLOAD_LEN: usize = 65535 - Self::HEADER_LEN;

    /// Parses a packet, returning the header and exactly `payload_len` bytes
    /// of payload.
    ///
    /// Verifies the version, IHL, that Total Length fits the buffer (extra
    /// trailing bytes, e.g. Ethernet padding, are ignored) and the header
    /// checksum (RFC 1122 §3.2.1.2: silently discard on failure). Options
    /// are skipped (RFC 1122 §3.2.1.8 lets a host ignore unknown options).
    /// A packet with MF set or a non-zero fragment offset is
    /// [`WireError::Fragmented`], as reassembly (RFC 791 §3.2) is not
    /// supported.
    pub fn parse(packet: &[u8]) -> Result<(Ipv4Repr, &[u8])> {
        let view = Ipv4Packet::new_unchecked(packet);
        if packet.is_empty() {
            return Err(WireError::Truncated);
        }
        if view.version() != 4 {
            return Err(WireError::BadVersion);
        }
        view.check_len()?;
        if !view.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        if view.more_frags() || view.frag_offset() != 0 {
            return Err(WireError::Fragmented);
        }
        // check_len guarantees header_len <= total_len <= packet.len().
        let start = usize::from(view.header_len());
        let end = usize::from(view.total_len());
        let payload = packet.get(start..end).ok_or(WireError::Truncated)?;
        let repr = Ipv4Repr {
            src_addr: view.src_addr(),
            dst_addr: view.dst_addr(),
            protocol: view.next_header(),
            payload_len: payload.len(),
            hop_limit: view.hop_limit(),
            ecn: view.ecn(),
            dscp: view.dscp(),
            ident: view.ident(),
            dont_frag: view.dont_frag(),
        };
        Ok((repr, payload))
    }

    /// Length of the emitted header.
    pub const fn header_len(&self) -> usize {
        Self::HEADER_LEN
    }

    /// Header plus payload length.
    pub const fn total_len(&self) -> usize {
        Self::HEADER_LEN.saturating_add(self.payload_len)
    }

    /// Writes the 20-byte header (checksum included) to the start of `buf`;
    /// Total Length is `20 + payload_len`. `buf` must be at least 20 bytes
    /// (debug-asserted) and `payload_len` at most [`Self::MAX_PAYLOAD_LEN`]
    /// (debug-asserted; saturates in release).
    pub fn emit(&self, buf: &mut [u8]) {
        debug_assert!(buf.len() >= Self::HEADER_LEN, "ipv4 emit: buffer too short");
        debug_assert!(
            self.payload_len <= Self::MAX_PAYLOAD_LEN,
            "ipv4 emit: payload too long"
        );
        let mut p = Ipv4Packet::new_unchecked(buf);
        p.set_version(4);
        p.set_header_len(Self::HEADER_LEN as u8);
        p.set_dscp(self.dscp);
        p.set_ecn(self.ecn);
        p.set_total_len(u16::try_from(self.total_len()).unwrap_or(u16::MAX));
        p.set_ident(self.ident);
        field::set_u16(
            p.buf_mut(),
            offs::FLAGS_FRAG,
            if self.dont_frag { FLAG_DF } else { 0 },
        );
        p.set_hop_limit(self.hop_limit);
        p.set_next_header(self.protocol);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
        p.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 168, 0, 1),
            dst_addr: Ipv4Addr::new(192, 168, 0, 199),
            protocol: 17,
            payload_len: 4,
            hop_limit: 64,
            ecn: 2,
            dscp: 10,
            ident: 0x1234,
            dont_frag: true,
        }
    }

    #[test]
    fn emit_parse() {
        let repr = sample();
        let mut buf = [0u8; 26];
        repr.emit(&mut buf);
        buf[20..24].copy_from_slice(&[1, 2, 3, 4]);
        // Two bytes of trailing padding must be ignored.
        let (parsed, payload) = Ipv4Repr::parse(&buf).unwrap();
        assert_eq!(parsed, repr);
        assert_eq!(payload, &[1, 2, 3, 4]);
        let view = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(view.verify_checksum());
        assert_eq!(view.total_len(), 24);
        assert!(view.options().is_empty());
    }

    #[test]
    fn errors() {
        let repr = sample();
        let mut buf = [0u8; 24];
        repr.emit(&mut buf);
        assert_eq!(Ipv4Repr::parse(&[]), Err(WireError::Truncated));
        assert_eq!(Ipv4Repr::parse(&buf[..23]), Err(WireError::Truncated));
        assert_eq!(Ipv4Repr::parse(&buf[..10]), Err(WireError::Truncated));
        let mut bad = buf;
        bad[0] = 0x65;
        assert_eq!(Ipv4Repr::parse(&bad), Err(WireError::BadVersion));
        let mut bad = buf;
        bad[0] = 0x44;
        assert_eq!(Ipv4Repr::parse(&bad), Err(WireError::Malformed));
        let mut bad = buf;
        bad[15] ^= 1;
        assert_eq!(Ipv4Repr::parse(&bad), Err(WireError::BadChecksum));
        let mut frag = buf;
        let mut p = Ipv4Packet::new_unchecked(&mut frag[..]);
        p.set_more_frags(true);
        p.fill_checksum();
        assert_eq!(Ipv4Repr::parse(&frag), Err(WireError::Fragmented));
        let mut p = Ipv4Packet::new_unchecked(&mut frag[..]);
        p.set_more_frags(false);
        p.set_frag_offset(8);
        p.fill_checksum();
        assert_eq!(p.frag_offset(), 8);
        assert_eq!(Ipv4Repr::parse(&frag), Err(WireError::Fragmented));
    }

    #[test]
    fn options_skipped() {
        // 24-byte header with a NOP NOP NOP EOL option word.
        let mut buf = [0u8; 28];
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        p.set_version(4);
        p.set_header_len(24);
        p.set_total_len(28);
        p.set_hop_limit(1);
        p.set_protocol(6);
        p.set_src_addr(Ipv4Addr::new(1, 2, 3, 4));
        p.set_dst_addr(Ipv4Addr::new(5, 6, 7, 8));
        buf[20..24].copy_from_slice(&[1, 1, 1, 0]);
        buf[24..28].copy_from_slice(&[9, 9, 9, 9]);
        Ipv4Packet::new_unchecked(&mut buf[..]).fill_checksum();
        let view = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(view.options(), &[1, 1, 1, 0]);
        let (repr, payload) = Ipv4Repr::parse(&buf).unwrap();
        assert_eq!(repr.payload_len, 4);
        assert_eq!(payload, &[9, 9, 9, 9]);
    }
}
