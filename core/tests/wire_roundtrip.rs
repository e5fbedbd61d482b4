//! Property tests for `sanstcp::wire`: every representation survives
//! emit-then-parse, the fast checksum matches a simple reference, and no
//! parser panics on arbitrary or mutated input.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use proptest::prelude::*;
use sanstcp::wire::{
    self, checksum, ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetRepr,
    Icmpv4Packet, Icmpv4Repr, Icmpv6Packet, Icmpv6Repr, IpRepr, Ipv4Packet, Ipv4Repr, Ipv6Packet,
    Ipv6Repr, NdpRepr, SackBlock, TcpFlags, TcpOptions, TcpPacket, TcpRepr,
};

// ---------------------------------------------------------------- strategies

fn arb_mac() -> impl Strategy<Value = EthernetAddress> {
    any::<[u8; 6]>().prop_map(EthernetAddress)
}

fn arb_v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>().prop_map(Ipv4Addr::from)
}

fn arb_v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

/// A source/destination pair of the same family.
fn arb_ip_pair() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        (arb_v4(), arb_v4()).prop_map(|(a, b)| (IpAddr::V4(a), IpAddr::V4(b))),
        (arb_v6(), arb_v6()).prop_map(|(a, b)| (IpAddr::V6(a), IpAddr::V6(b))),
    ]
}

fn arb_payload(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=max)
}

fn arb_sack_block() -> impl Strategy<Value = SackBlock> {
    (any::<u32>(), any::<u32>()).prop_map(|(left, right)| SackBlock { left, right })
}

fn arb_tcp_options() -> impl Strategy<Value = TcpOptions> {
    (
        prop::option::of(any::<u16>()),
        prop::option::of(0u8..=14),
        any::<bool>(),
        prop::collection::vec(arb_sack_block(), 0..=4),
        prop::option::of((any::<u32>(), any::<u32>())),
    )
        .prop_map(|(mss, window_scale, sack_permitted, blocks, timestamps)| {
            let mut o = TcpOptions {
                mss,
                window_scale,
                sack_permitted,
                timestamps,
                ..TcpOptions::default()
            };
            o.set_sack_blocks(&blocks);
            o
        })
}

fn arb_tcp_flags() -> impl Strategy<Value = TcpFlags> {
    (0u16..=0xff).prop_map(TcpFlags)
}

/// Owned parts of a `TcpRepr` (the payload is borrowed by the repr).
#[derive(Debug, Clone)]
struct TcpParts {
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    urgent: u16,
    options: TcpOptions,
    payload: Vec<u8>,
}

impl TcpParts {
    fn repr(&self) -> TcpRepr<'_> {
        TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            urgent: self.urgent,
            options: self.options,
            payload: &self.payload,
        }
    }
}

fn arb_tcp() -> impl Strategy<Value = TcpParts> {
    (
        (1u16.., 1u16.., any::<u32>(), any::<u32>()),
        (arb_tcp_flags(), any::<u16>(), any::<u16>()),
        arb_tcp_options(),
        arb_payload(300),
    )
        .prop_map(
            |((src_port, dst_port, seq, ack), (flags, window, urgent), options, payload)| {
                TcpParts {
                    src_port,
                    dst_port,
                    seq,
                    ack,
                    flags,
                    window,
                    urgent,
                    options,
                    payload,
                }
            },
        )
}

/// What parsing an emitted `options` must give: SACK blocks that did not
/// fit are dropped.
fn expected_options(options: &TcpOptions) -> TcpOptions {
    let mut o = *options;
    let n = o.sack_emit_count();
    o.set_sack_blocks(&options.sack_blocks()[..n]);
    o
}

// ---------------------------------------------------------------- checksum

/// Byte-pair reference implementation of RFC 1071.
fn reference_sum(bytes: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    for pair in bytes.chunks(2) {
        let hi = u64::from(pair[0]) << 8;
        let lo = pair.get(1).map_or(0, |&b| u64::from(b));
        acc += hi | lo;
    }
    while acc > 0xffff {
        acc = (acc >> 16) + (acc & 0xffff);
    }
    acc as u16
}

#[test]
fn checksum_known_answers() {
    // RFC 1071 §3 numerical example.
    assert_eq!(
        checksum::data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
        0xddf2
    );
    // Odd length: the last byte is padded on the right.
    assert_eq!(checksum::data(&[0x00, 0x01, 0xf2]), 0xf201);
    assert_eq!(checksum::combine(&[0xddf2, 0x220d]), 0xffff);
    assert_eq!(checksum::data(&[0xff; 1500]), 0xffff);
}

proptest! {
    #[test]
    fn checksum_matches_reference(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        prop_assert_eq!(checksum::data(&bytes), reference_sum(&bytes));
    }

    #[test]
    fn checksum_all_ones_input(len in 0usize..300) {
        let bytes = vec![0xffu8; len];
        prop_assert_eq!(checksum::data(&bytes), reference_sum(&bytes));
    }

    #[test]
    fn checksum_combine_at_even_split(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        split in any::<prop::sample::Index>(),
    ) {
        let at = split.index(bytes.len() + 1) & !1;
        let (a, b) = bytes.split_at(at);
        prop_assert_eq!(
            checksum::combine(&[checksum::data(a), checksum::data(b)]),
            checksum::data(&bytes)
        );
    }
}

// ---------------------------------------------------------------- roundtrips

proptest! {
    #[test]
    fn ethernet_roundtrip(src in arb_mac(), dst in arb_mac(), ethertype in any::<u16>(),
                          payload in arb_payload(64)) {
        let repr = EthernetRepr { src_addr: src, dst_addr: dst, ethertype };
        let mut buf = vec![0u8; EthernetRepr::HEADER_LEN + payload.len()];
        repr.emit(&mut buf);
        buf[EthernetRepr::HEADER_LEN..].copy_from_slice(&payload);
        let (parsed, rest) = EthernetRepr::parse(&buf).unwrap();
        prop_assert_eq!(parsed, repr);
        prop_assert_eq!(rest, &payload[..]);
        let frame = EthernetFrame::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(frame.src_addr(), src);
        prop_assert_eq!(frame.dst_addr(), dst);
        prop_assert_eq!(frame.ethertype(), ethertype);
    }

    #[test]
    fn arp_roundtrip(op in any::<u16>(), sha in arb_mac(), spa in arb_v4(),
                     tha in arb_mac(), tpa in arb_v4(), padding in arb_payload(18)) {
        let repr = ArpRepr {
            operation: ArpOperation::from(op),
            source_hardware_addr: sha,
            source_protocol_addr: spa,
            target_hardware_addr: tha,
            target_protocol_addr: tpa,
        };
        let mut buf = vec![0u8; ArpRepr::LEN];
        repr.emit(&mut buf);
        buf.extend_from_slice(&padding);
        prop_assert_eq!(ArpRepr::parse(&buf).unwrap(), repr);
        prop_assert_eq!(u16::from(repr.operation), op);
    }

    #[test]
    fn ipv4_roundtrip(src in arb_v4(), dst in arb_v4(), protocol in any::<u8>(),
                      hop_limit in any::<u8>(), ecn in 0u8..4, dscp in 0u8..64,
                      ident in any::<u16>(), dont_frag in any::<bool>(),
                      payload in arb_payload(200), padding in arb_payload(8)) {
        let repr = Ipv4Repr {
            src_addr: src, dst_addr: dst, protocol, payload_len: payload.len(),
            hop_limit, ecn, dscp, ident, dont_frag,
        };
        let mut buf = vec![0u8; Ipv4Repr::HEADER_LEN];
        repr.emit(&mut buf);
        buf.extend_from_slice(&payload);
        buf.extend_from_slice(&padding);
        let (parsed, rest) = Ipv4Repr::parse(&buf).unwrap();
        prop_assert_eq!(parsed, repr);
        prop_assert_eq!(rest, &payload[..]);
        let view = Ipv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(view.verify_checksum());
        prop_assert_eq!(usize::from(view.total_len()), 20 + payload.len());
    }

    #[test]
    fn ipv6_roundtrip(src in arb_v6(), dst in arb_v6(),
                      next_header in any::<u8>().prop_filter("not an extension header",
                          |n| ![0u8, 43, 44, 60].contains(n)),
                      hop_limit in any::<u8>(), ecn in 0u8..4, dscp in 0u8..64,
                      flow_label in 0u32..(1 << 20),
                      payload in arb_payload(200), padding in arb_payload(8)) {
        let repr = Ipv6Repr {
            src_addr: src, dst_addr: dst, next_header, payload_len: payload.len(),
            hop_limit, ecn, dscp, flow_label,
        };
        let mut buf = vec![0u8; Ipv6Repr::HEADER_LEN];
        repr.emit(&mut buf);
        buf.extend_from_slice(&payload);
        buf.extend_from_slice(&padding);
        let (parsed, rest) = Ipv6Repr::parse(&buf).unwrap();
        prop_assert_eq!(parsed, repr);
        prop_assert_eq!(rest, &payload[..]);
    }

    /// Extension headers (Hop-by-Hop first, then any mix of Destination
    /// Options and Routing with Segments Left 0) are skipped.
    #[test]
    fn ipv6_extension_headers_skipped(
        src in arb_v6(), dst in arb_v6(),
        hbh in any::<bool>(),
        exts in prop::collection::vec((prop_oneof![Just(43u8), Just(60u8)], 0u8..3), 0..4),
        payload in arb_payload(64),
    ) {
        let mut kinds: Vec<(u8, u8)> = Vec::new();
        if hbh {
            kinds.push((0, 0));
        }
        kinds.extend(exts);
        let mut body = Vec::new();
        for (i, &(_, units)) in kinds.iter().enumerate() {
            let next = kinds.get(i + 1).map_or(wire::ip_protocol::TCP, |k| k.0);
            let len = (usize::from(units) + 1) * 8;
            let mut ext = vec![0u8; len];
            ext[0] = next;
            ext[1] = units;
            // Options area: one PadN covering the rest (also fine as
            // routing-type data; Segments Left stays 0 as ext[3] = 0 when
            // len - 4 < 256).
            ext[2] = 1;
            ext[3] = (len - 4) as u8;
            if kinds[i].0 == 43 {
                ext[3] = 0;
            }
            body.extend_from_slice(&ext);
        }
        body.extend_from_slice(&payload);
        let first = kinds.first().map_or(wire::ip_protocol::TCP, |k| k.0);
        let repr = Ipv6Repr {
            src_addr: src, dst_addr: dst, next_header: first, payload_len: body.len(),
            hop_limit: 64, ecn: 0, dscp: 0, flow_label: 0,
        };
        let mut buf = vec![0u8; 40];
        repr.emit(&mut buf);
        buf.extend_from_slice(&body);
        let (parsed, rest) = Ipv6Repr::parse(&buf).unwrap();
        prop_assert_eq!(parsed.next_header, wire::ip_protocol::TCP);
        prop_assert_eq!(parsed.payload_len, payload.len());
        prop_assert_eq!(rest, &payload[..]);
    }

    #[test]
    fn tcp_roundtrip((src, dst) in arb_ip_pair(), parts in arb_tcp()) {
        let repr = parts.repr();
        let mut buf = vec![0u8; repr.segment_len()];
        let n = repr.emit(&mut buf, &src, &dst);
        prop_assert_eq!(n, buf.len());
        prop_assert_eq!(repr.header_len() % 4, 0);
        prop_assert!(repr.header_len() <= 60);
        let parsed = TcpRepr::parse(&buf, &src, &dst, true).unwrap();
        let mut expected = repr;
        expected.options = expected_options(&repr.options);
        prop_assert_eq!(parsed, expected);
        let view = TcpPacket::new_checked(&buf[..]).unwrap();
        prop_assert!(view.verify_checksum(&src, &dst));
        prop_assert_eq!(usize::from(view.header_len()), repr.header_len());

        // The zero-copy variant writes the same bytes.
        let mut buf2 = vec![0u8; repr.segment_len()];
        buf2[repr.header_len()..].copy_from_slice(&parts.payload);
        let n2 = repr.emit_header_in_place(&mut buf2, parts.payload.len(), &src, &dst);
        prop_assert_eq!(n2, n);
        prop_assert_eq!(&buf2, &buf);
    }

    /// Any single-bit flip in an emitted segment is caught by the checksum.
    #[test]
    fn tcp_checksum_catches_bit_flip((src, dst) in arb_ip_pair(), parts in arb_tcp(),
                                     bit in any::<prop::sample::Index>()) {
        let repr = parts.repr();
        let mut buf = vec![0u8; repr.segment_len()];
        repr.emit(&mut buf, &src, &dst);
        let bit = bit.index(buf.len() * 8);
        buf[bit / 8] ^= 1 << (bit % 8);
        let result = TcpRepr::parse(&buf, &src, &dst, true);
        if bit / 8 == 12 {
            // A flip in the data offset may be caught first as Malformed.
            prop_assert!(result.is_err());
        } else {
            prop_assert_eq!(result, Err(wire::WireError::BadChecksum));
        }
    }

    #[test]
    fn ip_tcp_roundtrip((src, dst) in arb_ip_pair(), parts in arb_tcp(),
                        hop_limit in any::<u8>(), ecn in 0u8..4) {
        let tcp = parts.repr();
        let ip = IpRepr {
            src_addr: src, dst_addr: dst, protocol: wire::ip_protocol::TCP,
            payload_len: tcp.segment_len(), hop_limit, ecn,
        };
        let mut buf = vec![0u8; ip.total_len()];
        ip.emit(&mut buf);
        let hl = ip.header_len();
        tcp.emit(&mut buf[hl..], &src, &dst);
        let (parsed_ip, payload) = IpRepr::parse(&buf).unwrap();
        prop_assert_eq!(parsed_ip, ip);
        let parsed_tcp = TcpRepr::parse(payload, &parsed_ip.src_addr, &parsed_ip.dst_addr, true)
            .unwrap();
        prop_assert_eq!(parsed_tcp.payload, &parts.payload[..]);
        prop_assert_eq!(parsed_tcp.seq, parts.seq);
    }

    #[test]
    fn tcp_options_roundtrip(options in arb_tcp_options()) {
        let mut buf = [0u8; 40];
        let n = options.emit(&mut buf);
        prop_assert_eq!(n, options.encoded_len());
        prop_assert!(n <= 40 && n % 4 == 0);
        prop_assert_eq!(TcpOptions::parse(&buf[..n]).unwrap(), expected_options(&options));
    }
}

// ------------------------------------------------------------------- ICMP

#[derive(Debug, Clone)]
enum Icmpv4Parts {
    Echo {
        request: bool,
        ident: u16,
        seq_no: u16,
        data: Vec<u8>,
    },
    DstUnreachable {
        code: u8,
        mtu: u16,
        invoking: Vec<u8>,
    },
    TimeExceeded {
        code: u8,
        invoking: Vec<u8>,
    },
    Other {
        msg_type: u8,
        code: u8,
    },
}

impl Icmpv4Parts {
    fn repr(&self) -> Icmpv4Repr<'_> {
        match self {
            Icmpv4Parts::Echo {
                request: true,
                ident,
                seq_no,
                data,
            } => Icmpv4Repr::EchoRequest {
                ident: *ident,
                seq_no: *seq_no,
                data,
            },
            Icmpv4Parts::Echo {
                ident,
                seq_no,
                data,
                ..
            } => Icmpv4Repr::EchoReply {
                ident: *ident,
                seq_no: *seq_no,
                data,
            },
            Icmpv4Parts::DstUnreachable {
                code,
                mtu,
                invoking,
            } => Icmpv4Repr::DstUnreachable {
                code: *code,
                next_hop_mtu: *mtu,
                invoking,
            },
            Icmpv4Parts::TimeExceeded { code, invoking } => Icmpv4Repr::TimeExceeded {
                code: *code,
                invoking,
            },
            Icmpv4Parts::Other { msg_type, code } => Icmpv4Repr::Other {
                msg_type: *msg_type,
                code: *code,
            },
        }
    }
}

fn arb_icmpv4() -> impl Strategy<Value = Icmpv4Parts> {
    prop_oneof![
        (any::<bool>(), any::<u16>(), any::<u16>(), arb_payload(100)).prop_map(
            |(request, ident, seq_no, data)| Icmpv4Parts::Echo {
                request,
                ident,
                seq_no,
                data
            }
        ),
        (0u8..16, any::<u16>(), arb_payload(60)).prop_map(|(code, mtu, invoking)| {
            Icmpv4Parts::DstUnreachable {
                code,
                mtu,
                invoking,
            }
        }),
        (0u8..2, arb_payload(60))
            .prop_map(|(code, invoking)| Icmpv4Parts::TimeExceeded { code, invoking }),
        (
            any::<u8>().prop_filter("known type", |t| ![0u8, 3, 8, 11].contains(t)),
            any::<u8>()
        )
            .prop_map(|(msg_type, code)| Icmpv4Parts::Other { msg_type, code }),
    ]
}

#[derive(Debug, Clone)]
enum Icmpv6Parts {
    Echo {
        request: bool,
        ident: u16,
        seq_no: u16,
        data: Vec<u8>,
    },
    DstUnreachable {
        code: u8,
        invoking: Vec<u8>,
    },
    PacketTooBig {
        mtu: u32,
        invoking: Vec<u8>,
    },
    TimeExceeded {
        code: u8,
        invoking: Vec<u8>,
    },
    Ndp(NdpRepr),
    Other {
        msg_type: u8,
        code: u8,
    },
}

impl Icmpv6Parts {
    fn repr(&self) -> Icmpv6Repr<'_> {
        match self {
            Icmpv6Parts::Echo {
                request: true,
                ident,
                seq_no,
                data,
            } => Icmpv6Repr::EchoRequest {
                ident: *ident,
                seq_no: *seq_no,
                data,
            },
            Icmpv6Parts::Echo {
                ident,
                seq_no,
                data,
                ..
            } => Icmpv6Repr::EchoReply {
                ident: *ident,
                seq_no: *seq_no,
                data,
            },
            Icmpv6Parts::DstUnreachable { code, invoking } => Icmpv6Repr::DstUnreachable {
                code: *code,
                invoking,
            },
            Icmpv6Parts::PacketTooBig { mtu, invoking } => Icmpv6Repr::PacketTooBig {
                mtu: *mtu,
                invoking,
            },
            Icmpv6Parts::TimeExceeded { code, invoking } => Icmpv6Repr::TimeExceeded {
                code: *code,
                invoking,
            },
            Icmpv6Parts::Ndp(ndp) => Icmpv6Repr::Ndp(*ndp),
            Icmpv6Parts::Other { msg_type, code } => Icmpv6Repr::Other {
                msg_type: *msg_type,
                code: *code,
            },
        }
    }
}

fn arb_unicast_v6() -> impl Strategy<Value = Ipv6Addr> {
    arb_v6().prop_filter("not multicast", |a| !a.is_multicast())
}

fn arb_ndp() -> impl Strategy<Value = NdpRepr> {
    let lladdr = || prop::option::of(arb_mac());
    prop_oneof![
        lladdr().prop_map(|lladdr| NdpRepr::RouterSolicit { lladdr }),
        (
            (any::<u8>(), any::<u8>(), any::<u16>()),
            (any::<u32>(), any::<u32>()),
            lladdr(),
            prop::option::of(any::<u32>())
        )
            .prop_map(
                |(
                    (hop_limit, flags, router_lifetime),
                    (reachable_time, retrans_time),
                    lladdr,
                    mtu,
                )| {
                    NdpRepr::RouterAdvert {
                        hop_limit,
                        flags,
                        router_lifetime,
                        reachable_time,
                        retrans_time,
                        lladdr,
                        mtu,
                    }
                }
            ),
        (arb_unicast_v6(), lladdr()).prop_map(|(target_addr, lladdr)| NdpRepr::NeighborSolicit {
            target_addr,
            lladdr
        }),
        (0u8..8, arb_unicast_v6(), lladdr()).prop_map(|(f, target_addr, lladdr)| {
            NdpRepr::NeighborAdvert {
                flags: f << 5,
                target_addr,
                lladdr,
            }
        }),
    ]
}

fn arb_icmpv6() -> impl Strategy<Value = Icmpv6Parts> {
    prop_oneof![
        (any::<bool>(), any::<u16>(), any::<u16>(), arb_payload(100)).prop_map(
            |(request, ident, seq_no, data)| Icmpv6Parts::Echo {
                request,
                ident,
                seq_no,
                data
            }
        ),
        (0u8..7, arb_payload(80))
            .prop_map(|(code, invoking)| Icmpv6Parts::DstUnreachable { code, invoking }),
        (any::<u32>(), arb_payload(80))
            .prop_map(|(mtu, invoking)| Icmpv6Parts::PacketTooBig { mtu, invoking }),
        (0u8..2, arb_payload(80))
            .prop_map(|(code, invoking)| Icmpv6Parts::TimeExceeded { code, invoking }),
        arb_ndp().prop_map(Icmpv6Parts::Ndp),
        (
            any::<u8>().prop_filter("known type", |t| {
                ![1u8, 2, 3, 128, 129, 133, 134, 135, 136].contains(t)
            }),
            any::<u8>()
        )
            .prop_map(|(msg_type, code)| Icmpv6Parts::Other { msg_type, code }),
    ]
}

proptest! {
    #[test]
    fn icmpv4_roundtrip(parts in arb_icmpv4()) {
        let repr = parts.repr();
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf);
        prop_assert_eq!(Icmpv4Repr::parse(&buf).unwrap(), repr);
        prop_assert!(Icmpv4Packet::new_checked(&buf[..]).unwrap().verify_checksum());
    }

    #[test]
    fn icmpv6_roundtrip(parts in arb_icmpv6(), src in arb_v6(), dst in arb_v6()) {
        let repr = parts.repr();
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf, &src, &dst);
        prop_assert_eq!(Icmpv6Repr::parse(&buf, &src, &dst).unwrap(), repr);
        prop_assert!(Icmpv6Packet::new_checked(&buf[..]).unwrap().verify_checksum(&src, &dst));
    }

    #[test]
    fn ndp_roundtrip(ndp in arb_ndp()) {
        let mut buf = vec![0u8; ndp.buffer_len()];
        ndp.emit(&mut buf);
        prop_assert_eq!(NdpRepr::parse(&buf).unwrap(), ndp);
    }

    #[test]
    fn ndp_multicast_helpers(addr in arb_v6()) {
        let snm = wire::solicited_node_multicast(&addr);
        prop_assert!(snm.is_multicast());
        prop_assert_eq!(&snm.octets()[13..], &addr.octets()[13..]);
        let mac = wire::multicast_ethernet(&snm);
        prop_assert!(mac.is_multicast());
        prop_assert_eq!(&mac.0[..2], &[0x33, 0x33]);
        prop_assert_eq!(&mac.0[2..], &snm.octets()[12..]);
    }
}

// -------------------------------------------------------------- no panics

/// Runs every parser and every view accessor over `bytes`.
fn parse_everything(bytes: &[u8], src: &IpAddr, dst: &IpAddr) {
    let _ = EthernetRepr::parse(bytes);
    let _ = ArpRepr::parse(bytes);
    let _ = Ipv4Repr::parse(bytes);
    let _ = Ipv6Repr::parse(bytes);
    let _ = IpRepr::parse(bytes);
    let _ = TcpRepr::parse(bytes, src, dst, true);
    let _ = TcpRepr::parse(bytes, src, dst, false);
    let _ = TcpOptions::parse(bytes);
    let _ = Icmpv4Repr::parse(bytes);
    let (s6, d6) = match (src, dst) {
        (IpAddr::V6(s), IpAddr::V6(d)) => (*s, *d),
        _ => (Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED),
    };
    let _ = Icmpv6Repr::parse(bytes, &s6, &d6);
    let _ = NdpRepr::parse(bytes);

    // Views built without any check must not panic either.
    let e = EthernetFrame::new_unchecked(bytes);
    let _ = (e.src_addr(), e.dst_addr(), e.ethertype(), e.payload());
    let a = ArpPacket::new_unchecked(bytes);
    let _ = (
        a.hardware_type(),
        a.protocol_type(),
        a.operation(),
        a.source_hardware_addr(),
        a.source_protocol_addr(),
        a.target_hardware_addr(),
        a.target_protocol_addr(),
        a.packet_len(),
    );
    let p4 = Ipv4Packet::new_unchecked(bytes);
    let _ = (
        p4.version(),
        p4.header_len(),
        p4.dscp(),
        p4.ecn(),
        p4.total_len(),
        p4.ident(),
        p4.dont_frag(),
        p4.more_frags(),
        p4.frag_offset(),
        p4.hop_limit(),
        p4.protocol(),
        p4.checksum(),
        p4.src_addr(),
        p4.dst_addr(),
        p4.verify_checksum(),
        p4.options(),
        p4.payload(),
    );
    let p6 = Ipv6Packet::new_unchecked(bytes);
    let _ = (
        p6.version(),
        p6.traffic_class(),
        p6.flow_label(),
        p6.payload_len(),
        p6.next_header(),
        p6.hop_limit(),
        p6.src_addr(),
        p6.dst_addr(),
        p6.payload(),
    );
    let t = TcpPacket::new_unchecked(bytes);
    let _ = (
        t.src_port(),
        t.dst_port(),
        t.seq_number(),
        t.ack_number(),
        t.header_len(),
        t.flags(),
        t.window_len(),
        t.checksum(),
        t.urgent_at(),
        t.options(),
        t.payload(),
        t.verify_checksum(src, dst),
    );
    let i4 = Icmpv4Packet::new_unchecked(bytes);
    let _ = (
        i4.msg_type(),
        i4.echo_ident(),
        i4.next_hop_mtu(),
        i4.data(),
        i4.verify_checksum(),
    );
    let i6 = Icmpv6Packet::new_unchecked(bytes);
    let _ = (
        i6.msg_type(),
        i6.pkt_too_big_mtu(),
        i6.data(),
        i6.verify_checksum(&s6, &d6),
    );

    // Setters on a short buffer must not panic either.
    let mut owned = bytes.to_vec();
    let mut t = TcpPacket::new_unchecked(&mut owned[..]);
    t.set_seq_number(1);
    t.set_flags(TcpFlags::SYN);
    t.fill_checksum(src, dst);
    let mut p4 = Ipv4Packet::new_unchecked(&mut owned[..]);
    p4.set_frag_offset(8);
    p4.fill_checksum();
    let _ = p4.payload_mut();
}

/// A valid packet of some kind, to be mutated.
fn arb_valid_packet() -> impl Strategy<Value = (Vec<u8>, IpAddr, IpAddr)> {
    prop_oneof![
        (arb_ip_pair(), arb_tcp()).prop_map(|((src, dst), parts)| {
            let tcp = parts.repr();
            let ip = IpRepr {
                src_addr: src,
                dst_addr: dst,
                protocol: wire::ip_protocol::TCP,
                payload_len: tcp.segment_len(),
                hop_limit: 64,
                ecn: 0,
            };
            let mut buf = vec![0u8; ip.total_len()];
            ip.emit(&mut buf);
            let hl = ip.header_len();
            tcp.emit(&mut buf[hl..], &src, &dst);
            (buf, src, dst)
        }),
        (arb_ip_pair(), arb_tcp()).prop_map(|((src, dst), parts)| {
            let tcp = parts.repr();
            let mut buf = vec![0u8; tcp.segment_len()];
            tcp.emit(&mut buf, &src, &dst);
            (buf, src, dst)
        }),
        (arb_v6(), arb_v6(), arb_icmpv6()).prop_map(|(s, d, parts)| {
            let repr = parts.repr();
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut buf, &s, &d);
            (buf, IpAddr::V6(s), IpAddr::V6(d))
        }),
        arb_icmpv4().prop_map(|parts| {
            let repr = parts.repr();
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut buf);
            let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
            (buf, a, a)
        }),
        (arb_v6(), arb_v6(), arb_payload(120)).prop_map(|(s, d, body)| {
            // IPv6 header announcing an extension header; the body is random.
            let repr = Ipv6Repr {
                src_addr: s,
                dst_addr: d,
                next_header: 0,
                payload_len: body.len(),
                hop_limit: 1,
                ecn: 0,
                dscp: 0,
                flow_label: 0,
            };
            let mut buf = vec![0u8; 40];
            repr.emit(&mut buf);
            buf.extend_from_slice(&body);
            (buf, IpAddr::V6(s), IpAddr::V6(d))
        }),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..160),
                                   (src, dst) in arb_ip_pair()) {
        parse_everything(&bytes, &src, &dst);
    }

    #[test]
    fn mutated_packets_never_panic(
        (packet, src, dst) in arb_valid_packet(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut packet = packet;
        if !packet.is_empty() {
            for (at, value) in edits {
                let i = at.index(packet.len());
                packet[i] = value;
            }
        }
        parse_everything(&packet, &src, &dst);
        let cut = cut.index(packet.len() + 1);
        parse_everything(&packet[..cut], &src, &dst);
    }
}
