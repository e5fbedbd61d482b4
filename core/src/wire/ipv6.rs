//! Internet Protocol version 6 (RFC 8200 §3) and extension-header skipping
//! (RFC 8200 §4).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Source Address (128 bits)                   |
//! |                Destination Address (128 bits)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The Traffic Class octet is split into DSCP and ECN as in RFC 2474 §3 and
//! RFC 3168 §5.

use super::field;
use super::ip_protocol;
use super::{Result, WireError};
use core::net::Ipv6Addr;

mod offs {
    pub(super) const PAYLOAD_LEN: usize = 4;
    pub(super) const NEXT_HEADER: usize = 6;
    pub(super) const HOP_LIMIT: usize = 7;
    pub(super) const SRC: usize = 8;
    pub(super) const DST: usize = 24;
    pub(super) const PAYLOAD: usize = 40;
}

/// A zero-copy view of an IPv6 packet (fixed header).
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

super::view_wrapping!(Ipv6Packet);

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Length of the fixed header.
    pub const HEADER_LEN: usize = offs::PAYLOAD;

    /// Checks that the buffer holds the fixed header and the Payload Length
    /// bytes that follow it (RFC 8200 §3). Jumbograms (RFC 2675) are not
    /// supported: a zero Payload Length means an empty payload.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < Self::HEADER_LEN || len - Self::HEADER_LEN < usize::from(self.payload_len()) {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    fn buf(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn first_word(&self) -> u32 {
        field::u32_at(self.buf(), 0)
    }

    /// Version field (6 for IPv6).
    pub fn version(&self) -> u8 {
        (self.first_word() >> 28) as u8
    }

    /// Traffic Class octet.
    pub fn traffic_class(&self) -> u8 {
        ((self.first_word() >> 20) & 0xff) as u8
    }

    /// DSCP part of the Traffic Class (RFC 2474 §3).
    pub fn dscp(&self) -> u8 {
        self.traffic_class() >> 2
    }

    /// ECN part of the Traffic Class (RFC 3168 §5).
    pub fn ecn(&self) -> u8 {
        self.traffic_class() & 0x03
    }

    /// Flow Label (20 bits, RFC 6437).
    pub fn flow_label(&self) -> u32 {
        self.first_word() & 0x000f_ffff
    }

    /// Payload Length: bytes following the fixed header, extension headers
    /// included.
    pub fn payload_len(&self) -> u16 {
        field::u16_at(self.buf(), offs::PAYLOAD_LEN)
    }

    /// Next Header (first extension header or upper-layer protocol).
    pub fn next_header(&self) -> u8 {
        field::u8_at(self.buf(), offs::NEXT_HEADER)
    }

    /// Hop Limit.
    pub fn hop_limit(&self) -> u8 {
        field::u8_at(self.buf(), offs::HOP_LIMIT)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(field::array_at::<16>(self.buf(), offs::SRC))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(field::array_at::<16>(self.buf(), offs::DST))
    }

    /// Bytes after the fixed header, bounded by Payload Length and clamped
    /// to the buffer.
    pub fn payload(&self) -> &[u8] {
        let buf = self.buf();
        let end = offs::PAYLOAD
            .saturating_add(usize::from(self.payload_len()))
            .min(buf.len());
        buf.get(offs::PAYLOAD.min(end)..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    fn set_first_word(&mut self, w: u32) {
        field::set_u32(self.buffer.as_mut(), 0, w);
    }

    /// Sets the version field.
    pub fn set_version(&mut self, value: u8) {
        let w = (self.first_word() & 0x0fff_ffff) | (u32::from(value & 0x0f) << 28);
        self.set_first_word(w);
    }

    /// Sets the Traffic Class octet.
    pub fn set_traffic_class(&mut self, value: u8) {
        let w = (self.first_word() & 0xf00f_ffff) | (u32::from(value) << 20);
        self.set_first_word(w);
    }

    /// Sets the DSCP (6 bits).
    pub fn set_dscp(&mut self, value: u8) {
        let tc = (self.traffic_class() & 0x03) | (value << 2);
        self.set_traffic_class(tc);
    }

    /// Sets the ECN codepoint (2 bits).
    pub fn set_ecn(&mut self, value: u8) {
        let tc = (self.traffic_class() & 0xfc) | (value & 0x03);
        self.set_traffic_class(tc);
    }

    /// Sets the Flow Label (low 20 bits of `value`).
    pub fn set_flow_label(&mut self, value: u32) {
        let w = (self.first_word() & 0xfff0_0000) | (value & 0x000f_ffff);
        self.set_first_word(w);
    }

    /// Sets Payload Length.
    pub fn set_payload_len(&mut self, value: u16) {
        field::set_u16(self.buffer.as_mut(), offs::PAYLOAD_LEN, value);
    }

    /// Sets Next Header.
    pub fn set_next_header(&mut self, value: u8) {
        field::set_u8(self.buffer.as_mut(), offs::NEXT_HEADER, value);
    }

    /// Sets Hop Limit.
    pub fn set_hop_limit(&mut self, value: u8) {
        field::set_u8(self.buffer.as_mut(), offs::HOP_LIMIT, value);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        field::set_bytes(self.buffer.as_mut(), offs::SRC, &addr.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        field::set_bytes(self.buffer.as_mut(), offs::DST, &addr.octets());
    }

    /// The mutable payload, bounded like [`payload`](Self::payload).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = self.buffer.as_ref().len();
        let end = offs::PAYLOAD
            .saturating_add(usize::from(self.payload_len()))
            .min(len);
        self.buffer
            .as_mut()
            .get_mut(offs::PAYLOAD.min(end)..end)
            .unwrap_or(&mut [])
    }
}

/// Validates the TLV-encoded options of a Hop-by-Hop or Destination Options
/// header (RFC 8200 §4.2). `opts` is the header without its first two bytes.
///
/// Pad1 and PadN are skipped, as is any option whose two high-order type
/// bits are `00` ("skip over this option"). Any other unrecognized option
/// requires discarding the packet: [`WireError::Unsupported`].
fn check_tlv_options(mut opts: &[u8]) -> Result<()> {
    while let Some((&kind, rest)) = opts.split_first() {
        if kind == 0 {
            // Pad1 (RFC 8200 §4.2): a single byte.
            opts = rest;
            continue;
        }
        let (&len, rest) = rest.split_first().ok_or(WireError::Malformed)?;
        let len = usize::from(len);
        if rest.len() < len {
            return Err(WireError::Malformed);
        }
        // PadN (1) and options whose action bits are 00 are skipped.
        if kind != 1 && kind >> 6 != 0 {
            return Err(WireError::Unsupported);
        }
        opts = rest.get(len..).unwrap_or(&[]);
    }
    Ok(())
}

/// Walks the extension headers starting at `payload` with `next_header`,
/// returning the upper-layer protocol and bytes.
fn skip_extension_headers(mut next_header: u8, mut payload: &[u8]) -> Result<(u8, &[u8])> {
    let mut first = true;
    loop {
        match next_header {
            ip_protocol::HOP_BY_HOP
            | ip_protocol::IPV6_ROUTING
            | ip_protocol::IPV6_DEST_OPTIONS => {
                // RFC 8200 §4.3: a Hop-by-Hop header is only allowed
                // immediately after the fixed header.
                if next_header == ip_protocol::HOP_BY_HOP && !first {
                    return Err(WireError::Malformed);
                }
                // Every one of these starts with Next Header and Hdr Ext Len
                // (in 8-octet units, not counting the first 8 octets).
                let (nh, ext_len) = match payload {
                    [nh, ext_len, ..] => (*nh, *ext_len),
                    _ => return Err(WireError::Truncated),
                };
                let len = (usize::from(ext_len) + 1) * 8;
                let header = payload.get(..len).ok_or(WireError::Truncated)?;
                match next_header {
                    ip_protocol::IPV6_ROUTING => {
                        // RFC 8200 §4.4: with Segments Left = 0 the header
                        // is ignored; otherwise the packet is not for us to
                        // consume and no routing type is implemented.
                        if field::u8_at(header, 3) != 0 {
                            return Err(WireError::Unsupported);
                        }
                    }
                    _ => check_tlv_options(header.get(2..).unwrap_or(&[]))?,
                }
                payload = payload.get(len..).unwrap_or(&[]);
                next_header = nh;
            }
            // RFC 8200 §4.5: reassembly is not supported.
            ip_protocol::IPV6_FRAGMENT => return Err(WireError::Fragmented),
            upper => return Ok((upper, payload)),
        }
        first = false;
    }
}

/// High-level representation of an IPv6 header (extension headers skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Upper-layer protocol (after any skipped extension headers).
    pub next_header: u8,
    /// Upper-layer payload length in bytes.
    pub payload_len: usize,
    /// Hop Limit.
    pub hop_limit: u8,
    /// ECN codepoint (RFC 3168 §5), 2 bits.
    pub ecn: u8,
    /// DSCP (RFC 2474 §3), 6 bits.
    pub dscp: u8,
    /// Flow Label (RFC 6437), 20 bits.
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Length of the fixed header.
    pub const HEADER_LEN: usize = offs::PAYLOAD;

    /// Parses the fixed header, then skips Hop-by-Hop (0), Routing (43) and
    /// Destination Options (60) extension headers (RFC 8200 §4).
    ///
    /// A Fragment header (44) yields [`WireError::Fragmented`]. A Routing
    /// header with Segments Left ≠ 0, or an unrecognized option that must
    /// not be skipped (RFC 8200 §4.2), yields [`WireError::Unsupported`].
    /// The returned `next_header` is the upper-layer protocol and the
    /// returned slice (of `payload_len` bytes) is the upper-layer data.
    /// Bytes beyond Payload Length (link-layer padding) are ignored.
    pub fn parse(packet: &[u8]) -> Result<(Ipv6Repr, &[u8])> {
        let view = Ipv6Packet::new_unchecked(packet);
        if packet.is_empty() {
            return Err(WireError::Truncated);
        }
        if view.version() != 6 {
            return Err(WireError::BadVersion);
        }
        view.check_len()?;
        // check_len guarantees the Payload Length bytes are present.
        let end = Self::HEADER_LEN + usize::from(view.payload_len());
        let payload = packet
            .get(Self::HEADER_LEN..end)
            .ok_or(WireError::Truncated)?;
        let (next_header, payload) = skip_extension_headers(view.next_header(), payload)?;
        let repr = Ipv6Repr {
            src_addr: view.src_addr(),
            dst_addr: view.dst_addr(),
            next_header,
            payload_len: payload.len(),
            hop_limit: view.hop_limit(),
            ecn: view.ecn(),
            dscp: view.dscp(),
            flow_label: view.flow_label(),
        };
        Ok((repr, payload))
    }

    /// Length of the emitted header.
    pub const fn header_len(&self) -> usize {
        Self::HEADER_LEN
    }

    /// Writes the 40-byte fixed header to the start of `buf`, with Payload
    /// Length = `payload_len` (debug-asserted to fit 16 bits; saturates in
    /// release). `buf` must be at least 40 bytes (debug-asserted).
    pub fn emit(&self, buf: &mut [u8]) {
        debug_assert!(buf.len() >= Self::HEADER_LEN, "ipv6 emit: buffer too short");
        debug_assert!(self.payload_len <= 65535, "ipv6 emit: payload too long");
        let mut p = Ipv6Packet::new_unchecked(buf);
        p.set_first_word(0);
        p.set_version(6);
        p.set_dscp(self.dscp);
        p.set_ecn(self.ecn);
        p.set_flow_label(self.flow_label);
        p.set_payload_len(u16::try_from(self.payload_len).unwrap_or(u16::MAX));
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn sample(payload_len: usize) -> Ipv6Repr {
        Ipv6Repr {
            src_addr: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
            dst_addr: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
            next_header: 6,
            payload_len,
            hop_limit: 64,
            ecn: 1,
            dscp: 46,
            flow_label: 0xabcde,
        }
    }

    #[test]
    fn emit_parse() {
        let repr = sample(3);
        let mut buf = [0u8; 45];
        repr.emit(&mut buf);
        buf[40..43].copy_from_slice(&[7, 8, 9]);
        let (parsed, payload) = Ipv6Repr::parse(&buf).unwrap();
        assert_eq!(parsed, repr);
        assert_eq!(payload, &[7, 8, 9]);
        assert_eq!(Ipv6Repr::parse(&buf[..42]), Err(WireError::Truncated));
        let mut bad = buf;
        bad[0] = 0x45;
        assert_eq!(Ipv6Repr::parse(&bad), Err(WireError::BadVersion));
    }

    fn with_ext(first_nh: u8, ext: &[u8], upper: &[u8]) -> Vec<u8> {
        let mut repr = sample(ext.len() + upper.len());
        repr.next_header = first_nh;
        let mut buf = alloc::vec![0u8; 40];
        repr.emit(&mut buf);
        buf.extend_from_slice(ext);
        buf.extend_from_slice(upper);
        buf
    }

    #[test]
    fn skips_extension_headers() {
        // Hop-by-Hop (PadN 4) -> Destination Options (Pad1 x6) -> Routing
        // (segments left 0) -> TCP.
        let mut ext = Vec::new();
        ext.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
        ext.extend_from_slice(&[43, 0, 0, 0, 0, 0, 0, 0]);
        ext.extend_from_slice(&[6, 0, 4, 0, 0, 0, 0, 0]);
        let pkt = with_ext(0, &ext, &[1, 2, 3, 4]);
        let (repr, payload) = Ipv6Repr::parse(&pkt).unwrap();
        assert_eq!(repr.next_header, 6);
        assert_eq!(repr.payload_len, 4);
        assert_eq!(payload, &[1, 2, 3, 4]);
    }

    #[test]
    fn extension_header_errors() {
        // Fragment header.
        let pkt = with_ext(44, &[6, 0, 0, 1, 0, 0, 0, 1], &[]);
        assert_eq!(Ipv6Repr::parse(&pkt), Err(WireError::Fragmented));
        // Routing header with segments left = 1.
        let pkt = with_ext(43, &[6, 0, 4, 1, 0, 0, 0, 0], &[]);
        assert_eq!(Ipv6Repr::parse(&pkt), Err(WireError::Unsupported));
        // Hop-by-Hop not first.
        let pkt = with_ext(60, &[0, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0], &[]);
        assert_eq!(Ipv6Repr::parse(&pkt), Err(WireError::Malformed));
        // Extension header longer than the payload.
        let pkt = with_ext(60, &[6, 1, 1, 4, 0, 0, 0, 0], &[]);
        assert_eq!(Ipv6Repr::parse(&pkt), Err(WireError::Truncated));
        // Option running past its header.
        let pkt = with_ext(60, &[6, 0, 1, 5, 0, 0, 0, 0], &[]);
        assert_eq!(Ipv6Repr::parse(&pkt), Err(WireError::Malformed));
        // Unknown option with "discard" action bits.
        let pkt = with_ext(60, &[6, 0, 0x82, 4, 0, 0, 0, 0], &[]);
        assert_eq!(Ipv6Repr::parse(&pkt), Err(WireError::Unsupported));
        // Unknown option with "skip" action bits is fine.
        let pkt = with_ext(60, &[6, 0, 0x1e, 4, 0, 0, 0, 0], &[]);
        assert!(Ipv6Repr::parse(&pkt).is_ok());
    }
}
