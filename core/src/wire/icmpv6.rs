//! Internet Control Message Protocol for IPv6 (RFC 4443), with the
//! Neighbor Discovery messages of RFC 4861 delegated to [`super::ndp`].
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Message Body                          |
//! ```
//!
//! The checksum covers an IPv6 pseudo header (RFC 4443 §2.3, RFC 8200 §8.1).

use super::checksum;
use super::field;
use super::ip_protocol;
use super::ndp::{self, NdpRepr};
use super::{Result, WireError};
use core::net::{IpAddr, Ipv6Addr};

/// ICMPv6 message types (RFC 4443 §2.1, RFC 4861 §4).
pub mod msg_type {
    /// Destination Unreachable (RFC 4443 §3.1).
    pub const DST_UNREACHABLE: u8 = 1;
    /// Packet Too Big (RFC 4443 §3.2).
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time Exceeded (RFC 4443 §3.3).
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter Problem (RFC 4443 §3.4).
    pub const PARAM_PROBLEM: u8 = 4;
    /// Echo Request (RFC 4443 §4.1).
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo Reply (RFC 4443 §4.2).
    pub const ECHO_REPLY: u8 = 129;
}

/// Destination Unreachable codes (RFC 4443 §3.1).
pub mod dst_unreachable_code {
    /// No route to destination.
    pub const NO_ROUTE: u8 = 0;
    /// Communication with destination administratively prohibited.
    pub const ADMIN_PROHIBITED: u8 = 1;
    /// Beyond scope of source address.
    pub const BEYOND_SCOPE: u8 = 2;
    /// Address unreachable.
    pub const ADDR_UNREACHABLE: u8 = 3;
    /// Port unreachable.
    pub const PORT_UNREACHABLE: u8 = 4;
    /// Source address failed ingress/egress policy.
    pub const FAILED_POLICY: u8 = 5;
    /// Reject route to destination.
    pub const REJECT_ROUTE: u8 = 6;
}

/// Time Exceeded codes (RFC 4443 §3.3).
pub mod time_exceeded_code {
    /// Hop limit exceeded in transit.
    pub const HOP_LIMIT_EXCEEDED: u8 = 0;
    /// Fragment reassembly time exceeded.
    pub const FRAG_REASSEMBLY: u8 = 1;
}

mod offs {
    pub(super) const BODY: usize = 4;
    pub(super) const DATA: usize = 8;
}

/// A zero-copy view of an ICMPv6 message.
#[derive(Debug, Clone)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

super::view_wrapping!(Icmpv6Packet);
super::icmp_header_fields!(Icmpv6Packet);

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Length of the type/code/checksum header (RFC 4443 §2.1).
    pub const HEADER_LEN: usize = offs::BODY;

    /// Checks that the buffer holds the 4-byte header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < Self::HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// MTU (Packet Too Big, RFC 4443 §3.2).
    pub fn pkt_too_big_mtu(&self) -> u32 {
        field::u32_at(self.buffer.as_ref(), offs::BODY)
    }

    /// Pointer (Parameter Problem, RFC 4443 §3.4).
    pub fn param_problem_ptr(&self) -> u32 {
        field::u32_at(self.buffer.as_ref(), offs::BODY)
    }

    /// The bytes after the first 8 (echo data or the invoking packet).
    pub fn data(&self) -> &[u8] {
        self.buffer.as_ref().get(offs::DATA..).unwrap_or(&[])
    }

    fn sum_with_pseudo(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> u16 {
        let buf = self.buffer.as_ref();
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        checksum::combine(&[
            checksum::pseudo_header(
                &IpAddr::V6(*src),
                &IpAddr::V6(*dst),
                ip_protocol::ICMPV6,
                len,
            ),
            checksum::data(buf),
        ])
    }

    /// Whether the checksum over the pseudo header and the whole buffer
    /// verifies (RFC 4443 §2.3).
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        self.sum_with_pseudo(src, dst) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// Sets the first four body bytes (MTU, pointer, or ident/seq).
    pub fn set_body_word(&mut self, value: u32) {
        field::set_u32(self.buffer.as_mut(), offs::BODY, value);
    }

    /// The mutable bytes after the first 8.
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(offs::DATA..)
            .unwrap_or(&mut [])
    }

    /// Computes and stores the checksum over the pseudo header and the whole
    /// buffer (RFC 4443 §2.3).
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let sum = self.sum_with_pseudo(src, dst);
        self.set_checksum(!sum);
    }
}

/// High-level representation of an ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv6Repr<'a> {
    /// Echo Request (RFC 4443 §4.1).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Echo Reply (RFC 4443 §4.2).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Destination Unreachable (RFC 4443 §3.1).
    DstUnreachable {
        /// Code (see [`dst_unreachable_code`]).
        code: u8,
        /// As much of the invoking packet as fits (RFC 4443 §3.1).
        invoking: &'a [u8],
    },
    /// Packet Too Big (RFC 4443 §3.2).
    PacketTooBig {
        /// MTU of the next-hop link.
        mtu: u32,
        /// As much of the invoking packet as fits.
        invoking: &'a [u8],
    },
    /// Time Exceeded (RFC 4443 §3.3).
    TimeExceeded {
        /// Code (see [`time_exceeded_code`]).
        code: u8,
        /// As much of the invoking packet as fits.
        invoking: &'a [u8],
    },
    /// A Neighbor Discovery message (RFC 4861).
    Ndp(NdpRepr),
    /// Any other message, by type and code only.
    Other {
        /// Message type.
        msg_type: u8,
        /// Message code.
        code: u8,
    },
}

impl<'a> Icmpv6Repr<'a> {
    /// Parses an ICMPv6 message received from `src` to `dst`, verifying the
    /// checksum over the IPv6 pseudo header (RFC 4443 §2.3).
    ///
    /// Error and echo messages need 8 bytes ([`WireError::Truncated`]).
    /// Echo messages with a non-zero code, Redirects and unknown types are
    /// returned as [`Icmpv6Repr::Other`]; NDP messages are validated by
    /// [`NdpRepr::parse`].
    pub fn parse(bytes: &'a [u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> Result<Self> {
        let p = Icmpv6Packet::new_checked(bytes)?;
        if !p.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        let ty = p.msg_type();
        let code = p.msg_code();
        let needs_body = matches!(
            ty,
            msg_type::DST_UNREACHABLE
                | msg_type::PACKET_TOO_BIG
                | msg_type::TIME_EXCEEDED
                | msg_type::ECHO_REQUEST
                | msg_type::ECHO_REPLY
        );
        if needs_body && bytes.len() < offs::DATA {
            return Err(WireError::Truncated);
        }
        let data = bytes.get(offs::DATA..).unwrap_or(&[]);
        Ok(match (ty, code) {
            (msg_type::ECHO_REQUEST, 0) => Icmpv6Repr::EchoRequest {
                ident: p.echo_ident(),
                seq_no: p.echo_seq_no(),
                data,
            },
            (msg_type::ECHO_REPLY, 0) => Icmpv6Repr::EchoReply {
                ident: p.echo_ident(),
                seq_no: p.echo_seq_no(),
                data,
            },
            (msg_type::DST_UNREACHABLE, code) => Icmpv6Repr::DstUnreachable {
                code,
                invoking: data,
            },
            (msg_type::PACKET_TOO_BIG, _) => Icmpv6Repr::PacketTooBig {
                mtu: p.pkt_too_big_mtu(),
                invoking: data,
            },
            (msg_type::TIME_EXCEEDED, code) => Icmpv6Repr::TimeExceeded {
                code,
                invoking: data,
            },
            (
                ndp::msg_type::ROUTER_SOLICIT
                | ndp::msg_type::ROUTER_ADVERT
                | ndp::msg_type::NEIGHBOR_SOLICIT
                | ndp::msg_type::NEIGHBOR_ADVERT,
                _,
            ) => Icmpv6Repr::Ndp(NdpRepr::parse(bytes)?),
            (msg_type, code) => Icmpv6Repr::Other { msg_type, code },
        })
    }

    /// Length of the emitted message.
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv6Repr::EchoRequest { data, .. } | Icmpv6Repr::EchoReply { data, .. } => {
                offs::DATA + data.len()
            }
            Icmpv6Repr::DstUnreachable { invoking, .. }
            | Icmpv6Repr::PacketTooBig { invoking, .. }
            | Icmpv6Repr::TimeExceeded { invoking, .. } => offs::DATA + invoking.len(),
            Icmpv6Repr::Ndp(ndp) => ndp.buffer_len(),
            Icmpv6Repr::Other { .. } => offs::DATA,
        }
    }

    /// Writes the message to `buf[..buffer_len()]` and fills the checksum
    /// for a packet from `src` to `dst`. `buf` must be long enough
    /// (debug-asserted). `Other` is written with a zero 4-byte body.
    ///
    /// The caller keeps error messages within the minimum IPv6 MTU by
    /// trimming `invoking` (RFC 4443 §2.4 (c)).
    pub fn emit(&self, buf: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr) {
        let len = self.buffer_len();
        debug_assert!(buf.len() >= len, "icmpv6 emit: buffer too short");
        let (msg, _) = buf.split_at_mut(len.min(buf.len()));
        let mut p = Icmpv6Packet::new_unchecked(msg);
        let (ty, code, body, data): (u8, u8, u32, &[u8]) = match *self {
            Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (
                msg_type::ECHO_REQUEST,
                0,
                (u32::from(ident) << 16) | u32::from(seq_no),
                data,
            ),
            Icmpv6Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => (
                msg_type::ECHO_REPLY,
                0,
                (u32::from(ident) << 16) | u32::from(seq_no),
                data,
            ),
            Icmpv6Repr::DstUnreachable { code, invoking } => {
                (msg_type::DST_UNREACHABLE, code, 0, invoking)
            }
            Icmpv6Repr::PacketTooBig { mtu, invoking } => {
                (msg_type::PACKET_TOO_BIG, 0, mtu, invoking)
            }
            Icmpv6Repr::TimeExceeded { code, invoking } => {
                (msg_type::TIME_EXCEEDED, code, 0, invoking)
            }
            Icmpv6Repr::Ndp(ndp) => {
                ndp.emit(p.buffer.as_mut());
                p.fill_checksum(src, dst);
                return;
            }
            Icmpv6Repr::Other { msg_type, code } => (msg_type, code, 0, &[][..]),
        };
        p.set_msg_type(ty);
        p.set_msg_code(code);
        p.set_body_word(body);
        field::set_bytes(p.data_mut(), 0, data);
        p.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (Ipv6Addr, Ipv6Addr) {
        (
            "fe80::1".parse().unwrap(),
            "ff02::1:ff00:2".parse().unwrap(),
        )
    }

    #[test]
    fn echo_and_errors_roundtrip() {
        let (src, dst) = addrs();
        let invoking = [0x60u8; 48];
        for repr in [
            Icmpv6Repr::EchoRequest {
                ident: 1,
                seq_no: 2,
                data: b"ping",
            },
            Icmpv6Repr::EchoReply {
                ident: 3,
                seq_no: 4,
                data: b"",
            },
            Icmpv6Repr::DstUnreachable {
                code: dst_unreachable_code::PORT_UNREACHABLE,
                invoking: &invoking,
            },
            Icmpv6Repr::PacketTooBig {
                mtu: 1280,
                invoking: &invoking,
            },
            Icmpv6Repr::TimeExceeded {
                code: 0,
                invoking: &invoking,
            },
            Icmpv6Repr::Other {
                msg_type: msg_type::PARAM_PROBLEM,
                code: 1,
            },
            Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
                target_addr: "fe80::2".parse().unwrap(),
                lladdr: None,
            }),
        ] {
            let mut buf = [0u8; 64];
            let len = repr.buffer_len();
            repr.emit(&mut buf, &src, &dst);
            assert_eq!(Icmpv6Repr::parse(&buf[..len], &src, &dst).unwrap(), repr);
            // The checksum binds the addresses.
            let other: Ipv6Addr = "fe80::3".parse().unwrap();
            assert_eq!(
                Icmpv6Repr::parse(&buf[..len], &other, &dst),
                Err(WireError::BadChecksum)
            );
        }
    }

    #[test]
    fn short_messages() {
        let (src, dst) = addrs();
        assert_eq!(
            Icmpv6Repr::parse(&[128, 0, 0], &src, &dst),
            Err(WireError::Truncated)
        );
        let mut buf = [128u8, 0, 0, 0];
        Icmpv6Packet::new_unchecked(&mut buf[..]).fill_checksum(&src, &dst);
        assert_eq!(
            Icmpv6Repr::parse(&buf, &src, &dst),
            Err(WireError::Truncated)
        );
    }
}
