//! A family-independent view of the IP layer, as used by the transport
//! protocols: IPv4 (RFC 791) or IPv6 (RFC 8200), chosen by the version
//! nibble on input and by the address family on output.

use super::ipv4::Ipv4Repr;
use super::ipv6::Ipv6Repr;
use super::{Result, WireError};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// High-level representation of an IPv4 or IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRepr {
    /// Source address; its family selects IPv4 or IPv6 on emit.
    pub src_addr: IpAddr,
    /// Destination address (same family as `src_addr`).
    pub dst_addr: IpAddr,
    /// Upper-layer protocol (see [`super::ip_protocol`]).
    pub protocol: u8,
    /// Upper-layer payload length in bytes.
    pub payload_len: usize,
    /// TTL (IPv4) or Hop Limit (IPv6).
    pub hop_limit: u8,
    /// ECN codepoint (RFC 3168 §5), 2 bits.
    pub ecn: u8,
}

impl IpRepr {
    /// Parses an IPv4 or IPv6 packet, dispatching on the version nibble
    /// (RFC 791 §3.1, RFC 8200 §3), and returns the header and the
    /// upper-layer payload. Any other version is [`WireError::BadVersion`].
    pub fn parse(packet: &[u8]) -> Result<(IpRepr, &[u8])> {
        let first = *packet.first().ok_or(WireError::Truncated)?;
        match first >> 4 {
            4 => {
                let (r, payload) = Ipv4Repr::parse(packet)?;
                Ok((IpRepr::from(r), payload))
            }
            6 => {
                let (r, payload) = Ipv6Repr::parse(packet)?;
                Ok((IpRepr::from(r), payload))
            }
            _ => Err(WireError::BadVersion),
        }
    }

    /// Whether this header is IPv6 (by the family of `src_addr`).
    pub const fn is_ipv6(&self) -> bool {
        matches!(self.src_addr, IpAddr::V6(_))
    }

    /// Header length: 20 for IPv4, 40 for IPv6 (family of `src_addr`).
    pub const fn header_len(&self) -> usize {
        if self.is_ipv6() {
            Ipv6Repr::HEADER_LEN
        } else {
            Ipv4Repr::HEADER_LEN
        }
    }

    /// Header plus payload length.
    pub const fn total_len(&self) -> usize {
        self.header_len().saturating_add(self.payload_len)
    }

    /// The IPv4 header this emits: DF set (RFC 1191 path MTU discovery),
    /// Identification 0 (allowed for atomic datagrams, RFC 6864 §4.1),
    /// DSCP 0. A non-IPv4 destination is mapped with
    /// [`Ipv6Addr::to_ipv4_mapped`] or else unspecified.
    pub fn to_ipv4(&self) -> Ipv4Repr {
        Ipv4Repr {
            src_addr: to_v4(&self.src_addr),
            dst_addr: to_v4(&self.dst_addr),
            protocol: self.protocol,
            payload_len: self.payload_len,
            hop_limit: self.hop_limit,
            ecn: self.ecn,
            dscp: 0,
            ident: 0,
            dont_frag: true,
        }
    }

    /// The IPv6 header this emits: flow label 0, DSCP 0. An IPv4 address is
    /// mapped with [`Ipv4Addr::to_ipv6_mapped`].
    pub fn to_ipv6(&self) -> Ipv6Repr {
        Ipv6Repr {
            src_addr: to_v6(&self.src_addr),
            dst_addr: to_v6(&self.dst_addr),
            next_header: self.protocol,
            payload_len: self.payload_len,
            hop_limit: self.hop_limit,
            ecn: self.ecn,
            dscp: 0,
            flow_label: 0,
        }
    }

    /// Writes the header (20 or 40 bytes, by the family of `src_addr`) to
    /// the start of `buf`. IPv4: DF set, Identification 0; IPv6: flow label
    /// 0. `buf` must hold [`header_len`](Self::header_len) bytes
    /// (debug-asserted).
    pub fn emit(&self, buf: &mut [u8]) {
        debug_assert_eq!(
            self.src_addr.is_ipv6(),
            self.dst_addr.is_ipv6(),
            "ip emit: mixed address families"
        );
        if self.is_ipv6() {
            self.to_ipv6().emit(buf);
        } else {
            self.to_ipv4().emit(buf);
        }
    }
}

fn to_v4(addr: &IpAddr) -> Ipv4Addr {
    match addr {
        IpAddr::V4(a) => *a,
        IpAddr::V6(a) => a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
    }
}

fn to_v6(addr: &IpAddr) -> Ipv6Addr {
    match addr {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => *a,
    }
}

impl From<Ipv4Repr> for IpRepr {
    fn from(r: Ipv4Repr) -> Self {
        IpRepr {
            src_addr: IpAddr::V4(r.src_addr),
            dst_addr: IpAddr::V4(r.dst_addr),
            protocol: r.protocol,
            payload_len: r.payload_len,
            hop_limit: r.hop_limit,
            ecn: r.ecn,
        }
    }
}

impl From<Ipv6Repr> for IpRepr {
    fn from(r: Ipv6Repr) -> Self {
        IpRepr {
            src_addr: IpAddr::V6(r.src_addr),
            dst_addr: IpAddr::V6(r.dst_addr),
            protocol: r.next_header,
            payload_len: r.payload_len,
            hop_limit: r.hop_limit,
            ecn: r.ecn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_families() {
        for (src, dst) in [
            (
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            ),
            (
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 5)),
            ),
        ] {
            let repr = IpRepr {
                src_addr: src,
                dst_addr: dst,
                protocol: 6,
                payload_len: 2,
                hop_limit: 9,
                ecn: 3,
            };
            let mut buf = [0u8; 42];
            let len = repr.total_len();
            repr.emit(&mut buf);
            let (parsed, payload) = IpRepr::parse(&buf[..len]).unwrap();
            assert_eq!(parsed, repr);
            assert_eq!(payload.len(), 2);
        }
        assert_eq!(IpRepr::parse(&[]), Err(WireError::Truncated));
        assert_eq!(IpRepr::parse(&[0x50; 40]), Err(WireError::BadVersion));
    }
}
