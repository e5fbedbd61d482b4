//! Neighbor Discovery for IPv6 (RFC 4861): Router/Neighbor Solicitation and
//! Advertisement messages, their link-layer address and MTU options, and the
//! multicast address mappings they rely on.
//!
//! NDP messages are ICMPv6 messages (types 133–137); [`NdpRepr`] handles the
//! whole ICMPv6 message except the checksum, which
//! [`Icmpv6Repr`](super::icmpv6::Icmpv6Repr) verifies and fills.
//! Checks that need the IP header (Hop Limit 255, RFC 4861 §6.1 and §7.1)
//! are left to the caller.

use super::ethernet::EthernetAddress;
use super::field;
use super::{Result, WireError};
use core::net::Ipv6Addr;

/// NDP message types (RFC 4861 §4).
pub mod msg_type {
    /// Router Solicitation (RFC 4861 §4.1).
    pub const ROUTER_SOLICIT: u8 = 133;
    /// Router Advertisement (RFC 4861 §4.2).
    pub const ROUTER_ADVERT: u8 = 134;
    /// Neighbor Solicitation (RFC 4861 §4.3).
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// Neighbor Advertisement (RFC 4861 §4.4).
    pub const NEIGHBOR_ADVERT: u8 = 136;
    /// Redirect (RFC 4861 §4.5); not represented by [`super::NdpRepr`].
    pub const REDIRECT: u8 = 137;
}

/// NDP option types (RFC 4861 §4.6).
pub mod option_type {
    /// Source Link-Layer Address (RFC 4861 §4.6.1).
    pub const SOURCE_LLADDR: u8 = 1;
    /// Target Link-Layer Address (RFC 4861 §4.6.1).
    pub const TARGET_LLADDR: u8 = 2;
    /// Prefix Information (RFC 4861 §4.6.2); skipped by this parser.
    pub const PREFIX_INFO: u8 = 3;
    /// Redirected Header (RFC 4861 §4.6.3).
    pub const REDIRECTED_HEADER: u8 = 4;
    /// MTU (RFC 4861 §4.6.4).
    pub const MTU: u8 = 5;
}

/// Neighbor Advertisement flags (RFC 4861 §4.4).
pub mod neighbor_flags {
    /// R: the sender is a router.
    pub const ROUTER: u8 = 0x80;
    /// S: sent in response to a Neighbor Solicitation.
    pub const SOLICITED: u8 = 0x40;
    /// O: override an existing cache entry.
    pub const OVERRIDE: u8 = 0x20;
    /// All defined flags; the remaining bits are reserved and ignored.
    pub const ALL: u8 = ROUTER | SOLICITED | OVERRIDE;
}

/// Router Advertisement flags (RFC 4861 §4.2).
pub mod router_flags {
    /// M: addresses are available via DHCPv6.
    pub const MANAGED: u8 = 0x80;
    /// O: other configuration is available via DHCPv6.
    pub const OTHER: u8 = 0x40;
}

/// Length of the fixed part of each message, ICMPv6 header included.
mod fixed_len {
    pub(super) const ROUTER_SOLICIT: usize = 8;
    pub(super) const ROUTER_ADVERT: usize = 16;
    pub(super) const NEIGHBOR: usize = 24;
}

/// Length of an Ethernet link-layer address option (RFC 2464 §6).
const LLADDR_OPTION_LEN: usize = 8;
/// Length of an MTU option (RFC 4861 §4.6.4).
const MTU_OPTION_LEN: usize = 8;

/// High-level representation of an NDP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdpRepr {
    /// Router Solicitation (RFC 4861 §4.1).
    RouterSolicit {
        /// Source link-layer address option.
        lladdr: Option<EthernetAddress>,
    },
    /// Router Advertisement (RFC 4861 §4.2).
    RouterAdvert {
        /// Cur Hop Limit (0 = unspecified).
        hop_limit: u8,
        /// Flags octet (see [`router_flags`]), as received.
        flags: u8,
        /// Router Lifetime in seconds (0 = not a default router).
        router_lifetime: u16,
        /// Reachable Time in milliseconds (0 = unspecified).
        reachable_time: u32,
        /// Retrans Timer in milliseconds (0 = unspecified).
        retrans_time: u32,
        /// Source link-layer address option.
        lladdr: Option<EthernetAddress>,
        /// MTU option.
        mtu: Option<u32>,
    },
    /// Neighbor Solicitation (RFC 4861 §4.3).
    NeighborSolicit {
        /// Target Address.
        target_addr: Ipv6Addr,
        /// Source link-layer address option.
        lladdr: Option<EthernetAddress>,
    },
    /// Neighbor Advertisement (RFC 4861 §4.4).
    NeighborAdvert {
        /// Flags (see [`neighbor_flags`]): router 0x80, solicited 0x40,
        /// override 0x20.
        flags: u8,
        /// Target Address.
        target_addr: Ipv6Addr,
        /// Target link-layer address option.
        lladdr: Option<EthernetAddress>,
    },
}

/// The options this parser extracts (RFC 4861 §4.6).
#[derive(Default)]
struct Options {
    source_lladdr: Option<EthernetAddress>,
    target_lladdr: Option<EthernetAddress>,
    mtu: Option<u32>,
}

/// Parses NDP options (RFC 4861 §4.6). An option of length 0, or one running
/// past the message, is [`WireError::Malformed`] (§4.6: "silently discard").
/// Unknown options, and link-layer options not of Ethernet size, are skipped
/// (§6.1.1, §7.1.1: "ignore any options they do not recognize").
fn parse_options(mut bytes: &[u8]) -> Result<Options> {
    let mut out = Options::default();
    while !bytes.is_empty() {
        let (kind, units) = match bytes {
            [kind, units, ..] => (*kind, *units),
            _ => return Err(WireError::Malformed),
        };
        if units == 0 {
            return Err(WireError::Malformed);
        }
        let len = usize::from(units) * 8;
        let option = bytes.get(..len).ok_or(WireError::Malformed)?;
        match (kind, len) {
            (option_type::SOURCE_LLADDR, LLADDR_OPTION_LEN) => {
                out.source_lladdr = EthernetAddress::from_bytes(option.get(2..).unwrap_or(&[]));
            }
            (option_type::TARGET_LLADDR, LLADDR_OPTION_LEN) => {
                out.target_lladdr = EthernetAddress::from_bytes(option.get(2..).unwrap_or(&[]));
            }
            (option_type::MTU, MTU_OPTION_LEN) => out.mtu = Some(field::u32_at(option, 4)),
            _ => {}
        }
        bytes = bytes.get(len..).unwrap_or(&[]);
    }
    Ok(out)
}

fn write_lladdr_option(buf: &mut [u8], at: usize, kind: u8, addr: &EthernetAddress) {
    field::set_bytes(buf, at, &[kind, 1]);
    field::set_bytes(buf, at + 2, &addr.0);
}

impl NdpRepr {
    /// Parses a whole NDP message (starting at the ICMPv6 type octet). The
    /// ICMPv6 checksum is **not** verified here (see
    /// [`Icmpv6Repr::parse`](super::icmpv6::Icmpv6Repr::parse)).
    ///
    /// Enforces the length, code 0 and non-multicast target checks of
    /// RFC 4861 §6.1.1, §6.1.2, §7.1.1 and §7.1.2 ([`WireError::Truncated`]
    /// / [`WireError::Malformed`]). Types other than 133–136 are
    /// [`WireError::Unsupported`].
    pub fn parse(bytes: &[u8]) -> Result<NdpRepr> {
        let (ty, code) = match bytes {
            [ty, code, ..] => (*ty, *code),
            _ => return Err(WireError::Truncated),
        };
        let min_len = match ty {
            msg_type::ROUTER_SOLICIT => fixed_len::ROUTER_SOLICIT,
            msg_type::ROUTER_ADVERT => fixed_len::ROUTER_ADVERT,
            msg_type::NEIGHBOR_SOLICIT | msg_type::NEIGHBOR_ADVERT => fixed_len::NEIGHBOR,
            _ => return Err(WireError::Unsupported),
        };
        if bytes.len() < min_len {
            return Err(WireError::Truncated);
        }
        if code != 0 {
            return Err(WireError::Malformed);
        }
        let opts = parse_options(bytes.get(min_len..).unwrap_or(&[]))?;
        let target = || -> Result<Ipv6Addr> {
            let addr = Ipv6Addr::from(field::array_at::<16>(bytes, 8));
            if addr.is_multicast() {
                Err(WireError::Malformed)
            } else {
                Ok(addr)
            }
        };
        Ok(match ty {
            msg_type::ROUTER_SOLICIT => NdpRepr::RouterSolicit {
                lladdr: opts.source_lladdr,
            },
            msg_type::ROUTER_ADVERT => NdpRepr::RouterAdvert {
                hop_limit: field::u8_at(bytes, 4),
                flags: field::u8_at(bytes, 5),
                router_lifetime: field::u16_at(bytes, 6),
                reachable_time: field::u32_at(bytes, 8),
                retrans_time: field::u32_at(bytes, 12),
                lladdr: opts.source_lladdr,
                mtu: opts.mtu,
            },
            msg_type::NEIGHBOR_SOLICIT => NdpRepr::NeighborSolicit {
                target_addr: target()?,
                lladdr: opts.source_lladdr,
            },
            _ => NdpRepr::NeighborAdvert {
                flags: field::u8_at(bytes, 4) & neighbor_flags::ALL,
                target_addr: target()?,
                lladdr: opts.target_lladdr,
            },
        })
    }

    /// The ICMPv6 message type of this message.
    pub const fn msg_type(&self) -> u8 {
        match self {
            NdpRepr::RouterSolicit { .. } => msg_type::ROUTER_SOLICIT,
            NdpRepr::RouterAdvert { .. } => msg_type::ROUTER_ADVERT,
            NdpRepr::NeighborSolicit { .. } => msg_type::NEIGHBOR_SOLICIT,
            NdpRepr::NeighborAdvert { .. } => msg_type::NEIGHBOR_ADVERT,
        }
    }

    /// Length of the emitted message, ICMPv6 header included.
    pub fn buffer_len(&self) -> usize {
        let lladdr_len = |l: &Option<EthernetAddress>| {
            if l.is_some() {
                LLADDR_OPTION_LEN
            } else {
                0
            }
        };
        match self {
            NdpRepr::RouterSolicit { lladdr } => fixed_len::ROUTER_SOLICIT + lladdr_len(lladdr),
            NdpRepr::RouterAdvert { lladdr, mtu, .. } => {
                fixed_len::ROUTER_ADVERT
                    + lladdr_len(lladdr)
                    + if mtu.is_some() { MTU_OPTION_LEN } else { 0 }
            }
            NdpRepr::NeighborSolicit { lladdr, .. } | NdpRepr::NeighborAdvert { lladdr, .. } => {
                fixed_len::NEIGHBOR + lladdr_len(lladdr)
            }
        }
    }

    /// Writes the whole message to `buf[..buffer_len()]` with a **zero**
    /// checksum; use [`Icmpv6Repr::emit`](super::icmpv6::Icmpv6Repr::emit)
    /// to get the checksum filled. `buf` must be long enough
    /// (debug-asserted). Reserved fields are written as zero.
    pub fn emit(&self, buf: &mut [u8]) {
        let len = self.buffer_len();
        debug_assert!(buf.len() >= len, "ndp emit: buffer too short");
        let (buf, _) = buf.split_at_mut(len.min(buf.len()));
        buf.fill(0);
        field::set_u8(buf, 0, self.msg_type());
        match *self {
            NdpRepr::RouterSolicit { lladdr } => {
                if let Some(addr) = lladdr {
                    write_lladdr_option(
                        buf,
                        fixed_len::ROUTER_SOLICIT,
                        option_type::SOURCE_LLADDR,
                        &addr,
                    );
                }
            }
            NdpRepr::RouterAdvert {
                hop_limit,
                flags,
                router_lifetime,
                reachable_time,
                retrans_time,
                lladdr,
                mtu,
            } => {
                field::set_u8(buf, 4, hop_limit);
                field::set_u8(buf, 5, flags);
                field::set_u16(buf, 6, router_lifetime);
                field::set_u32(buf, 8, reachable_time);
                field::set_u32(buf, 12, retrans_time);
                let mut at = fixed_len::ROUTER_ADVERT;
                if let Some(addr) = lladdr {
                    write_lladdr_option(buf, at, option_type::SOURCE_LLADDR, &addr);
                    at += LLADDR_OPTION_LEN;
                }
                if let Some(mtu) = mtu {
                    field::set_bytes(buf, at, &[option_type::MTU, 1]);
                    field::set_u32(buf, at + 4, mtu);
                }
            }
            NdpRepr::NeighborSolicit {
                target_addr,
                lladdr,
            } => {
                field::set_bytes(buf, 8, &target_addr.octets());
                if let Some(addr) = lladdr {
                    write_lladdr_option(
                        buf,
                        fixed_len::NEIGHBOR,
                        option_type::SOURCE_LLADDR,
                        &addr,
                    );
                }
            }
            NdpRepr::NeighborAdvert {
                flags,
                target_addr,
                lladdr,
            } => {
                field::set_u8(buf, 4, flags & neighbor_flags::ALL);
                field::set_bytes(buf, 8, &target_addr.octets());
                if let Some(addr) = lladdr {
                    write_lladdr_option(
                        buf,
                        fixed_len::NEIGHBOR,
                        option_type::TARGET_LLADDR,
                        &addr,
                    );
                }
            }
        }
    }
}

/// The solicited-node multicast address of `addr`: `ff02::1:ff00:0/104`
/// followed by the low 24 bits of `addr` (RFC 4291 §2.7.1).
pub fn solicited_node_multicast(addr: &Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// The Ethernet multicast address for an IPv6 multicast address:
/// `33:33` followed by its low 32 bits (RFC 2464 §7).
pub fn multicast_ethernet(addr: &Ipv6Addr) -> EthernetAddress {
    let o = addr.octets();
    EthernetAddress([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x42]);

    #[test]
    fn multicast_mappings() {
        let a: Ipv6Addr = "fe80::1234:5678:9abc:def0".parse().unwrap();
        let snm = solicited_node_multicast(&a);
        assert_eq!(snm, "ff02::1:ffbc:def0".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            multicast_ethernet(&snm),
            EthernetAddress([0x33, 0x33, 0xff, 0xbc, 0xde, 0xf0])
        );
    }

    #[test]
    fn roundtrips() {
        let target: Ipv6Addr = "2001:db8::1".parse().unwrap();
        for repr in [
            NdpRepr::RouterSolicit { lladdr: None },
            NdpRepr::RouterSolicit { lladdr: Some(MAC) },
            NdpRepr::RouterAdvert {
                hop_limit: 64,
                flags: router_flags::MANAGED,
                router_lifetime: 1800,
                reachable_time: 30000,
                retrans_time: 1000,
                lladdr: Some(MAC),
                mtu: Some(1500),
            },
            NdpRepr::NeighborSolicit {
                target_addr: target,
                lladdr: Some(MAC),
            },
            NdpRepr::NeighborAdvert {
                flags: neighbor_flags::SOLICITED | neighbor_flags::OVERRIDE,
                target_addr: target,
                lladdr: Some(MAC),
            },
        ] {
            let mut buf = [0xaau8; 64];
            repr.emit(&mut buf);
            assert_eq!(NdpRepr::parse(&buf[..repr.buffer_len()]).unwrap(), repr);
        }
    }

    #[test]
    fn option_rules() {
        let target: Ipv6Addr = "fe80::1".parse().unwrap();
        let repr = NdpRepr::NeighborSolicit {
            target_addr: target,
            lladdr: Some(MAC),
        };
        let mut buf = [0u8; 48];
        repr.emit(&mut buf);
        // Zero-length option.
        buf[25] = 0;
        assert_eq!(NdpRepr::parse(&buf[..32]), Err(WireError::Malformed));
        // Option longer than the message.
        buf[25] = 2;
        assert_eq!(NdpRepr::parse(&buf[..32]), Err(WireError::Malformed));
        // An unknown 16-byte option is skipped.
        buf[24] = 200;
        assert_eq!(
            NdpRepr::parse(&buf[..40]).unwrap(),
            NdpRepr::NeighborSolicit {
                target_addr: target,
                lladdr: None
            }
        );
        // Multicast target, nonzero code, short message.
        let mut m = [0u8; 24];
        m[0] = msg_type::NEIGHBOR_SOLICIT;
        m[8] = 0xff;
        assert_eq!(NdpRepr::parse(&m), Err(WireError::Malformed));
        m[8] = 0xfe;
        m[1] = 1;
        assert_eq!(NdpRepr::parse(&m), Err(WireError::Malformed));
        assert_eq!(NdpRepr::parse(&m[..23]), Err(WireError::Truncated));
    }
}
