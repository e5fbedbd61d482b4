//! Ethernet II framing (IEEE 802.3, "DIX" Ethernet as used by RFC 894 and
//! RFC 2464).
//!
//! ```text
//!  0                   6                  12       14
//! +-------------------+-------------------+--------+---------
//! | destination (6)   | source (6)        | type(2)| payload
//! +-------------------+-------------------+--------+---------
//! ```
//!
//! The frame check sequence is not part of the buffers handled here; it is
//! generated and stripped by the hardware.

use super::field;
use super::{Result, WireError};
use core::fmt;

/// A 48-bit IEEE 802 MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// The broadcast address `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

    /// Builds an address from the first six bytes of `bytes`, or `None` if
    /// fewer are available.
    pub fn from_bytes(bytes: &[u8]) -> Option<EthernetAddress> {
        let b: &[u8; 6] = bytes.get(..6)?.try_into().ok()?;
        Some(EthernetAddress(*b))
    }

    /// The address as bytes.
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// Whether this is the broadcast address.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Whether the group bit (least significant bit of the first octet) is
    /// set; this includes the broadcast address (IEEE 802-2014 §8.2).
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Whether this is an individual (unicast) address.
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// Whether the locally-administered bit is set.
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl From<[u8; 6]> for EthernetAddress {
    fn from(bytes: [u8; 6]) -> Self {
        EthernetAddress(bytes)
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// EtherType values (IEEE "EtherType" registry).
pub mod ethertype {
    /// Internet Protocol version 4 (RFC 894).
    pub const IPV4: u16 = 0x0800;
    /// Address Resolution Protocol (RFC 826).
    pub const ARP: u16 = 0x0806;
    /// Internet Protocol version 6 (RFC 2464 §3).
    pub const IPV6: u16 = 0x86DD;
}

mod offs {
    pub(super) const DST: usize = 0;
    pub(super) const SRC: usize = 6;
    pub(super) const ETHERTYPE: usize = 12;
    pub(super) const PAYLOAD: usize = 14;
}

/// A zero-copy view of an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

super::view_wrapping!(EthernetFrame);

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Length of the Ethernet II header.
    pub const HEADER_LEN: usize = offs::PAYLOAD;

    /// Checks that the buffer holds at least the 14-byte header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < Self::HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// Total frame length for a payload of `payload_len` bytes.
    pub const fn buffer_len(payload_len: usize) -> usize {
        Self::HEADER_LEN.saturating_add(payload_len)
    }

    /// Destination MAC address.
    pub fn dst_addr(&self) -> EthernetAddress {
        EthernetAddress(field::array_at(self.buffer.as_ref(), offs::DST))
    }

    /// Source MAC address.
    pub fn src_addr(&self) -> EthernetAddress {
        EthernetAddress(field::array_at(self.buffer.as_ref(), offs::SRC))
    }

    /// EtherType of the payload (see [`ethertype`]).
    pub fn ethertype(&self) -> u16 {
        field::u16_at(self.buffer.as_ref(), offs::ETHERTYPE)
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(offs::PAYLOAD..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC address.
    pub fn set_dst_addr(&mut self, addr: EthernetAddress) {
        field::set_bytes(self.buffer.as_mut(), offs::DST, &addr.0);
    }

    /// Sets the source MAC address.
    pub fn set_src_addr(&mut self, addr: EthernetAddress) {
        field::set_bytes(self.buffer.as_mut(), offs::SRC, &addr.0);
    }

    /// Sets the EtherType.
    pub fn set_ethertype(&mut self, value: u16) {
        field::set_u16(self.buffer.as_mut(), offs::ETHERTYPE, value);
    }

    /// The mutable bytes after the header.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(offs::PAYLOAD..)
            .unwrap_or(&mut [])
    }
}

/// High-level representation of an Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    /// Source MAC address.
    pub src_addr: EthernetAddress,
    /// Destination MAC address.
    pub dst_addr: EthernetAddress,
    /// EtherType of the payload (see [`ethertype`]).
    pub ethertype: u16,
}

impl EthernetRepr {
    /// Length of the Ethernet II header.
    pub const HEADER_LEN: usize = offs::PAYLOAD;

    /// Parses a frame, returning the header and the payload.
    pub fn parse(frame: &[u8]) -> Result<(EthernetRepr, &[u8])> {
        let view = EthernetFrame::new_checked(frame)?;
        let repr = EthernetRepr {
            src_addr: view.src_addr(),
            dst_addr: view.dst_addr(),
            ethertype: view.ethertype(),
        };
        Ok((repr, frame.get(Self::HEADER_LEN..).unwrap_or(&[])))
    }

    /// Writes the 14-byte header to the start of `buf`.
    ///
    /// `buf` must be at least [`Self::HEADER_LEN`] long (checked with a
    /// debug assertion; a short buffer is written partially in release).
    pub fn emit(&self, buf: &mut [u8]) {
        debug_assert!(
            buf.len() >= Self::HEADER_LEN,
            "ethernet emit: buffer too short"
        );
        let mut frame = EthernetFrame::new_unchecked(buf);
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn address_classes_and_display() {
        let a = EthernetAddress([0x02, 0x00, 0x5e, 0x10, 0xab, 0xff]);
        assert!(a.is_unicast() && a.is_local() && !a.is_multicast());
        assert_eq!(a.to_string(), "02:00:5e:10:ab:ff");
        assert!(EthernetAddress::BROADCAST.is_broadcast());
        assert!(EthernetAddress::BROADCAST.is_multicast());
        assert!(EthernetAddress([0x33, 0x33, 0, 0, 0, 1]).is_multicast());
        assert_eq!(EthernetAddress::from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn parse_emit() {
        let bytes = [
            1, 2, 3, 4, 5, 6, 0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0x08, 0x06, 0xaa, 0xbb,
        ];
        let (repr, payload) = EthernetRepr::parse(&bytes).unwrap();
        assert_eq!(repr.dst_addr, EthernetAddress([1, 2, 3, 4, 5, 6]));
        assert_eq!(
            repr.src_addr,
            EthernetAddress([0xa, 0xb, 0xc, 0xd, 0xe, 0xf])
        );
        assert_eq!(repr.ethertype, ethertype::ARP);
        assert_eq!(payload, &[0xaa, 0xbb]);
        let mut out = [0u8; 14];
        repr.emit(&mut out);
        assert_eq!(&out[..], &bytes[..14]);
        assert_eq!(EthernetRepr::parse(&bytes[..13]), Err(WireError::Truncated));
    }
}
