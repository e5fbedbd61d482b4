//! The stack around the state machine, segment by segment: listener SYN-queue and accept-queue
//! limits (a full accept queue drops the final ACK and the SYN-ACK retransmission completes the
//! handshake later), the connection limit, generational ids (stale `ConnId`s and `ListenerId`s are
//! errors, never another connection), distinct ephemeral ports, ICMP echo replies (IPv4 and
//! IPv6), and ICMP errors: path MTU from "fragmentation needed" / "packet too big" when the quoted
//! sequence number is in flight (RFC 1191, RFC 8201, RFC 5927), ignored otherwise, soft errors.

mod peer;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use peer::*;
use sanstcp::wire::{Icmpv4Repr, Icmpv6Repr};
use sanstcp::{
    ConnId, ConnectError, ConnectOptions, DropReason, Event, Input, ListenOptions, RecvError,
    SendError, StateError, SynCookieMode, TcpState,
};

#[test]
fn syn_queue_limit_drops_further_syns() {
    // With SYN cookies off; `full_syn_queue_answers_with_syn_cookies` covers them.
    let mut p = Peer::with(|c| c.syn_cookies = SynCookieMode::Never);
    let l = p
        .stack
        .listen(
            p.us,
            ListenOptions {
                backlog: 8,
                syn_backlog: 2,
            },
        )
        .unwrap();
    for port in [5000, 5001] {
        assert_eq!(p.tx(SYN).seq(0).src_port(port).send(), Input::Accepted);
        assert_eq!(p.pop().unwrap().flags, SYN_ACK);
    }
    // The third half-open connection does not fit: dropped without an answer.
    assert_eq!(
        p.tx(SYN).seq(0).src_port(5002).send(),
        Input::Dropped(DropReason::SynQueueFull)
    );
    p.expect_none();
    assert_eq!(p.stack.stats().dropped(DropReason::SynQueueFull), 1);
    assert_eq!(p.stack.connection_count(), 2);
    // One completes its handshake and leaves the SYN queue: room for another.
    p.them.set_port(5000);
    p.send(ACK, 1, 1, &[]);
    assert!(p.plain_events().contains(&Event::Incoming { listener: l }));
    assert_eq!(p.tx(SYN).seq(0).src_port(5002).send(), Input::Accepted);
    assert_eq!(p.pop().unwrap().dst.port(), 5002);
}

#[test]
fn full_accept_queue_drops_the_final_ack_until_accept_makes_room() {
    let mut p = Peer::new(config());
    let l = p
        .stack
        .listen(
            p.us,
            ListenOptions {
                backlog: 1,
                syn_backlog: 8,
            },
        )
        .unwrap();
    // The first connection fills the accept queue.
    p.them.set_port(5000);
    p.tx(SYN).seq(0).send();
    p.expect(SYN_ACK, 0, 1, 0);
    p.send(ACK, 1, 1, &[]);
    assert_eq!(p.plain_events(), vec![Event::Incoming { listener: l }]);
    // The second one's final ACK finds the queue full: dropped, no answer, no event.
    p.them.set_port(5001);
    p.tx(SYN).seq(0).send();
    p.expect(SYN_ACK, 0, 1, 0);
    p.advance_ms(10);
    assert_eq!(
        p.send(ACK, 1, 1, b"hello"),
        Input::Dropped(DropReason::AcceptQueueFull)
    );
    p.expect_none();
    assert!(p.plain_events().is_empty());
    assert_eq!(p.stack.stats().dropped(DropReason::AcceptQueueFull), 1);
    // The application takes the first connection.
    let c1 = p.stack.accept(l).unwrap();
    assert_eq!(p.info(c1).remote.port(), 5000);
    assert_eq!(p.stack.accept(l), None);
    // The SYN-ACK is retransmitted on its timer (1 s after the first), the peer ACKs again (with
    // its data), and the handshake completes.
    p.quiet_until(just_before(ms(1000)));
    p.expect_at(ms(1000), SYN_ACK, 0, 1, 0);
    assert_eq!(p.send(ACK, 1, 1, b"hello"), Input::Accepted);
    assert!(p.plain_events().contains(&Event::Incoming { listener: l }));
    let c2 = p.stack.accept(l).unwrap();
    assert_eq!(p.state(c2), TcpState::Established);
    assert_eq!(p.info(c2).remote.port(), 5001);
    let mut buf = [0u8; 8];
    assert_eq!(p.stack.recv(c2, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
}

#[test]
fn connection_limit() {
    let mut p = Peer::with(|c| c.max_connections = 1);
    p.listen(ListenOptions::default());
    assert_eq!(p.tx(SYN).seq(0).src_port(5000).send(), Input::Accepted);
    assert_eq!(
        p.tx(SYN).seq(0).src_port(5001).send(),
        Input::Dropped(DropReason::TooManyConnections)
    );
    let remote: SocketAddr = "10.0.0.2:80".parse().unwrap();
    assert_eq!(
        p.stack.connect(p.now(), remote, ConnectOptions::default()),
        Err(ConnectError::TooManyConnections)
    );
}

#[test]
fn stale_conn_ids_are_errors_and_never_reach_a_new_connection() {
    let mut p = Peer::new(config());
    let c1 = p.active_open(ConnectOptions::default());
    p.stack.abort(c1);
    p.expect(RST, 1, 0, 0);
    assert_eq!(p.stack.connection_count(), 0);
    // A new connection may take the same slot; the old id still names nothing.
    p.syn_options.mss = Some(1000);
    let c2 = p.active_open(ConnectOptions::default());
    assert_ne!(c1, c2);
    assert_eq!(p.stack.info(c1), None);
    let mut buf = [0u8; 4];
    assert_eq!(p.stack.send(c1, b"x"), Err(SendError::InvalidConnection));
    assert_eq!(
        p.stack.recv(c1, &mut buf),
        Err(RecvError::InvalidConnection)
    );
    assert_eq!(p.stack.shutdown(c1), Err(StateError::InvalidConnection));
    assert_eq!(
        p.stack.set_nodelay(c1, true),
        Err(StateError::InvalidConnection)
    );
    assert_eq!(
        p.stack.set_keepalive(c1, None),
        Err(StateError::InvalidConnection)
    );
    p.stack.close(c1);
    p.stack.abort(c1);
    p.expect_none();
    assert_eq!(p.state(c2), TcpState::Established);
    assert_eq!(p.info(c2).peer_mss, 1000);
    // Made-up ids are just stale.
    for raw in [0u64, 1 << 32, u64::MAX] {
        let bogus = ConnId::from_raw(raw);
        if bogus != c2 {
            assert_eq!(p.stack.info(bogus), None);
            assert_eq!(p.stack.send(bogus, b"x"), Err(SendError::InvalidConnection));
        }
    }
    assert_eq!(ConnId::from_raw(c2.to_raw()), c2);
}

#[test]
fn closed_listener_id_is_stale_and_its_port_refuses() {
    let mut p = Peer::new(config());
    let l = p.listen(ListenOptions::default());
    assert!(p.stack.close_listener(l));
    assert!(!p.stack.close_listener(l));
    assert_eq!(p.stack.accept(l), None);
    assert_eq!(
        p.tx(SYN).seq(0).send(),
        Input::Dropped(DropReason::NoConnection)
    );
    assert_eq!(p.pop().unwrap().flags, RST_ACK);
    let l2 = p.listen(ListenOptions::default());
    assert_ne!(l, l2);
    assert_eq!(p.tx(SYN).seq(0).send(), Input::Accepted);
    p.expect(SYN_ACK, 0, 1, 0);
}

#[test]
fn listener_on_the_unspecified_address() {
    let mut p = Peer::new(config());
    p.stack
        .listen("0.0.0.0:80".parse().unwrap(), ListenOptions::default())
        .unwrap();
    assert_eq!(p.tx(SYN).seq(0).send(), Input::Accepted);
    p.expect(SYN_ACK, 0, 1, 0);
}

#[test]
fn ephemeral_ports_are_distinct_for_one_remote() {
    let mut p = Peer::new(config());
    let remote: SocketAddr = "10.0.0.2:80".parse().unwrap();
    let mut ports = HashSet::new();
    for _ in 0..300 {
        let c = p
            .stack
            .connect(p.now(), remote, ConnectOptions::default())
            .unwrap();
        let port = p.info(c).local.port();
        assert!((49152..=65535).contains(&port), "{port}");
        assert!(ports.insert(port), "port {port} used twice");
    }
    assert_eq!(p.drain().len(), 300, "one SYN each");
    // A small range runs out.
    let mut q = Peer::with(|c| c.ephemeral_ports = (50000, 50009));
    let mut ports = HashSet::new();
    for _ in 0..10 {
        let c = q
            .stack
            .connect(q.now(), remote, ConnectOptions::default())
            .unwrap();
        ports.insert(q.info(c).local.port());
    }
    assert_eq!(ports, (50000..=50009).collect());
    assert_eq!(
        q.stack.connect(q.now(), remote, ConnectOptions::default()),
        Err(ConnectError::AddressInUse)
    );
    // Another remote port is another 4-tuple: the same local ports are usable again.
    let other: SocketAddr = "10.0.0.2:81".parse().unwrap();
    assert!(q
        .stack
        .connect(q.now(), other, ConnectOptions::default())
        .is_ok());
}

#[test]
fn icmp_echo_request_is_answered_ipv4() {
    let mut p = Peer::new(config());
    assert_eq!(p.ping(0x1234, 7, b"are you there"), Input::Accepted);
    let r = p.pop_other().unwrap();
    assert_eq!((r.ip.src_addr, r.ip.dst_addr), (p.us.ip(), p.them.ip()));
    assert_eq!(r.ip.protocol, 1);
    let msg = Icmpv4Repr::parse(r.payload()).unwrap();
    assert_eq!(
        msg,
        Icmpv4Repr::EchoReply {
            ident: 0x1234,
            seq_no: 7,
            data: b"are you there"
        }
    );
    assert_eq!(p.stack.stats().icmp_echo_replies, 1);
    p.expect_none();
}

#[test]
fn icmp_echo_request_is_answered_ipv6() {
    let mut p = Peer::new_v6(config());
    assert_eq!(p.ping(9, 65535, b"v6"), Input::Accepted);
    let r = p.pop_other().unwrap();
    assert_eq!((r.ip.src_addr, r.ip.dst_addr), (p.us.ip(), p.them.ip()));
    assert_eq!(r.ip.protocol, 58);
    let (IpAddr::V6(s), IpAddr::V6(d)) = (r.ip.src_addr, r.ip.dst_addr) else {
        unreachable!()
    };
    let msg = Icmpv6Repr::parse(r.payload(), &s, &d).unwrap();
    assert_eq!(
        msg,
        Icmpv6Repr::EchoReply {
            ident: 9,
            seq_no: 65535,
            data: b"v6"
        }
    );
    assert_eq!(p.stack.stats().icmp_echo_replies, 1);
}

fn router4() -> IpAddr {
    "10.0.0.254".parse().unwrap()
}

#[test]
fn fragmentation_needed_lowers_the_path_mtu_and_resends() {
    let mut p = Peer::new(config());
    let c = p.active_open(ConnectOptions::default());
    assert_eq!((p.info(c).path_mtu, p.info(c).mss), (1500, 1460));
    p.stack.send(c, &data(1, 1460)).unwrap();
    let seg = p.expect(ACK, 1, 1, 1460);
    // A router quotes the segment (IP header + 8 bytes of TCP, RFC 792) with MTU 1000.
    assert_eq!(p.too_big(router4(), 1000, &seg, 28), Input::Accepted);
    let i = p.info(c);
    assert_eq!((i.path_mtu, i.mss), (1000, 960));
    assert_eq!(p.stack.stats().icmp_errors_applied, 1);
    // What was lost goes again at once, in segments that fit.
    let r = p.expect(ACK, 1, 1, 960);
    assert!(r.raw.len() <= 1000);
    assert_eq!(r.payload, data(1, 1460)[..960]);
    p.send(ACK, 1, 961, &[]);
    let rest = p.next_within(Duration::from_secs(2));
    assert_eq!((rest.rseq, rest.len()), (961, 500));
    p.send(ACK, 1, 1461, &[]);
    // New data uses the new MSS.
    p.stack.set_nodelay(c, true).unwrap();
    p.stack.send(c, &data(2, 1000)).unwrap();
    p.expect(ACK, 1461, 1, 960);
    p.expect(ACK, 2421, 1, 40);
}

#[test]
fn path_mtu_never_below_the_minimum() {
    let mut p = Peer::new(config());
    let c = p.active_open(ConnectOptions::default());
    p.stack.send(c, &data(1, 100)).unwrap();
    let seg = p.expect(ACK, 1, 1, 100);
    assert_eq!(p.too_big(router4(), 68, &seg, 28), Input::Accepted);
    assert_eq!((p.info(c).path_mtu, p.info(c).mss), (576, 536));
    // A larger "MTU" never raises it back.
    p.too_big(router4(), 1400, &seg, 28);
    assert_eq!(p.info(c).path_mtu, 576);
}

#[test]
fn packet_too_big_lowers_the_ipv6_path_mtu() {
    let mut p = Peer::new_v6(config());
    let c = p.active_open(ConnectOptions::default());
    assert_eq!(p.info(c).mss, 1440);
    p.stack.send(c, &data(1, 1440)).unwrap();
    let seg = p.expect(ACK, 1, 1, 1440);
    let router: IpAddr = "fd00::fe".parse().unwrap();
    // IPv6 header (40) + 8 bytes of TCP.
    assert_eq!(p.too_big(router, 1280, &seg, 48), Input::Accepted);
    assert_eq!((p.info(c).path_mtu, p.info(c).mss), (1280, 1220));
    p.expect(ACK, 1, 1, 1220);
}

#[test]
fn icmp_error_quoting_an_out_of_window_sequence_number_is_ignored() {
    let mut p = Peer::new(config());
    let c = p.active_open(ConnectOptions::default());
    p.stack.send(c, &data(1, 1000)).unwrap();
    let seg = p.expect(ACK, 1, 1, 1000);
    // RFC 5927 §4.1: only SND.UNA =< quoted SEQ < SND.NXT is believed.
    for seq in [
        seg.seq.wrapping_sub(1),
        seg.seq.wrapping_add(1000),
        seg.seq.wrapping_add(1 << 30),
    ] {
        let mut quoted = seg.raw[..28].to_vec();
        quoted[24..28].copy_from_slice(&seq.to_be_bytes());
        assert_eq!(
            p.icmp_error(router4(), 4, 600, &quoted),
            Input::Dropped(DropReason::IcmpIgnored)
        );
        assert_eq!(p.info(c).path_mtu, 1500);
    }
    // Quoting a connection that does not exist.
    let mut quoted = seg.raw[..28].to_vec();
    quoted[20..22].copy_from_slice(&1u16.to_be_bytes());
    assert_eq!(
        p.icmp_error(router4(), 4, 600, &quoted),
        Input::Dropped(DropReason::IcmpIgnored)
    );
    // A router that does not say the MTU (RFC 1191 §5).
    assert_eq!(
        p.too_big(router4(), 0, &seg, 28),
        Input::Dropped(DropReason::IcmpIgnored)
    );
    p.expect_none();
    assert_eq!(p.info(c).path_mtu, 1500);
    assert_eq!(p.stack.stats().icmp_errors_applied, 0);
}

#[test]
fn icmp_unreachable_in_window_is_a_soft_error() {
    let mut p = Peer::new(config());
    let c = p.active_open(ConnectOptions::default());
    p.stack.send(c, b"data").unwrap();
    let seg = p.expect(ACK, 1, 1, 4);
    // Host unreachable: recorded (RFC 1122 §4.2.3.9), the connection carries on.
    assert_eq!(
        p.icmp_error(router4(), 1, 0, &seg.raw[..28]),
        Input::Accepted
    );
    let i = p.info(c);
    assert_eq!(i.soft_error, Some((3, 1)));
    assert_eq!(i.state, TcpState::Established);
    assert_eq!(i.path_mtu, 1500);
    p.send(ACK, 1, 5, &[]);
    assert_eq!(p.info(c).bytes_in_flight, 0);
}

/// Events about a connection that waits in the accept queue are held back (the application has
/// no id for it yet); `accept` then reports the data and the FIN that arrived meanwhile, after
/// `Incoming`.
#[test]
fn events_before_accept_are_reported_after_it() {
    let mut p = Peer::new(config());
    let l = p.listen(ListenOptions::default());
    let o = p.syn_options;
    assert_eq!(p.tx(SYN).seq(0).options(o).send(), Input::Accepted);
    p.expect(SYN_ACK, 0, 1, 0);
    assert_eq!(p.send(ACK, 1, 1, &[]), Input::Accepted);
    assert_eq!(p.send(ACK | PSH, 1, 1, b"early"), Input::Accepted);
    assert_eq!(p.send(FIN_ACK, 6, 1, &[]), Input::Accepted);
    let before = p.plain_events();
    assert_eq!(before, vec![Event::Incoming { listener: l }]);
    let c = p.stack.accept(l).expect("queued connection");
    assert_eq!(
        p.plain_events(),
        vec![Event::Readable { conn: c }, Event::PeerClosed { conn: c }]
    );
    let mut buf = [0u8; 16];
    assert_eq!(p.stack.recv(c, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"early");
    assert_eq!(p.stack.recv(c, &mut buf), Ok(0));
}

/// A modern SYN: MSS 1460, SACK-permitted, timestamps, window scale 7.
fn modern_syn_options(tsval: u32) -> sanstcp::wire::TcpOptions {
    sanstcp::wire::TcpOptions {
        mss: Some(1460),
        sack_permitted: true,
        timestamps: Some((tsval, 0)),
        window_scale: Some(7),
        ..Default::default()
    }
}

#[test]
fn full_syn_queue_answers_with_syn_cookies_that_keep_every_option() {
    let mut p = Peer::new(config());
    let l = p
        .stack
        .listen(
            p.us,
            ListenOptions {
                backlog: 8,
                syn_backlog: 1,
            },
        )
        .unwrap();
    // The first SYN fills the SYN queue.
    assert_eq!(p.tx(SYN).seq(0).src_port(5000).send(), Input::Accepted);
    p.pop().unwrap();
    // The second is answered statelessly.
    let r = p
        .tx(SYN)
        .seq(0)
        .src_port(5001)
        .options(modern_syn_options(4242))
        .send();
    assert_eq!(r, Input::Accepted);
    let synack = p.pop().expect("a SYN-ACK");
    assert_eq!(synack.flags, SYN_ACK);
    assert_eq!(p.stack.stats().syn_cookies_sent, 1);
    assert_eq!(p.stack.connection_count(), 1, "no state for the cookie SYN");
    assert!(synack.options.sack_permitted);
    assert!(synack.options.window_scale.is_some());
    let (their_ts, echo) = synack.options.timestamps.expect("timestamps");
    assert_eq!(echo, 4242);
    // The final ACK brings the connection to life, with every option of the SYN.
    let ack = sanstcp::wire::TcpOptions {
        timestamps: Some((4243, their_ts)),
        ..Default::default()
    };
    let r = p
        .tx(ACK)
        .src_port(5001)
        .seq(1)
        .abs_ack(synack.seq.wrapping_add(1))
        .options(ack)
        .send();
    assert_eq!(r, Input::Accepted);
    assert_eq!(p.stack.stats().syn_cookies_accepted, 1);
    let c = p.stack.accept(l).expect("the cookie connection");
    let info = p.stack.info(c).unwrap();
    assert_eq!(info.state, TcpState::Established);
    assert_eq!(info.peer_mss, 1460);
    assert_eq!(info.snd_wscale, Some(7));
    assert!(info.sack && info.timestamps);
    assert_eq!(info.iss, synack.seq);
}

#[test]
fn forged_and_stale_cookie_acks_are_refused() {
    let mut p = Peer::with(|c| c.syn_cookies = SynCookieMode::Always);
    let l = p.listen(ListenOptions::default());
    assert_eq!(
        p.tx(SYN).seq(0).options(modern_syn_options(1)).send(),
        Input::Accepted
    );
    let synack = p.pop().expect("a cookie SYN-ACK");
    assert_eq!(
        p.stack.connection_count(),
        0,
        "Always: no half-open state at all"
    );
    // A guessed cookie: refused with a RST.
    let r = p.tx(ACK).seq(1).abs_ack(synack.seq.wrapping_add(2)).send();
    assert_eq!(r, Input::Dropped(DropReason::BadSynCookie));
    assert!(p.drain().iter().any(|s| s.flags.contains(RST)));
    // The right cookie, three minutes later: stale.
    p.advance(Duration::from_secs(180));
    let r = p.tx(ACK).seq(1).abs_ack(synack.seq.wrapping_add(1)).send();
    assert_eq!(r, Input::Dropped(DropReason::BadSynCookie));
    assert!(p.stack.accept(l).is_none());
    assert_eq!(p.stack.stats().dropped(DropReason::BadSynCookie), 2);
    assert!(p.drain().iter().all(|s| s.flags.contains(RST)));
    // Without timestamps in the SYN the cookie keeps only the MSS.
    let plain = sanstcp::wire::TcpOptions {
        mss: Some(1400),
        window_scale: Some(7),
        ..Default::default()
    };
    assert_eq!(
        p.tx(SYN).seq(0).src_port(6000).options(plain).send(),
        Input::Accepted
    );
    let synack = p.pop().unwrap();
    assert!(synack.options.window_scale.is_none() && synack.options.timestamps.is_none());
    let r = p
        .tx(ACK)
        .src_port(6000)
        .seq(1)
        .abs_ack(synack.seq.wrapping_add(1))
        .send();
    assert_eq!(r, Input::Accepted);
    let c = p.stack.accept(l).unwrap();
    let info = p.stack.info(c).unwrap();
    assert_eq!(
        info.peer_mss, 1380,
        "rounded down to the cookie's MSS table"
    );
    assert_eq!(info.snd_wscale, None);
}
