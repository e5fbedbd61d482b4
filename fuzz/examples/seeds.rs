//! Writes the seed corpora under `fuzz/corpus/<target>/`: real packets captured from a
//! simulator run (and link-layer frames from `sanstcp::link`) for `parse` and `stack_input`,
//! and short meaningful op sequences / link scripts for `stack_input`, `ops` and `pair`.
//!
//! Run from `fuzz/`: `cargo run --example seeds`. The output is deterministic; rerun it after
//! changing a target's input format, and check the files in.

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use sanstcp::link::{Interface, LinkConfig as IfConfig};
use sanstcp::sim::{CaptureKind, LinkConfig, NodeId, Sim};
use sanstcp::wire::{ip_protocol, EthernetAddress, Icmpv4Repr, Icmpv6Repr};
use sanstcp::{ConnectOptions, Instant, ListenOptions, Stack, StackConfig};
use sanstcp_fuzz::{ip_packet, record};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Packets of a short exchange over IPv4 and IPv6 (handshake, data both ways, close), in the
/// order they were sent, with the sending node.
fn capture() -> Vec<(NodeId, Vec<u8>)> {
    let mut sim = Sim::new(5);
    let cfg = |a: &str, b: &str, seed: u64| {
        let mut c = StackConfig::new(vec![ip(a), ip(b)], [seed as u8; 16], seed);
        c.recv_buffer = 4096;
        c
    };
    let a = sim.add_node(Box::new(Stack::new(cfg("10.0.0.1", "fd00::1", 1)).unwrap()));
    let b = sim.add_node(Box::new(Stack::new(cfg("10.0.0.2", "fd00::2", 2)).unwrap()));
    sim.connect(
        a,
        b,
        LinkConfig::ideal().with_delay(Duration::from_millis(5)),
        LinkConfig::ideal().with_delay(Duration::from_millis(5)),
    );
    let packets = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = packets.clone();
    sim.set_capture(Some(Box::new(move |_, from, _, kind, bytes| {
        if kind == CaptureKind::Sent {
            sink.borrow_mut().push((from, bytes.to_vec()));
        }
    })));
    for server in ["10.0.0.2:80", "[fd00::2]:80"] {
        let server: SocketAddr = server.parse().unwrap();
        let l = sim
            .node_mut::<Stack>(b)
            .listen(server, ListenOptions::default())
            .unwrap();
        let now = sim.now();
        let ca = sim
            .node_mut::<Stack>(a)
            .connect(now, server, ConnectOptions::default())
            .unwrap();
        sim.advance_by(Duration::from_millis(50));
        let cb = sim.node_mut::<Stack>(b).accept(l).unwrap();
        sim.node_mut::<Stack>(a).send(ca, &[b'a'; 3000]).unwrap();
        sim.node_mut::<Stack>(b).send(cb, b"hello from b").unwrap();
        sim.advance_by(Duration::from_millis(100));
        let mut buf = [0u8; 8192];
        while sim
            .node_mut::<Stack>(b)
            .recv(cb, &mut buf)
            .is_ok_and(|n| n > 0)
        {}
        while sim
            .node_mut::<Stack>(a)
            .recv(ca, &mut buf)
            .is_ok_and(|n| n > 0)
        {}
        sim.advance_by(Duration::from_millis(100));
        sim.node_mut::<Stack>(a).close(ca);
        sim.advance_by(Duration::from_millis(50));
        sim.node_mut::<Stack>(b).close(cb);
        sim.advance_by(Duration::from_millis(100));
        // A SYN to a closed port draws a RST.
        let now = sim.now();
        let closed = SocketAddr::new(server.ip(), 81);
        sim.node_mut::<Stack>(a)
            .connect(now, closed, ConnectOptions::default())
            .unwrap();
        sim.advance_by(Duration::from_millis(50));
    }
    let v = packets.borrow().clone();
    v
}

/// Ethernet frames from the link layer: ARP and NDP announcements and resolutions, and an
/// IPv4 frame.
fn frames() -> Vec<Vec<u8>> {
    let mut stack = Stack::new(StackConfig::new(
        vec![ip("10.0.0.1"), ip("fd00::1")],
        [1; 16],
        1,
    ))
    .unwrap();
    let mut iface = Interface::new(IfConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1])));
    let mut out = Vec::new();
    let mut buf = vec![0u8; iface.frame_buffer_len(&stack)];
    iface.announce(&stack);
    for server in ["10.0.0.2:80", "[fd00::2]:80"] {
        stack
            .connect(
                Instant::ZERO,
                server.parse().unwrap(),
                ConnectOptions::default(),
            )
            .unwrap();
    }
    while let Some(n) = iface.poll_frame(Instant::ZERO, &mut stack, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

fn write(dir: &Path, name: &str, data: &[u8]) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(name), data).unwrap();
}

fn le(fields: &[&[u8]]) -> Vec<u8> {
    fields.concat()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let packets = capture();
    let frames = frames();

    // ---- parse: every distinct kind of packet once ---------------------------------------------
    let dir = root.join("parse");
    let mut kinds = std::collections::BTreeSet::new();
    for (i, (_, p)) in packets.iter().enumerate() {
        // Keep one packet per (family, TCP flags, has payload).
        let v6 = p[0] >> 4 == 6;
        let h = if v6 { 40 } else { 20 };
        let key = (v6, p[h + 13], p.len() > h + 32 + 12);
        if kinds.insert(key) {
            write(&dir, &format!("sim-{i:03}"), p);
        }
    }
    for (i, f) in frames.iter().enumerate() {
        write(&dir, &format!("frame-{i}"), f);
    }
    let echo4 = Icmpv4Repr::EchoRequest {
        ident: 1,
        seq_no: 2,
        data: b"ping",
    };
    let mut body = vec![0u8; echo4.buffer_len()];
    echo4.emit(&mut body);
    write(
        &dir,
        "icmp-echo",
        &ip_packet(ip("10.0.0.1"), ip("10.0.0.2"), ip_protocol::ICMP, 0, &body),
    );
    let quote = &packets[0].1[..28];
    let frag = Icmpv4Repr::DstUnreachable {
        code: 4,
        next_hop_mtu: 1280,
        invoking: quote,
    };
    let mut body = vec![0u8; frag.buffer_len()];
    frag.emit(&mut body);
    write(
        &dir,
        "icmp-frag-needed",
        &ip_packet(ip("192.0.2.1"), ip("10.0.0.1"), ip_protocol::ICMP, 0, &body),
    );
    let (s6, d6) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
    let echo6 = Icmpv6Repr::EchoRequest {
        ident: 1,
        seq_no: 2,
        data: b"ping6",
    };
    let mut body = vec![0u8; echo6.buffer_len()];
    echo6.emit(&mut body, &s6, &d6);
    write(
        &dir,
        "icmpv6-echo",
        &ip_packet(
            IpAddr::V6(s6),
            IpAddr::V6(d6),
            ip_protocol::ICMPV6,
            0,
            &body,
        ),
    );

    // ---- stack_input ---------------------------------------------------------------------------
    let dir = root.join("stack_input");
    // flags, mtu, buffers, extra, features, algorithms
    let setup_default = [0u8, 0, 0, 0, 0, 0];
    let setup_nocsum_small = [1u8, 0, 1, 0, 0, 0];
    let setup_ecn_pacing_cubic_cookies = [0u8, 0, 0, 0, 0b1100, 0b0101];
    let setup_no_sack_ts = [0u8, 0, 3, 0, 0b0011, 0b0010];
    // Record builders, mirroring the structs of fuzz_targets/stack_input.rs.
    let seg = |target: u8,
               seq_mode: u8,
               seq_off: i32,
               ack_mode: u8,
               ack_off: i32,
               flags_xor_ack: u8,
               payload: &[u8]| {
        let mut b = le(&[
            &[target, seq_mode],
            &seq_off.to_le_bytes(),
            &[ack_mode],
            &ack_off.to_le_bytes(),
            &[flags_xor_ack],
            &0u16.to_le_bytes(), // window: largest
            &[0],                // no options
            &[0u8; 2 + 1 + 4 + 4 + 24 + 1 + 1 + 2],
        ]);
        b.extend_from_slice(payload);
        record(1, &b)
    };
    let time = |ms: u16, jump: bool| record(6, &le(&[&ms.to_le_bytes(), &[u8::from(jump)]]));
    let exchange = record(11, &[]);
    let a_send = |conn: u8, len: u16| record(8, &le(&[&[conn], &len.to_le_bytes()]));
    let b_send = |conn: u8, len: u16| record(9, &le(&[&[conn], &len.to_le_bytes()]));
    const SYN: u8 = 0x02;
    const FIN: u8 = 0x01;
    const RST: u8 = 0x04;
    const ACK: u8 = 0x10;
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("setup-only", setup_default.to_vec()),
        (
            "exchange-and-time",
            [
                &setup_default[..],
                &exchange,
                &time(300, false),
                &time(0, true),
                &exchange,
            ]
            .concat(),
        ),
        (
            "in-window-data",
            [
                &setup_default[..],
                &seg(0, 0, 0, 0, 0, 0, b"hello"),
                &seg(1, 0, 0, 0, 0, 0, b"fills the hole"),
            ]
            .concat(),
        ),
        (
            "ack-everything",
            [
                &setup_default[..],
                &seg(0, 0, 0, 2, 0, 0, b""),
                &time(0, true),
            ]
            .concat(),
        ),
        (
            "rst-exact",
            [&setup_default[..], &seg(0, 0, 0, 0, 0, RST, b"")].concat(),
        ),
        (
            "rst-in-window",
            [&setup_default[..], &seg(0, 0, 7, 0, 0, RST ^ ACK, b"")].concat(),
        ),
        (
            "syn-in-window",
            [&setup_default[..], &seg(1, 0, 3, 0, 0, SYN, b"x")].concat(),
        ),
        (
            "fin-close-wait",
            [
                &setup_default[..],
                &seg(2, 0, 0, 0, 0, FIN, b"bye"),
                &exchange,
            ]
            .concat(),
        ),
        (
            "synack-to-syn-sent",
            [
                &setup_default[..],
                &seg(3, 3, 1000, 1, 0, SYN, b""),
                &time(100, false),
            ]
            .concat(),
        ),
        (
            "complete-half-open",
            [&setup_default[..], &seg(4, 0, 0, 1, 0, 0, b"data")].concat(),
        ),
        (
            "syn-to-listener",
            [
                &setup_default[..],
                &seg(5, 3, 77, 3, 0, SYN ^ ACK, b""),
                &seg(5, 3, 78, 4, 1, 0, b""),
            ]
            .concat(),
        ),
        (
            "icmp-frag-needed",
            [
                &setup_default[..],
                &b_send(0, 4000),
                &record(
                    3,
                    &le(&[
                        &[0, 2, 4],
                        &1280u16.to_le_bytes(),
                        &[0],
                        &0i32.to_le_bytes(),
                        &[0, 1],
                    ]),
                ),
            ]
            .concat(),
        ),
        (
            "apps-both-ways",
            [
                &setup_default[..],
                &a_send(0, 2000),
                &b_send(1, 3000),
                &exchange,
                &time(50, false),
                &exchange,
            ]
            .concat(),
        ),
        (
            "nocsum-replay",
            [
                &setup_nocsum_small[..],
                &record(5, &[2, 30, 0, 0x40, 0]),
                &record(5, &[0, 13, 0, 0x12, 0]),
            ]
            .concat(),
        ),
        (
            "close-and-abort",
            [
                &setup_default[..],
                &record(10, &[0, 1]),
                &record(10, &[1, 2]),
                &exchange,
                &time(0, true),
            ]
            .concat(),
        ),
        (
            "ecn-pacing-cubic-cookies",
            [
                &setup_ecn_pacing_cubic_cookies[..],
                &b_send(0, 20000),
                &exchange,
                &time(0, true),
                &exchange,
                &seg(5, 3, 9, 3, 0, SYN ^ ACK, b""),
            ]
            .concat(),
        ),
        (
            "no-sack-no-timestamps",
            [
                &setup_no_sack_ts[..],
                &a_send(1, 3000),
                &exchange,
                &time(200, false),
                &exchange,
            ]
            .concat(),
        ),
    ];
    for (name, data) in &seeds {
        write(&dir, name, data);
    }
    // Real packets to B, as raw-IP ops (ports and numbers from another run).
    let to_b: Vec<u8> = packets
        .iter()
        .filter(|(from, _)| *from == NodeId(0))
        .take(8)
        .flat_map(|(_, p)| record(0, p))
        .collect();
    write(&dir, "raw-captured", &[&setup_default[..], &to_b].concat());

    // ---- ops -----------------------------------------------------------------------------------
    let dir = root.join("ops");
    let listen = |side: u8, addr: u8, port: u8| record(0, &[side, addr, port, 4, 4]);
    let connect = |side: u8, v6: u8, port: u8, lport: u8, sbuf: u8, rbuf: u8| {
        record(1, &[side, v6, port, lport, 0, sbuf, rbuf])
    };
    let conn = |op: u8, conn: u8, len: u16, flag: u8| {
        record(op, &le(&[&[conn], &len.to_le_bytes(), &[flag]]))
    };
    let xchg = record(16, &[]);
    let adv = |ms: u16, jump: bool| record(11, &le(&[&ms.to_le_bytes(), &[u8::from(jump)]]));
    let transfer = |v6: u8| {
        [
            listen(1, v6, 0),
            connect(0, v6, 0, 0, 0, 0),
            xchg.clone(),
            conn(2, 0, 0, 0),    // accept -> conn 1
            conn(3, 0, 3000, 0), // A sends
            conn(3, 1, 500, 0),  // B sends
            xchg.clone(),
            conn(4, 1, 4096, 0), // B reads
            conn(4, 0, 4096, 0), // A reads
            conn(5, 0, 0, 0),    // A shutdown
            xchg.clone(),
            conn(4, 1, 4096, 0), // B reads EOF
            conn(6, 1, 0, 0),    // B close
            xchg.clone(),
            adv(0, true),
        ]
        .concat()
    };
    // flags, mtu, buffers, extra, features, algorithms (one nibble per side, A low)
    write(
        &dir,
        "transfer-v4",
        &[&[0u8, 0, 0, 0, 0, 0][..], &transfer(0)].concat(),
    );
    write(
        &dir,
        "transfer-v6-small-buffers",
        &[&[0u8, 0, 0x55, 0, 0, 0][..], &transfer(1)].concat(),
    );
    write(
        &dir,
        "transfer-ecn-pacing-cubic",
        &[&[0u8, 0, 0, 0, 0xcc, 0x11][..], &transfer(0)].concat(),
    );
    let simultaneous = [
        &[0u8, 0, 0, 0, 0, 0][..],
        &connect(0, 0, 3, 1, 0, 0),
        &connect(1, 0, 3, 1, 0, 0),
        &xchg,
        &conn(3, 0, 100, 0),
        &conn(3, 1, 100, 0),
        &xchg,
        &conn(4, 0, 1000, 0),
        &conn(4, 1, 1000, 0),
    ]
    .concat();
    write(&dir, "simultaneous-open", &simultaneous);
    let lossy = [
        &[0u8, 0, 0, 0, 0, 0][..],
        &listen(1, 2, 0),
        &connect(0, 0, 0, 0, 0, 1),
        &record(12, &[0, 0]),
        &record(12, &[1, 0]),
        &record(12, &[0, 0]),
        &conn(2, 0, 0, 0),
        &conn(3, 0, 5000, 0),
        &record(13, &[0, 0]),
        &record(14, &[0, 1]),
        &record(12, &[0, 3]),
        &adv(1000, false),
        &xchg,
        &conn(4, 1, 100, 0),
        &conn(7, 0, 0, 0),
        &xchg,
        &record(15, &[1, 1, 0, 0, 0, 1, 0, 0, 0, 0]),
    ]
    .concat();
    write(&dir, "lossy-then-abort", &lossy);
    let refused = [
        &[0u8, 0, 0, 0, 0, 0][..],
        &connect(0, 1, 2, 0, 0, 0),
        &xchg,
        &conn(4, 0, 10, 0),
        &conn(3, 0, 10, 0),
    ]
    .concat();
    write(&dir, "refused", &refused);

    // ---- pair ----------------------------------------------------------------------------------
    let dir = root.join("pair");
    let setup = |flags: u8, buffers: u8, read: u8, a: u16, b: u16| {
        le(&[
            &[flags, 0, buffers, read],
            &a.to_le_bytes(),
            &b.to_le_bytes(),
            &[0, 0],
        ])
    };
    write(&dir, "ideal", &setup(0, 0, 0, 20_000, 5_000));
    write(
        &dir,
        "ideal-v6-small-windows",
        &setup(1, 0x55, 3, 8_000, 8_000),
    );
    let mut drops = setup(0, 0, 0, 30_000, 1_000);
    drops.extend([0, 0, 0, 0, 20, 0, 0, 21, 0, 20, 20, 0, 0, 0, 22]);
    write(&dir, "drops", &drops);
    let mut mixed = setup(8, 0x11, 2, 6_000, 6_000);
    mixed.extend([
        0, 23, 5, 0, 25, 40, 0, 29, 1, 0, 0, 31, 0, 20, 0, 26, 200, 0, 0,
    ]);
    write(&dir, "dup-reorder-corrupt", &mixed);
    let mut fancy = setup(0, 0, 0, 30_000, 30_000);
    fancy[8..10].copy_from_slice(&[0xcc, 0x11]);
    fancy.extend([
        0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 26, 9,
    ]);
    write(&dir, "ecn-pacing-cubic-loss", &fancy);
    let mut syn_loss = setup(16, 0, 0, 2_000, 2_000);
    syn_loss.extend([20, 20, 0, 20, 0]);
    write(&dir, "lost-handshake", &syn_loss);
    println!("seed corpora written under {}", root.display());
}
