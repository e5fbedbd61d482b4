//! Fuzz target `parse`: arbitrary bytes through every wire parser of `sanstcp::wire`.
//!
//! The input is taken as-is by each parser: Ethernet, ARP, IPv4, IPv6, the family-independent
//! IP header, TCP (segment and options area), ICMPv4, ICMPv6 and NDP; IP payloads found on the
//! way are parsed again as TCP / ICMP with the addresses of their header. Because checksums
//! make random bytes almost never verify, every checksummed parser also gets a copy of the
//! input with the checksum filled in, so the fuzzer reaches the field logic behind it.
//!
//! Checked: no parser panics on any input, and every successful parse round-trips: the
//! representation is emitted again, the emitted bytes parse to the same representation (for
//! TCP options: the same, less the SACK blocks that the canonical, 4-byte-aligned layout has no
//! room for, as `TcpOptions::sack_emit_count` documents), emitting that gives the same bytes,
//! and payload slices come back unchanged. Header views (`*Packet::new_checked`) are read
//! field by field to make sure no accessor panics either.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use sanstcp::wire::{
    ip_protocol, ArpPacket, ArpRepr, EthernetFrame, EthernetRepr, Icmpv4Packet, Icmpv4Repr,
    Icmpv6Packet, Icmpv6Repr, IpRepr, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, NdpRepr,
    TcpOptions, TcpPacket, TcpRepr,
};

fuzz_target!(|data: &[u8]| {
    ethernet(data);
    arp(data);
    ipv4(data);
    ipv6(data);
    ip(data);
    for (src, dst) in address_pairs() {
        tcp(data, &src, &dst);
    }
    tcp_options(data);
    icmpv4(data);
    let (s6, d6) = v6_pair();
    icmpv6(data, &s6, &d6);
    ndp(data);
    views(data);
});

fn address_pairs() -> [(IpAddr, IpAddr); 2] {
    let (s6, d6) = v6_pair();
    [
        (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        ),
        (IpAddr::V6(s6), IpAddr::V6(d6)),
    ]
}

fn v6_pair() -> (Ipv6Addr, Ipv6Addr) {
    (
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2),
    )
}

// ---- link layer ---------------------------------------------------------------------------------

fn ethernet(data: &[u8]) {
    let Ok((repr, payload)) = EthernetRepr::parse(data) else {
        return;
    };
    assert_eq!(payload, &data[EthernetRepr::HEADER_LEN..]);
    let mut out = vec![0u8; EthernetRepr::HEADER_LEN];
    repr.emit(&mut out);
    // Every header bit is in the representation: the emitted header is the input's.
    assert_eq!(
        &out[..],
        &data[..EthernetRepr::HEADER_LEN],
        "ethernet emit differs"
    );
    out.extend_from_slice(payload);
    let (again, p2) = EthernetRepr::parse(&out).expect("emitted ethernet header parses");
    assert_eq!(again, repr);
    assert_eq!(p2, payload);
    // What an Ethernet frame carries.
    ipv4(payload);
    ipv6(payload);
    arp(payload);
}

fn arp(data: &[u8]) {
    let Ok(repr) = ArpRepr::parse(data) else {
        return;
    };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut out);
    // Ethernet/IPv4 ARP has no field outside the representation.
    assert_eq!(&out[..], &data[..ArpRepr::LEN], "arp emit differs");
    assert_eq!(ArpRepr::parse(&out).expect("emitted ARP parses"), repr);
}

// ---- IP -----------------------------------------------------------------------------------------

fn ipv4(data: &[u8]) {
    ipv4_once(data);
    // The same bytes with the header checksum made right.
    if data.len() >= 20 && data[0] >> 4 == 4 {
        let mut fixed = data.to_vec();
        let mut p = Ipv4Packet::new_unchecked(&mut fixed[..]);
        p.fill_checksum();
        ipv4_once(&fixed);
    }
}

fn ipv4_once(data: &[u8]) {
    let Ok((repr, payload)) = Ipv4Repr::parse(data) else {
        return;
    };
    assert_eq!(repr.payload_len, payload.len());
    let out = emit_ipv4(&repr, payload);
    let (again, p2) = Ipv4Repr::parse(&out).expect("emitted IPv4 parses");
    assert_eq!(again, repr, "ipv4 round trip");
    assert_eq!(p2, payload);
    assert_eq!(emit_ipv4(&again, p2), out, "ipv4 emit not stable");
    upper(
        IpAddr::V4(repr.src_addr),
        IpAddr::V4(repr.dst_addr),
        repr.protocol,
        payload,
    );
}

fn emit_ipv4(repr: &Ipv4Repr, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; repr.total_len()];
    repr.emit(&mut out);
    out[repr.header_len()..].copy_from_slice(payload);
    out
}

fn ipv6(data: &[u8]) {
    let Ok((repr, payload)) = Ipv6Repr::parse(data) else {
        return;
    };
    assert_eq!(repr.payload_len, payload.len());
    // Extension headers are skipped: the emitted packet carries the upper layer right after
    // the fixed header.
    let out = emit_ipv6(&repr, payload);
    let (again, p2) = Ipv6Repr::parse(&out).expect("emitted IPv6 parses");
    assert_eq!(again, repr, "ipv6 round trip");
    assert_eq!(p2, payload);
    assert_eq!(emit_ipv6(&again, p2), out, "ipv6 emit not stable");
    upper(
        IpAddr::V6(repr.src_addr),
        IpAddr::V6(repr.dst_addr),
        repr.next_header,
        payload,
    );
}

fn emit_ipv6(repr: &Ipv6Repr, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; Ipv6Repr::HEADER_LEN + payload.len()];
    repr.emit(&mut out);
    out[Ipv6Repr::HEADER_LEN..].copy_from_slice(payload);
    out
}

fn ip(data: &[u8]) {
    let Ok((repr, payload)) = IpRepr::parse(data) else {
        return;
    };
    assert_eq!(repr.payload_len, payload.len());
    assert_eq!(repr.src_addr.is_ipv6(), repr.dst_addr.is_ipv6());
    let mut out = vec![0u8; repr.total_len()];
    repr.emit(&mut out);
    out[repr.header_len()..].copy_from_slice(payload);
    let (again, p2) = IpRepr::parse(&out).expect("emitted IP header parses");
    assert_eq!(again, repr, "ip round trip");
    assert_eq!(p2, payload);
}

/// The upper layer of an IP packet, parsed with its header's addresses.
fn upper(src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) {
    match (protocol, src, dst) {
        (ip_protocol::TCP, _, _) => tcp(payload, &src, &dst),
        (ip_protocol::ICMP, _, _) => icmpv4(payload),
        (ip_protocol::ICMPV6, IpAddr::V6(s), IpAddr::V6(d)) => icmpv6(payload, &s, &d),
        _ => {}
    }
}

// ---- TCP ----------------------------------------------------------------------------------------

fn tcp(data: &[u8], src: &IpAddr, dst: &IpAddr) {
    tcp_once(data, src, dst, false);
    tcp_once(data, src, dst, true);
    if TcpPacket::new_checked(data).is_ok() {
        let mut fixed = data.to_vec();
        TcpPacket::new_unchecked(&mut fixed[..]).fill_checksum(src, dst);
        tcp_once(&fixed, src, dst, true);
    }
}

fn tcp_once(data: &[u8], src: &IpAddr, dst: &IpAddr, verify: bool) {
    let Ok(repr) = TcpRepr::parse(data, src, dst, verify) else {
        return;
    };
    let view = TcpPacket::new_checked(data).expect("a parsed segment has a valid header");
    assert_eq!(repr.payload, view.payload());
    assert_eq!(
        repr.seq_len(),
        repr.payload.len()
            + usize::from(repr.flags.contains(sanstcp::wire::TcpFlags::SYN))
            + usize::from(repr.flags.contains(sanstcp::wire::TcpFlags::FIN))
    );
    let out = emit_tcp(&repr, src, dst);
    assert!(
        repr.header_len() <= 60 && repr.header_len() % 4 == 0,
        "tcp header length"
    );
    let again = TcpRepr::parse(&out, src, dst, true).expect("emitted TCP verifies and parses");
    let mut expect = repr;
    expect.options = canonical(&repr.options);
    assert_eq!(again, expect, "tcp round trip");
    assert_eq!(emit_tcp(&again, src, dst), out, "tcp emit not stable");
}

fn emit_tcp(repr: &TcpRepr<'_>, src: &IpAddr, dst: &IpAddr) -> Vec<u8> {
    let mut out = vec![0u8; repr.segment_len()];
    let n = repr.emit(&mut out, src, dst);
    assert_eq!(n, out.len(), "tcp emit length");
    out
}

/// `opts` as they survive emission: the SACK blocks that fit.
fn canonical(opts: &TcpOptions) -> TcpOptions {
    let mut c = *opts;
    let n = opts.sack_emit_count();
    c.set_sack_blocks(&opts.sack_blocks()[..n]);
    c
}

fn tcp_options(data: &[u8]) {
    let Ok(opts) = TcpOptions::parse(data) else {
        return;
    };
    assert!(opts.sack_blocks().len() <= 4);
    let len = opts.encoded_len();
    assert!(len <= 40 && len % 4 == 0, "options length {len}");
    let mut out = vec![0u8; len];
    assert_eq!(opts.emit(&mut out), len);
    let again = TcpOptions::parse(&out).expect("emitted options parse");
    assert_eq!(again, canonical(&opts), "tcp options round trip");
    let mut out2 = vec![0u8; again.encoded_len()];
    again.emit(&mut out2);
    assert_eq!(out2, out, "tcp options emit not stable");
}

// ---- ICMP ---------------------------------------------------------------------------------------

fn icmpv4(data: &[u8]) {
    icmpv4_once(data);
    if data.len() >= 8 {
        let mut fixed = data.to_vec();
        Icmpv4Packet::new_unchecked(&mut fixed[..]).fill_checksum();
        icmpv4_once(&fixed);
    }
}

fn icmpv4_once(data: &[u8]) {
    let Ok(repr) = Icmpv4Repr::parse(data) else {
        return;
    };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut out);
    let again = Icmpv4Repr::parse(&out).expect("emitted ICMPv4 verifies and parses");
    assert_eq!(again, repr, "icmpv4 round trip");
    let mut out2 = vec![0u8; again.buffer_len()];
    again.emit(&mut out2);
    assert_eq!(out2, out, "icmpv4 emit not stable");
}

fn icmpv6(data: &[u8], src: &Ipv6Addr, dst: &Ipv6Addr) {
    icmpv6_once(data, src, dst);
    if data.len() >= 4 {
        let mut fixed = data.to_vec();
        Icmpv6Packet::new_unchecked(&mut fixed[..]).fill_checksum(src, dst);
        icmpv6_once(&fixed, src, dst);
    }
}

fn icmpv6_once(data: &[u8], src: &Ipv6Addr, dst: &Ipv6Addr) {
    let Ok(repr) = Icmpv6Repr::parse(data, src, dst) else {
        return;
    };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut out, src, dst);
    let again = Icmpv6Repr::parse(&out, src, dst).expect("emitted ICMPv6 verifies and parses");
    assert_eq!(again, repr, "icmpv6 round trip");
    let mut out2 = vec![0u8; again.buffer_len()];
    again.emit(&mut out2, src, dst);
    assert_eq!(out2, out, "icmpv6 emit not stable");
}

fn ndp(data: &[u8]) {
    let Ok(repr) = NdpRepr::parse(data) else {
        return;
    };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut out);
    let again = NdpRepr::parse(&out).expect("emitted NDP parses");
    assert_eq!(again, repr, "ndp round trip");
}

// ---- header views -------------------------------------------------------------------------------

/// Reads every field of every view that accepts the input; none may panic.
fn views(data: &[u8]) {
    if let Ok(p) = EthernetFrame::new_checked(data) {
        let _ = (p.dst_addr(), p.src_addr(), p.ethertype(), p.payload().len());
    }
    if let Ok(p) = ArpPacket::new_checked(data) {
        let _ = (
            p.hardware_type(),
            p.protocol_type(),
            p.hardware_len(),
            p.protocol_len(),
        );
        let _ = (
            p.operation(),
            p.source_hardware_addr().len(),
            p.source_protocol_addr().len(),
        );
        let _ = (
            p.target_hardware_addr().len(),
            p.target_protocol_addr().len(),
            p.packet_len(),
        );
    }
    if let Ok(p) = Ipv4Packet::new_checked(data) {
        let _ = (
            p.version(),
            p.header_len(),
            p.dscp(),
            p.ecn(),
            p.total_len(),
            p.ident(),
        );
        let _ = (
            p.dont_frag(),
            p.more_frags(),
            p.frag_offset(),
            p.hop_limit(),
            p.protocol(),
        );
        let _ = (
            p.checksum(),
            p.src_addr(),
            p.dst_addr(),
            p.verify_checksum(),
        );
        let _ = (p.header().len(), p.options().len(), p.payload().len());
    }
    if let Ok(p) = Ipv6Packet::new_checked(data) {
        let _ = (
            p.version(),
            p.traffic_class(),
            p.dscp(),
            p.ecn(),
            p.flow_label(),
        );
        let _ = (
            p.payload_len(),
            p.next_header(),
            p.hop_limit(),
            p.src_addr(),
            p.dst_addr(),
        );
        let _ = p.payload().len();
    }
    if let Ok(p) = TcpPacket::new_checked(data) {
        let _ = (
            p.src_port(),
            p.dst_port(),
            p.seq_number(),
            p.ack_number(),
            p.header_len(),
        );
        let _ = (p.flags(), p.window_len(), p.checksum(), p.urgent_at());
        let _ = (p.options().len(), p.payload().len());
        for (s, d) in address_pairs() {
            let _ = p.verify_checksum(&s, &d);
        }
    }
    if let Ok(p) = Icmpv4Packet::new_checked(data) {
        let _ = (
            p.msg_type(),
            p.msg_code(),
            p.checksum(),
            p.echo_ident(),
            p.echo_seq_no(),
        );
        let _ = (p.next_hop_mtu(), p.data().len(), p.verify_checksum());
    }
    if let Ok(p) = Icmpv6Packet::new_checked(data) {
        let (s, d) = v6_pair();
        let _ = (
            p.msg_type(),
            p.msg_code(),
            p.checksum(),
            p.echo_ident(),
            p.echo_seq_no(),
        );
        let _ = (p.pkt_too_big_mtu(), p.param_problem_ptr(), p.data().len());
        let _ = p.verify_checksum(&s, &d);
    }
}
