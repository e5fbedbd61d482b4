//! Address Resolution Protocol (RFC 826), Ethernet/IPv4 only.
//!
//! ```text
//!  0        2        4    5    6        8
//! +--------+--------+----+----+--------+
//! | htype  | ptype  |hlen|plen| oper   |
//! +--------+--------+----+----+--------+---------------------------+
//! | sender hardware address (hlen) | sender protocol address (plen)|
//! | target hardware address (hlen) | target protocol address (plen)|
//! +--------------------------------+-------------------------------+
//! ```

use super::ethernet::{ethertype, EthernetAddress};
use super::field;
use super::{Result, WireError};
use core::net::Ipv4Addr;

/// Hardware type for Ethernet (RFC 826 "ar$hrd", IANA ARP parameters).
pub const HARDWARE_ETHERNET: u16 = 1;

/// An ARP operation code (RFC 826 "ar$op").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    /// `ares_op$REQUEST` (1).
    Request,
    /// `ares_op$REPLY` (2).
    Reply,
    /// Any other operation code.
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    fn from(value: u16) -> Self {
        match value {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            other => ArpOperation::Unknown(other),
        }
    }
}

impl From<ArpOperation> for u16 {
    fn from(op: ArpOperation) -> u16 {
        match op {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(other) => other,
        }
    }
}

mod offs {
    pub(super) const HTYPE: usize = 0;
    pub(super) const PTYPE: usize = 2;
    pub(super) const HLEN: usize = 4;
    pub(super) const PLEN: usize = 5;
    pub(super) const OPER: usize = 6;
    pub(super) const SHA: usize = 8;
}

/// A zero-copy view of an ARP packet with arbitrary address lengths.
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

super::view_wrapping!(ArpPacket);

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Length of the fixed part preceding the addresses.
    pub const FIXED_LEN: usize = offs::SHA;

    /// Checks the buffer length against the address length fields.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < Self::FIXED_LEN || len < self.packet_len() {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// Length of the packet as implied by its address length fields.
    pub fn packet_len(&self) -> usize {
        let h = usize::from(self.hardware_len());
        let p = usize::from(self.protocol_len());
        Self::FIXED_LEN + 2 * (h + p)
    }

    /// Hardware type (1 for Ethernet).
    pub fn hardware_type(&self) -> u16 {
        field::u16_at(self.buffer.as_ref(), offs::HTYPE)
    }

    /// Protocol type (an EtherType; 0x0800 for IPv4).
    pub fn protocol_type(&self) -> u16 {
        field::u16_at(self.buffer.as_ref(), offs::PTYPE)
    }

    /// Hardware address length in bytes.
    pub fn hardware_len(&self) -> u8 {
        field::u8_at(self.buffer.as_ref(), offs::HLEN)
    }

    /// Protocol address length in bytes.
    pub fn protocol_len(&self) -> u8 {
        field::u8_at(self.buffer.as_ref(), offs::PLEN)
    }

    /// Operation code.
    pub fn operation(&self) -> ArpOperation {
        ArpOperation::from(field::u16_at(self.buffer.as_ref(), offs::OPER))
    }

    fn slice(&self, start: usize, len: u8) -> &[u8] {
        let end = start + usize::from(len);
        self.buffer.as_ref().get(start..end).unwrap_or(&[])
    }

    fn spa_off(&self) -> usize {
        offs::SHA + usize::from(self.hardware_len())
    }

    fn tha_off(&self) -> usize {
        self.spa_off() + usize::from(self.protocol_len())
    }

    fn tpa_off(&self) -> usize {
        self.tha_off() + usize::from(self.hardware_len())
    }

    /// Sender hardware address bytes.
    pub fn source_hardware_addr(&self) -> &[u8] {
        self.slice(offs::SHA, self.hardware_len())
    }

    /// Sender protocol address bytes.
    pub fn source_protocol_addr(&self) -> &[u8] {
        self.slice(self.spa_off(), self.protocol_len())
    }

    /// Target hardware address bytes.
    pub fn target_hardware_addr(&self) -> &[u8] {
        self.slice(self.tha_off(), self.hardware_len())
    }

    /// Target protocol address bytes.
    pub fn target_protocol_addr(&self) -> &[u8] {
        self.slice(self.tpa_off(), self.protocol_len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets the hardware type.
    pub fn set_hardware_type(&mut self, value: u16) {
        field::set_u16(self.buffer.as_mut(), offs::HTYPE, value);
    }

    /// Sets the protocol type.
    pub fn set_protocol_type(&mut self, value: u16) {
        field::set_u16(self.buffer.as_mut(), offs::PTYPE, value);
    }

    /// Sets the hardware address length.
    pub fn set_hardware_len(&mut self, value: u8) {
        field::set_u8(self.buffer.as_mut(), offs::HLEN, value);
    }

    /// Sets the protocol address length.
    pub fn set_protocol_len(&mut self, value: u8) {
        field::set_u8(self.buffer.as_mut(), offs::PLEN, value);
    }

    /// Sets the operation code.
    pub fn set_operation(&mut self, op: ArpOperation) {
        field::set_u16(self.buffer.as_mut(), offs::OPER, op.into());
    }

    /// Sets the sender hardware address (length from the length field).
    pub fn set_source_hardware_addr(&mut self, addr: &[u8]) {
        field::set_bytes(self.buffer.as_mut(), offs::SHA, addr);
    }

    /// Sets the sender protocol address (set the lengths first).
    pub fn set_source_protocol_addr(&mut self, addr: &[u8]) {
        let at = self.spa_off();
        field::set_bytes(self.buffer.as_mut(), at, addr);
    }

    /// Sets the target hardware address (set the lengths first).
    pub fn set_target_hardware_addr(&mut self, addr: &[u8]) {
        let at = self.tha_off();
        field::set_bytes(self.buffer.as_mut(), at, addr);
    }

    /// Sets the target protocol address (set the lengths first).
    pub fn set_target_protocol_addr(&mut self, addr: &[u8]) {
        let at = self.tpa_off();
        field::set_bytes(self.buffer.as_mut(), at, addr);
    }
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    /// Request, reply or other.
    pub operation: ArpOperation,
    /// Sender hardware address ("ar$sha").
    pub source_hardware_addr: EthernetAddress,
    /// Sender protocol address ("ar$spa").
    pub source_protocol_addr: Ipv4Addr,
    /// Target hardware address ("ar$tha"); ignored in requests.
    pub target_hardware_addr: EthernetAddress,
    /// Target protocol address ("ar$tpa").
    pub target_protocol_addr: Ipv4Addr,
}

impl ArpRepr {
    /// Length of an Ethernet/IPv4 ARP packet.
    pub const LEN: usize = 28;

    /// Parses an ARP packet (trailing Ethernet padding is ignored).
    ///
    /// Packets for hardware other than Ethernet or protocols other than IPv4
    /// are [`WireError::Unsupported`] (RFC 826: "if the pair <protocol type,
    /// sender protocol address> is not understood, discard").
    pub fn parse(bytes: &[u8]) -> Result<ArpRepr> {
        let packet = ArpPacket::new_checked(bytes)?;
        if packet.hardware_type() != HARDWARE_ETHERNET
            || packet.protocol_type() != ethertype::IPV4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(WireError::Unsupported);
        }
        let mac = |b: &[u8]| EthernetAddress::from_bytes(b).ok_or(WireError::Truncated);
        let ip = |b: &[u8]| -> Result<Ipv4Addr> {
            let a: [u8; 4] = b.try_into().map_err(|_| WireError::Truncated)?;
            Ok(Ipv4Addr::from(a))
        };
        Ok(ArpRepr {
            operation: packet.operation(),
            source_hardware_addr: mac(packet.source_hardware_addr())?,
            source_protocol_addr: ip(packet.source_protocol_addr())?,
            target_hardware_addr: mac(packet.target_hardware_addr())?,
            target_protocol_addr: ip(packet.target_protocol_addr())?,
        })
    }

    /// Length of the emitted packet.
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// Writes the 28-byte packet to the start of `buf` (debug-asserted to be
    /// long enough).
    pub fn emit(&self, buf: &mut [u8]) {
        debug_assert!(buf.len() >= Self::LEN, "arp emit: buffer too short");
        let mut packet = ArpPacket::new_unchecked(buf);
        packet.set_hardware_type(HARDWARE_ETHERNET);
        packet.set_protocol_type(ethertype::IPV4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_source_hardware_addr(&self.source_hardware_addr.0);
        packet.set_source_protocol_addr(&self.source_protocol_addr.octets());
        packet.set_target_hardware_addr(&self.target_hardware_addr.0);
        packet.set_target_protocol_addr(&self.target_protocol_addr.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // htype ptype hlen plen op
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 0, 0, 1, // sha spa
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 0, 0, 2, // tha tpa
    ];

    #[test]
    fn parse_emit_request() {
        let repr = ArpRepr::parse(&REQUEST).unwrap();
        assert_eq!(repr.operation, ArpOperation::Request);
        assert_eq!(
            repr.source_hardware_addr,
            EthernetAddress([2, 0, 0, 0, 0, 1])
        );
        assert_eq!(repr.source_protocol_addr, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(repr.target_protocol_addr, Ipv4Addr::new(10, 0, 0, 2));
        let mut out = [0u8; 28];
        repr.emit(&mut out);
        assert_eq!(out, REQUEST);
    }

    #[test]
    fn rejects() {
        assert_eq!(ArpRepr::parse(&REQUEST[..27]), Err(WireError::Truncated));
        assert_eq!(ArpRepr::parse(&REQUEST[..3]), Err(WireError::Truncated));
        let mut other = REQUEST;
        other[1] = 6;
        assert_eq!(ArpRepr::parse(&other), Err(WireError::Unsupported));
        let mut big = [0u8; 8];
        big[4] = 255;
        big[5] = 255;
        assert_eq!(ArpRepr::parse(&big), Err(WireError::Truncated));
    }
}
