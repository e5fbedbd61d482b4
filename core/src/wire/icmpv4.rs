//! Internet Control Message Protocol for IPv4 (RFC 792), with the
//! "Fragmentation Needed" next-hop MTU field of RFC 1191 §4.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Rest of header (type-specific)                |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Data (echo data, or the invoking IP header + 64 bits)    |
//! ```

use super::checksum;
use super::field;
use super::{Result, WireError};

/// ICMPv4 message types used here (RFC 792).
pub mod msg_type {
    /// Echo Reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination Unreachable.
    pub const DST_UNREACHABLE: u8 = 3;
    /// Echo Request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time Exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter Problem.
    pub const PARAM_PROBLEM: u8 = 12;
}

/// Destination Unreachable codes (RFC 792; 4 from RFC 1191; 5–12 and 13–15
/// from RFC 1122 §3.2.2.1 and RFC 1812 §5.2.7.1).
pub mod dst_unreachable_code {
    /// Net unreachable.
    pub const NET_UNREACHABLE: u8 = 0;
    /// Host unreachable.
    pub const HOST_UNREACHABLE: u8 = 1;
    /// Protocol unreachable.
    pub const PROTO_UNREACHABLE: u8 = 2;
    /// Port unreachable.
    pub const PORT_UNREACHABLE: u8 = 3;
    /// Fragmentation needed and DF set (carries the next-hop MTU).
    pub const FRAG_NEEDED: u8 = 4;
    /// Source route failed.
    pub const SOURCE_ROUTE_FAILED: u8 = 5;
    /// Destination network unknown.
    pub const DST_NET_UNKNOWN: u8 = 6;
    /// Destination host unknown.
    pub const DST_HOST_UNKNOWN: u8 = 7;
    /// Source host isolated.
    pub const SOURCE_HOST_ISOLATED: u8 = 8;
    /// Communication with destination network administratively prohibited.
    pub const NET_PROHIBITED: u8 = 9;
    /// Communication with destination host administratively prohibited.
    pub const HOST_PROHIBITED: u8 = 10;
    /// Network unreachable for type of service.
    pub const NET_UNREACHABLE_TOS: u8 = 11;
    /// Host unreachable for type of service.
    pub const HOST_UNREACHABLE_TOS: u8 = 12;
    /// Communication administratively prohibited.
    pub const ADMIN_PROHIBITED: u8 = 13;
    /// Host precedence violation.
    pub const HOST_PRECEDENCE_VIOLATION: u8 = 14;
    /// Precedence cutoff in effect.
    pub const PRECEDENCE_CUTOFF: u8 = 15;
}

/// Time Exceeded codes (RFC 792).
pub mod time_exceeded_code {
    /// Time to live exceeded in transit.
    pub const TTL_EXPIRED: u8 = 0;
    /// Fragment reassembly time exceeded.
    pub const FRAG_REASSEMBLY: u8 = 1;
}

mod offs {
    pub(super) const ECHO_IDENT: usize = 4;
    pub(super) const NEXT_HOP_MTU: usize = 6;
    pub(super) const DATA: usize = 8;
}

/// A zero-copy view of an ICMPv4 message.
#[derive(Debug, Clone)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

super::view_wrapping!(Icmpv4Packet);
super::icmp_header_fields!(Icmpv4Packet);

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Length of the header (type, code, checksum, rest of header).
    pub const HEADER_LEN: usize = offs::DATA;

    /// Checks that the buffer holds the 8-byte header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < Self::HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// Next-hop MTU (Destination Unreachable, code 4; RFC 1191 §4).
    pub fn next_hop_mtu(&self) -> u16 {
        field::u16_at(self.buffer.as_ref(), offs::NEXT_HOP_MTU)
    }

    /// The bytes after the 8-byte header.
    pub fn data(&self) -> &[u8] {
        self.buffer.as_ref().get(offs::DATA..).unwrap_or(&[])
    }

    /// Whether the checksum over the whole message verifies (RFC 792).
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Sets the 4-byte "rest of header" field.
    pub fn set_rest_of_header(&mut self, value: u32) {
        field::set_u32(self.buffer.as_mut(), offs::ECHO_IDENT, value);
    }

    /// Sets the next-hop MTU.
    pub fn set_next_hop_mtu(&mut self, value: u16) {
        field::set_u16(self.buffer.as_mut(), offs::NEXT_HOP_MTU, value);
    }

    /// The mutable bytes after the 8-byte header.
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(offs::DATA..)
            .unwrap_or(&mut [])
    }

    /// Computes and stores the checksum over the whole buffer (RFC 792).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::checksum_of(self.buffer.as_ref());
        self.set_checksum(sum);
    }
}

/// High-level representation of an ICMPv4 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv4Repr<'a> {
    /// Echo Request (type 8).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Echo Reply (type 0).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Destination Unreachable (type 3).
    DstUnreachable {
        /// Code (see [`dst_unreachable_code`]).
        code: u8,
        /// Next-hop MTU for code 4 (RFC 1191 §4); for other codes the field
        /// is unused and should be 0 (it is returned as received).
        next_hop_mtu: u16,
        /// The invoking datagram: its IP header plus at least 64 bits of
        /// its data (RFC 792), as received.
        invoking: &'a [u8],
    },
    /// Time Exceeded (type 11).
    TimeExceeded {
        /// Code (see [`time_exceeded_code`]).
        code: u8,
        /// The invoking datagram's IP header plus at least 64 bits of data.
        invoking: &'a [u8],
    },
    /// Any other message, by type and code only.
    Other {
        /// Message type.
        msg_type: u8,
        /// Message code.
        code: u8,
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Parses an ICMPv4 message, verifying its checksum (RFC 792).
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let p = Icmpv4Packet::new_checked(bytes)?;
        if !p.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        let data = bytes.get(offs::DATA..).unwrap_or(&[]);
        Ok(match (p.msg_type(), p.msg_code()) {
            (msg_type::ECHO_REQUEST, 0) => Icmpv4Repr::EchoRequest {
                ident: p.echo_ident(),
                seq_no: p.echo_seq_no(),
                data,
            },
            (msg_type::ECHO_REPLY, 0) => Icmpv4Repr::EchoReply {
                ident: p.echo_ident(),
                seq_no: p.echo_seq_no(),
                data,
            },
            (msg_type::DST_UNREACHABLE, code) => Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu: p.next_hop_mtu(),
                invoking: data,
            },
            (msg_type::TIME_EXCEEDED, code) => Icmpv4Repr::TimeExceeded {
                code,
                invoking: data,
            },
            (msg_type, code) => Icmpv4Repr::Other { msg_type, code },
        })
    }

    /// Length of the emitted message.
    pub fn buffer_len(&self) -> usize {
        let data_len = match self {
            Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => data.len(),
            Icmpv4Repr::DstUnreachable { invoking, .. }
            | Icmpv4Repr::TimeExceeded { invoking, .. } => invoking.len(),
            Icmpv4Repr::Other { .. } => 0,
        };
        offs::DATA + data_len
    }

    /// Writes the message (checksum included) to `buf[..buffer_len()]`.
    /// `buf` must be long enough (debug-asserted). `Other` is written with a
    /// zero "rest of header" and no data.
    pub fn emit(&self, buf: &mut [u8]) {
        let len = self.buffer_len();
        debug_assert!(buf.len() >= len, "icmpv4 emit: buffer too short");
        let (msg, _) = buf.split_at_mut(len.min(buf.len()));
        let mut p = Icmpv4Packet::new_unchecked(msg);
        p.set_rest_of_header(0);
        let (ty, code, data) = match *self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                p.set_echo_ident(ident);
                p.set_echo_seq_no(seq_no);
                (msg_type::ECHO_REQUEST, 0, data)
            }
            Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                p.set_echo_ident(ident);
                p.set_echo_seq_no(seq_no);
                (msg_type::ECHO_REPLY, 0, data)
            }
            Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu,
                invoking,
            } => {
                p.set_next_hop_mtu(next_hop_mtu);
                (msg_type::DST_UNREACHABLE, code, invoking)
            }
            Icmpv4Repr::TimeExceeded { code, invoking } => {
                (msg_type::TIME_EXCEEDED, code, invoking)
            }
            Icmpv4Repr::Other { msg_type, code } => (msg_type, code, &[][..]),
        };
        p.set_msg_type(ty);
        p.set_msg_code(code);
        field::set_bytes(p.data_mut(), 0, data);
        p.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_roundtrip() {
        let repr = Icmpv4Repr::EchoRequest {
            ident: 0x1234,
            seq_no: 7,
            data: b"abcdefg",
        };
        let mut buf = [0u8; 15];
        assert_eq!(repr.buffer_len(), 15);
        repr.emit(&mut buf);
        assert_eq!(Icmpv4Repr::parse(&buf).unwrap(), repr);
        buf[9] ^= 1;
        assert_eq!(Icmpv4Repr::parse(&buf), Err(WireError::BadChecksum));
        assert_eq!(Icmpv4Repr::parse(&buf[..7]), Err(WireError::Truncated));
    }

    #[test]
    fn frag_needed() {
        let invoking = [0x45u8; 28];
        let repr = Icmpv4Repr::DstUnreachable {
            code: dst_unreachable_code::FRAG_NEEDED,
            next_hop_mtu: 1280,
            invoking: &invoking,
        };
        let mut buf = [0u8; 36];
        repr.emit(&mut buf);
        assert_eq!(&buf[4..8], &[0, 0, 5, 0]);
        assert_eq!(Icmpv4Repr::parse(&buf).unwrap(), repr);
    }
}
