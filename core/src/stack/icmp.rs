//! ICMP and ICMPv6 input: echo replies (RFC 792, RFC 4443 §4) and errors mapped onto the
//! connection they quote (RFC 1122 §4.2.3.9 soft errors, RFC 1191 / RFC 8201 path MTU,
//! RFC 5927 sequence validation).

use alloc::vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::table::FourTuple;
use super::{Control, Stack};
use crate::tcp::SeqNumber;
use crate::wire::icmpv4::dst_unreachable_code;
use crate::wire::{ip_protocol, Icmpv4Repr, Icmpv6Repr, IpRepr, WireError};
use crate::{DropReason, Instant};

/// ICMP type numbers used in the `(type, code)` pairs recorded as soft errors.
const ICMPV4_DST_UNREACHABLE: u8 = 3;
const ICMPV4_TIME_EXCEEDED: u8 = 11;
const ICMPV6_DST_UNREACHABLE: u8 = 1;
const ICMPV6_TIME_EXCEEDED: u8 = 3;

/// The TCP fields quoted in an ICMP error: our address/port, theirs, and the sequence number.
struct Quoted {
    tuple: FourTuple,
    seq: SeqNumber,
}

/// Reads the quoted IPv4 header and the first 8 bytes of TCP (RFC 792: at least 64 bits).
fn quoted_v4(invoking: &[u8]) -> Option<Quoted> {
    let ihl = usize::from(*invoking.first()? & 0x0f) * 4;
    if invoking.first()? >> 4 != 4 || ihl < 20 || *invoking.get(9)? != ip_protocol::TCP {
        return None;
    }
    let src = Ipv4Addr::from(<[u8; 4]>::try_from(invoking.get(12..16)?).ok()?);
    let dst = Ipv4Addr::from(<[u8; 4]>::try_from(invoking.get(16..20)?).ok()?);
    quoted_tcp(IpAddr::V4(src), IpAddr::V4(dst), invoking.get(ihl..)?)
}

/// Reads the quoted IPv6 header (no extension headers) and the first 8 bytes of TCP.
fn quoted_v6(invoking: &[u8]) -> Option<Quoted> {
    if invoking.first()? >> 4 != 6 || *invoking.get(6)? != ip_protocol::TCP {
        return None;
    }
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(invoking.get(8..24)?).ok()?);
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(invoking.get(24..40)?).ok()?);
    quoted_tcp(IpAddr::V6(src), IpAddr::V6(dst), invoking.get(40..)?)
}

fn quoted_tcp(src: IpAddr, dst: IpAddr, tcp: &[u8]) -> Option<Quoted> {
    let h = tcp.get(..8)?;
    let sport = u16::from_be_bytes([h[0], h[1]]);
    let dport = u16::from_be_bytes([h[2], h[3]]);
    let seq = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    Some(Quoted {
        tuple: FourTuple {
            local: SocketAddr::new(src, sport),
            remote: SocketAddr::new(dst, dport),
        },
        seq: SeqNumber(seq),
    })
}

fn icmp_error(e: WireError) -> DropReason {
    match e {
        WireError::BadChecksum => DropReason::BadChecksum,
        _ => DropReason::IcmpIgnored,
    }
}

impl Stack {
    pub(super) fn input_icmpv4(
        &mut self,
        now: Instant,
        ip: &IpRepr,
        payload: &[u8],
    ) -> Result<(), DropReason> {
        let msg = Icmpv4Repr::parse(payload).map_err(icmp_error)?;
        match msg {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                let reply = Icmpv4Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                let mut body = vec![0u8; reply.buffer_len()];
                reply.emit(&mut body);
                self.queue_echo_reply(ip, crate::wire::ip_protocol::ICMP, body)
            }
            Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu,
                invoking,
            } => {
                let mtu = (code == dst_unreachable_code::FRAG_NEEDED).then_some(next_hop_mtu);
                // RFC 1191 §5: a router that does not fill in the MTU leaves zero; skip it.
                if mtu == Some(0) {
                    return Err(DropReason::IcmpIgnored);
                }
                self.apply_icmp_error(
                    now,
                    quoted_v4(invoking),
                    (ICMPV4_DST_UNREACHABLE, code),
                    mtu,
                )
            }
            Icmpv4Repr::TimeExceeded { code, invoking } => {
                self.apply_icmp_error(now, quoted_v4(invoking), (ICMPV4_TIME_EXCEEDED, code), None)
            }
            _ => Err(DropReason::IcmpIgnored),
        }
    }

    pub(super) fn input_icmpv6(
        &mut self,
        now: Instant,
        ip: &IpRepr,
        payload: &[u8],
    ) -> Result<(), DropReason> {
        let (IpAddr::V6(src), IpAddr::V6(dst)) = (ip.src_addr, ip.dst_addr) else {
            return Err(DropReason::BadAddress);
        };
        let msg = Icmpv6Repr::parse(payload, &src, &dst).map_err(icmp_error)?;
        match msg {
            Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                let reply = Icmpv6Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                let mut body = vec![0u8; reply.buffer_len()];
                reply.emit(&mut body, &dst, &src);
                self.queue_echo_reply(ip, ip_protocol::ICMPV6, body)
            }
            Icmpv6Repr::PacketTooBig { mtu, invoking } => {
                let mtu = u16::try_from(mtu).unwrap_or(u16::MAX);
                self.apply_icmp_error(now, quoted_v6(invoking), (2, 0), Some(mtu))
            }
            Icmpv6Repr::DstUnreachable { code, invoking } => self.apply_icmp_error(
                now,
                quoted_v6(invoking),
                (ICMPV6_DST_UNREACHABLE, code),
                None,
            ),
            Icmpv6Repr::TimeExceeded { code, invoking } => {
                self.apply_icmp_error(now, quoted_v6(invoking), (ICMPV6_TIME_EXCEEDED, code), None)
            }
            _ => Err(DropReason::IcmpIgnored),
        }
    }

    fn queue_echo_reply(
        &mut self,
        ip: &IpRepr,
        protocol: u8,
        body: alloc::vec::Vec<u8>,
    ) -> Result<(), DropReason> {
        // The reply must fit the MTU; larger requests are not answered.
        if body.len() + ip.header_len() > self.shared.cfg.mtu {
            return Err(DropReason::IcmpIgnored);
        }
        if !super::is_unicast(ip.src_addr) {
            return Err(DropReason::BadAddress);
        }
        let c = Control::Icmp {
            src: ip.dst_addr,
            dst: ip.src_addr,
            protocol,
            body,
        };
        if !self.shared.queue_control(c) {
            return Err(DropReason::ControlQueueFull);
        }
        self.shared.stats.icmp_echo_replies += 1;
        Ok(())
    }

    fn apply_icmp_error(
        &mut self,
        now: Instant,
        quoted: Option<Quoted>,
        kind: (u8, u8),
        mtu: Option<u16>,
    ) -> Result<(), DropReason> {
        let q = quoted.ok_or(DropReason::IcmpIgnored)?;
        let index = self.conns.lookup(&q.tuple).ok_or(DropReason::IcmpIgnored)?;
        let applied = self
            .with_conn(now, index, |c, _| c.handle_icmp_error(q.seq, kind, mtu))
            .unwrap_or(false);
        if !applied {
            return Err(DropReason::IcmpIgnored);
        }
        self.shared.stats.icmp_errors_applied += 1;
        Ok(())
    }
}
