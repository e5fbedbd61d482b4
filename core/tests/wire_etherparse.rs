//! Cross-checks `sanstcp::wire` against the independent `etherparse` crate:
//! everything we emit is parsed by etherparse with the same field values and
//! checksums, and packets etherparse builds are parsed by us.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use etherparse::{
    Icmpv4Type, Icmpv6Type, NetSlice, PacketBuilder, SlicedPacket, TcpOptionElement, TransportSlice,
};
use proptest::prelude::*;
use sanstcp::wire::{
    self, EthernetAddress, EthernetRepr, Icmpv4Repr, Icmpv6Repr, IpRepr, SackBlock, TcpFlags,
    TcpOptions, TcpRepr,
};

fn arb_ip_pair() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<[u8; 4]>()).prop_map(|(a, b)| (IpAddr::from(a), IpAddr::from(b))),
        (any::<[u8; 16]>(), any::<[u8; 16]>())
            .prop_map(|(a, b)| (IpAddr::from(a), IpAddr::from(b))),
    ]
}

fn arb_tcp_options() -> impl Strategy<Value = TcpOptions> {
    (
        prop::option::of(any::<u16>()),
        prop::option::of(0u8..=14),
        any::<bool>(),
        prop::collection::vec(
            (any::<u32>(), any::<u32>()).prop_map(|(left, right)| SackBlock { left, right }),
            0..=4,
        ),
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

/// Our options as etherparse sees them (NOPs dropped).
fn etherparse_options(o: &TcpOptions) -> Vec<TcpOptionElement> {
    let mut v = Vec::new();
    if let Some(mss) = o.mss {
        v.push(TcpOptionElement::MaximumSegmentSize(mss));
    }
    if o.sack_permitted {
        v.push(TcpOptionElement::SelectiveAcknowledgementPermitted);
    }
    if let Some((a, b)) = o.timestamps {
        v.push(TcpOptionElement::Timestamp(a, b));
    }
    if let Some(ws) = o.window_scale {
        v.push(TcpOptionElement::WindowScale(ws));
    }
    let n = o.sack_emit_count();
    if n > 0 {
        let blocks = &o.sack_blocks()[..n];
        let mut rest = [None; 3];
        for (slot, b) in rest.iter_mut().zip(&blocks[1..]) {
            *slot = Some((b.left, b.right));
        }
        v.push(TcpOptionElement::SelectiveAcknowledgement(
            (blocks[0].left, blocks[0].right),
            rest,
        ));
    }
    v
}

/// Owned TCP fields; the repr borrows the payload.
#[derive(Debug, Clone)]
struct Tcp {
    ports: (u16, u16),
    seq: u32,
    ack: u32,
    flags: u16,
    window: u16,
    urgent: u16,
    options: TcpOptions,
    payload: Vec<u8>,
}

impl Tcp {
    fn repr(&self) -> TcpRepr<'_> {
        TcpRepr {
            src_port: self.ports.0,
            dst_port: self.ports.1,
            seq: self.seq,
            ack: self.ack,
            flags: TcpFlags(self.flags),
            window: self.window,
            urgent: self.urgent,
            options: self.options,
            payload: &self.payload,
        }
    }
}

fn arb_tcp() -> impl Strategy<Value = Tcp> {
    (
        (1u16.., 1u16..),
        (any::<u32>(), any::<u32>(), 0u16..=0xff),
        (any::<u16>(), any::<u16>()),
        arb_tcp_options(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(
            |(ports, (seq, ack, flags), (window, urgent), options, payload)| Tcp {
                ports,
                seq,
                ack,
                flags,
                window,
                urgent,
                options,
                payload,
            },
        )
}

/// Emits IP + upper layer with our code.
fn emit_ip(src: IpAddr, dst: IpAddr, protocol: u8, ecn: u8, body: &[u8]) -> Vec<u8> {
    let ip = IpRepr {
        src_addr: src,
        dst_addr: dst,
        protocol,
        payload_len: body.len(),
        hop_limit: 61,
        ecn,
    };
    let mut buf = vec![0u8; ip.total_len()];
    ip.emit(&mut buf);
    buf[ip.header_len()..].copy_from_slice(body);
    buf
}

fn v4(a: &IpAddr) -> [u8; 4] {
    match a {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(_) => panic!("not v4"),
    }
}

fn v6(a: &IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(_) => panic!("not v6"),
    }
}

proptest! {
    /// Every IPv4/IPv6 + TCP packet we emit is parsed by etherparse with the
    /// same fields, and etherparse computes the same checksums.
    #[test]
    fn our_tcp_parsed_by_etherparse((src, dst) in arb_ip_pair(), tcp in arb_tcp(),
                                    ecn in 0u8..4) {
        let repr = tcp.repr();
        let mut segment = vec![0u8; repr.segment_len()];
        repr.emit(&mut segment, &src, &dst);
        let packet = emit_ip(src, dst, wire::ip_protocol::TCP, ecn, &segment);

        let sliced = SlicedPacket::from_ip(&packet).expect("etherparse rejected our packet");
        match sliced.net.expect("no net layer") {
            NetSlice::Ipv4(ip) => {
                let h = ip.header();
                prop_assert_eq!(IpAddr::V4(h.source_addr()), src);
                prop_assert_eq!(IpAddr::V4(h.destination_addr()), dst);
                prop_assert_eq!(h.ttl(), 61);
                prop_assert_eq!(u8::from(h.ecn()), ecn);
                prop_assert_eq!(h.protocol().0, wire::ip_protocol::TCP);
                prop_assert!(h.dont_fragment());
                prop_assert!(!h.more_fragments());
                prop_assert_eq!(usize::from(h.total_len()), packet.len());
                prop_assert_eq!(h.to_header().calc_header_checksum(), h.header_checksum());
            }
            NetSlice::Ipv6(ip) => {
                let h = ip.header();
                prop_assert_eq!(IpAddr::V6(h.source_addr()), src);
                prop_assert_eq!(IpAddr::V6(h.destination_addr()), dst);
                prop_assert_eq!(h.hop_limit(), 61);
                prop_assert_eq!(h.traffic_class() & 3, ecn);
                prop_assert_eq!(h.next_header().0, wire::ip_protocol::TCP);
                prop_assert_eq!(usize::from(h.payload_length()), segment.len());
                prop_assert_eq!(h.flow_label().value(), 0);
            }
        }
        let t = match sliced.transport.expect("no transport layer") {
            TransportSlice::Tcp(t) => t,
            other => panic!("not tcp: {other:?}"),
        };
        prop_assert_eq!(t.source_port(), tcp.ports.0);
        prop_assert_eq!(t.destination_port(), tcp.ports.1);
        prop_assert_eq!(t.sequence_number(), tcp.seq);
        prop_assert_eq!(t.acknowledgment_number(), tcp.ack);
        prop_assert_eq!(t.window_size(), tcp.window);
        prop_assert_eq!(t.urgent_pointer(), tcp.urgent);
        let f = TcpFlags(tcp.flags);
        prop_assert_eq!(t.fin(), f.contains(TcpFlags::FIN));
        prop_assert_eq!(t.syn(), f.contains(TcpFlags::SYN));
        prop_assert_eq!(t.rst(), f.contains(TcpFlags::RST));
        prop_assert_eq!(t.psh(), f.contains(TcpFlags::PSH));
        prop_assert_eq!(t.ack(), f.contains(TcpFlags::ACK));
        prop_assert_eq!(t.urg(), f.contains(TcpFlags::URG));
        prop_assert_eq!(t.ece(), f.contains(TcpFlags::ECE));
        prop_assert_eq!(t.cwr(), f.contains(TcpFlags::CWR));
        prop_assert!(!t.ns());
        prop_assert_eq!(usize::from(t.data_offset()) * 4, repr.header_len());
        prop_assert_eq!(t.payload(), &tcp.payload[..]);

        let their_opts: Vec<TcpOptionElement> = t
            .options_iterator()
            .map(|o| o.expect("etherparse rejected our options"))
            .filter(|o| *o != TcpOptionElement::Noop)
            .collect();
        prop_assert_eq!(their_opts, etherparse_options(&tcp.options));

        let their_sum = match (&src, &dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => t.calc_checksum_ipv4(v4(&src), v4(&dst)).unwrap(),
            _ => t.calc_checksum_ipv6(v6(&src), v6(&dst)).unwrap(),
        };
        prop_assert_eq!(their_sum, t.checksum());
    }

    /// Packets built by etherparse (with options it writes) parse with our
    /// code to the same values and their checksums verify.
    #[test]
    fn etherparse_tcp_parsed_by_us((src, dst) in arb_ip_pair(), tcp in arb_tcp()) {
        let builder = match (&src, &dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => PacketBuilder::ipv4(v4(&src), v4(&dst), 17),
            _ => PacketBuilder::ipv6(v6(&src), v6(&dst), 17),
        };
        let mut b = builder.tcp(tcp.ports.0, tcp.ports.1, tcp.seq, tcp.window);
        let f = TcpFlags(tcp.flags);
        if f.contains(TcpFlags::FIN) { b = b.fin(); }
        if f.contains(TcpFlags::SYN) { b = b.syn(); }
        if f.contains(TcpFlags::RST) { b = b.rst(); }
        if f.contains(TcpFlags::PSH) { b = b.psh(); }
        if f.contains(TcpFlags::ACK) { b = b.ack(tcp.ack); }
        if f.contains(TcpFlags::URG) { b = b.urg(tcp.urgent); }
        if f.contains(TcpFlags::ECE) { b = b.ece(); }
        if f.contains(TcpFlags::CWR) { b = b.cwr(); }
        let elements = etherparse_options(&tcp.options);
        let b = b.options(&elements).expect("options too long for etherparse");
        let mut packet = Vec::with_capacity(b.size(tcp.payload.len()));
        b.write(&mut packet, &tcp.payload).unwrap();

        let (ip, payload) = IpRepr::parse(&packet).unwrap();
        prop_assert_eq!(ip.src_addr, src);
        prop_assert_eq!(ip.dst_addr, dst);
        prop_assert_eq!(ip.hop_limit, 17);
        prop_assert_eq!(ip.protocol, wire::ip_protocol::TCP);
        let parsed = TcpRepr::parse(payload, &src, &dst, true).unwrap();
        prop_assert_eq!(parsed.src_port, tcp.ports.0);
        prop_assert_eq!(parsed.dst_port, tcp.ports.1);
        prop_assert_eq!(parsed.seq, tcp.seq);
        prop_assert_eq!(parsed.window, tcp.window);
        prop_assert_eq!(parsed.flags, f);
        if f.contains(TcpFlags::ACK) {
            prop_assert_eq!(parsed.ack, tcp.ack);
        }
        if f.contains(TcpFlags::URG) {
            prop_assert_eq!(parsed.urgent, tcp.urgent);
        }
        let mut expected = tcp.options;
        let n = expected.sack_emit_count();
        expected.set_sack_blocks(&tcp.options.sack_blocks()[..n]);
        prop_assert_eq!(parsed.options, expected);
        prop_assert_eq!(parsed.payload, &tcp.payload[..]);
    }

    /// ICMPv4 echo messages we emit are understood by etherparse.
    #[test]
    fn our_icmpv4_echo_parsed_by_etherparse(
        src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
        request in any::<bool>(), ident in any::<u16>(), seq_no in any::<u16>(),
        data in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let repr = if request {
            Icmpv4Repr::EchoRequest { ident, seq_no, data: &data }
        } else {
            Icmpv4Repr::EchoReply { ident, seq_no, data: &data }
        };
        let mut icmp = vec![0u8; repr.buffer_len()];
        repr.emit(&mut icmp);
        let packet = emit_ip(
            IpAddr::from(src), IpAddr::from(dst), wire::ip_protocol::ICMP, 0, &icmp,
        );
        let sliced = SlicedPacket::from_ip(&packet).unwrap();
        let s = match sliced.transport.unwrap() {
            TransportSlice::Icmpv4(s) => s,
            other => panic!("not icmpv4: {other:?}"),
        };
        match s.icmp_type() {
            Icmpv4Type::EchoRequest(h) if request => {
                prop_assert_eq!((h.id, h.seq), (ident, seq_no));
            }
            Icmpv4Type::EchoReply(h) if !request => {
                prop_assert_eq!((h.id, h.seq), (ident, seq_no));
            }
            other => panic!("unexpected type {other:?}"),
        }
        prop_assert_eq!(s.payload(), &data[..]);
        prop_assert_eq!(s.icmp_type().calc_checksum(s.payload()), s.checksum());
    }

    /// ICMPv6 echo messages we emit are understood by etherparse.
    #[test]
    fn our_icmpv6_echo_parsed_by_etherparse(
        src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(),
        request in any::<bool>(), ident in any::<u16>(), seq_no in any::<u16>(),
        data in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let repr = if request {
            Icmpv6Repr::EchoRequest { ident, seq_no, data: &data }
        } else {
            Icmpv6Repr::EchoReply { ident, seq_no, data: &data }
        };
        let (s6, d6) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
        let mut icmp = vec![0u8; repr.buffer_len()];
        repr.emit(&mut icmp, &s6, &d6);
        let packet = emit_ip(
            IpAddr::V6(s6), IpAddr::V6(d6), wire::ip_protocol::ICMPV6, 0, &icmp,
        );
        let sliced = SlicedPacket::from_ip(&packet).unwrap();
        let s = match sliced.transport.unwrap() {
            TransportSlice::Icmpv6(s) => s,
            other => panic!("not icmpv6: {other:?}"),
        };
        match s.icmp_type() {
            Icmpv6Type::EchoRequest(h) if request => {
                prop_assert_eq!((h.id, h.seq), (ident, seq_no));
            }
            Icmpv6Type::EchoReply(h) if !request => {
                prop_assert_eq!((h.id, h.seq), (ident, seq_no));
            }
            other => panic!("unexpected type {other:?}"),
        }
        prop_assert_eq!(s.payload(), &data[..]);
        prop_assert!(s.is_checksum_valid(src, dst));
        prop_assert_eq!(
            s.icmp_type().calc_checksum(src, dst, s.payload()).unwrap(),
            s.checksum()
        );
    }

    /// ICMP echo built by etherparse parses with our code.
    #[test]
    fn etherparse_icmp_echo_parsed_by_us(
        src4 in any::<[u8; 4]>(), dst4 in any::<[u8; 4]>(),
        src6 in any::<[u8; 16]>(), dst6 in any::<[u8; 16]>(),
        ident in any::<u16>(), seq_no in any::<u16>(),
        data in prop::collection::vec(any::<u8>(), 0..100),
    ) {
        let mut p4 = Vec::new();
        PacketBuilder::ipv4(src4, dst4, 64)
            .icmpv4_echo_request(ident, seq_no)
            .write(&mut p4, &data)
            .unwrap();
        let (ip, payload) = IpRepr::parse(&p4).unwrap();
        prop_assert_eq!(ip.protocol, wire::ip_protocol::ICMP);
        prop_assert_eq!(
            Icmpv4Repr::parse(payload).unwrap(),
            Icmpv4Repr::EchoRequest { ident, seq_no, data: &data }
        );

        let mut p6 = Vec::new();
        PacketBuilder::ipv6(src6, dst6, 64)
            .icmpv6_echo_reply(ident, seq_no)
            .write(&mut p6, &data)
            .unwrap();
        let (ip, payload) = IpRepr::parse(&p6).unwrap();
        prop_assert_eq!(ip.protocol, wire::ip_protocol::ICMPV6);
        prop_assert_eq!(
            Icmpv6Repr::parse(payload, &Ipv6Addr::from(src6), &Ipv6Addr::from(dst6)).unwrap(),
            Icmpv6Repr::EchoReply { ident, seq_no, data: &data }
        );
    }
}

/// An Ethernet frame we emit is parsed by etherparse.
#[test]
fn ethernet_frame_parsed_by_etherparse() {
    let src = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    let tcp = TcpRepr {
        src_port: 40000,
        dst_port: 443,
        seq: 1,
        ack: 0,
        flags: TcpFlags::SYN,
        window: 64240,
        urgent: 0,
        options: TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((123, 0)),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    let mut segment = vec![0u8; tcp.segment_len()];
    tcp.emit(&mut segment, &src, &dst);
    let ip = emit_ip(src, dst, wire::ip_protocol::TCP, 0, &segment);
    let eth = EthernetRepr {
        src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
        dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
        ethertype: wire::ethernet::ethertype::IPV4,
    };
    let mut frame = vec![0u8; EthernetRepr::HEADER_LEN];
    eth.emit(&mut frame);
    frame.extend_from_slice(&ip);
    let sliced = SlicedPacket::from_ethernet(&frame).unwrap();
    match sliced.link.unwrap() {
        etherparse::LinkSlice::Ethernet2(e) => {
            assert_eq!(e.source(), [2, 0, 0, 0, 0, 1]);
            assert_eq!(e.destination(), [2, 0, 0, 0, 0, 2]);
            assert_eq!(e.ether_type(), etherparse::EtherType::IPV4);
        }
        other => panic!("unexpected link {other:?}"),
    }
    match sliced.transport.unwrap() {
        TransportSlice::Tcp(t) => {
            assert!(t.syn() && !t.ack());
            assert_eq!(t.destination_port(), 443);
            assert_eq!(
                t.calc_checksum_ipv4(v4(&src), v4(&dst)).unwrap(),
                t.checksum()
            );
        }
        other => panic!("not tcp: {other:?}"),
    }
}
