//! ECN (RFC 3168 §6.1), segment by segment: negotiation in the SYN/SYN-ACK, ECT(0) on new
//! data only, ECE echoed for a CE mark until the peer's CWR, and the sender's once-per-window
//! reduction answered with CWR.

mod peer;

use std::time::Duration;

use peer::*;
use sanstcp::wire::{ip_protocol, IpRepr, TcpFlags, TcpOptions, TcpRepr};
use sanstcp::{ConnId, ConnectOptions, Input};

const ECE: TcpFlags = TcpFlags::ECE;
const CWR: TcpFlags = TcpFlags::CWR;

fn ecn_peer() -> Peer {
    Peer::with(|c| c.ecn = true)
}

/// The IP ECN field of a segment the stack sent.
fn ip_ecn(seg: &Seg) -> u8 {
    IpRepr::parse(&seg.raw).unwrap().0.ecn
}

/// Active open in which the peer agrees to ECN.
fn open_ecn(p: &mut Peer) -> ConnId {
    let c = p.connect(ConnectOptions::default());
    // The ECN-setup SYN (RFC 3168 §6.1.1).
    let syn = p.expect(SYN | ECE | CWR, 0, 0, 0);
    assert_eq!(ip_ecn(&syn), 0, "a SYN is not ECN-capable");
    let o = TcpOptions {
        mss: Some(1460),
        ..TcpOptions::default()
    };
    assert_eq!(
        p.tx(SYN_ACK | ECE).seq(0).ack(1).options(o).send(),
        Input::Accepted
    );
    p.expect(ACK, 1, 1, 0);
    assert!(p.stack.info(c).unwrap().ecn);
    c
}

#[test]
fn negotiated_only_when_both_agree() {
    let mut p = ecn_peer();
    open_ecn(&mut p);

    // The peer answers without ECE: no ECN.
    let mut p = ecn_peer();
    let c = p.connect(ConnectOptions::default());
    p.expect(SYN | ECE | CWR, 0, 0, 0);
    let o = TcpOptions {
        mss: Some(1460),
        ..TcpOptions::default()
    };
    assert_eq!(
        p.tx(SYN_ACK).seq(0).ack(1).options(o).send(),
        Input::Accepted
    );
    assert!(!p.stack.info(c).unwrap().ecn);

    // Off by default: a plain SYN.
    let mut p = Peer::new(config());
    p.connect(ConnectOptions::default());
    let syn = p.expect(SYN, 0, 0, 0);
    assert!(!syn.flags.intersects(ECE | CWR));

    // Passive: an ECN-setup SYN gets ECE (not CWR) in the SYN-ACK.
    let mut p = ecn_peer();
    let _l = p.listen(Default::default());
    let o = TcpOptions {
        mss: Some(1460),
        ..TcpOptions::default()
    };
    assert_eq!(
        p.tx(SYN | ECE | CWR).seq(0).options(o).send(),
        Input::Accepted
    );
    let synack = p.expect(SYN_ACK | ECE, 0, 1, 0);
    assert!(!synack.flags.contains(CWR));
}

#[test]
fn sender_marks_new_data_and_reduces_once_per_window_on_echo() {
    let mut p = ecn_peer();
    let c = open_ecn(&mut p);
    p.stack.send(c, &[7u8; 4 * 1460]).unwrap();
    let segs = p.drain();
    assert_eq!(segs.len(), 4);
    assert!(
        segs.iter().all(|s| ip_ecn(s) == 2),
        "new data goes out ECT(0)"
    );
    let cwnd_before = p.stack.info(c).unwrap().cwnd;
    p.advance(Duration::from_millis(20));
    // The receiver saw a CE mark: it echoes ECE on its ACKs.
    assert_eq!(p.send(ACK | ECE, 1, 1 + 1460, &[]), Input::Accepted);
    assert_eq!(p.send(ACK | ECE, 1, 1 + 2 * 1460, &[]), Input::Accepted);
    let info = p.stack.info(c).unwrap();
    assert!(
        info.cwnd < cwnd_before,
        "window reduced: {} -> {}",
        cwnd_before,
        info.cwnd
    );
    assert_eq!(
        p.stack.stats().ecn_reductions,
        1,
        "once per window, not per ECE"
    );
    assert_eq!(
        p.stack.stats().retransmitted_segments,
        0,
        "nothing is resent for ECN"
    );
    // The rest is acknowledged; the next new data segment says CWR.
    assert_eq!(p.send(ACK, 1, 1 + 4 * 1460, &[]), Input::Accepted);
    p.stack.send(c, &[8u8; 100]).unwrap();
    let next = p
        .drain()
        .into_iter()
        .find(|s| !s.payload.is_empty())
        .expect("new data");
    assert!(next.flags.contains(CWR));
}

#[test]
fn receiver_echoes_ce_until_cwr() {
    let mut p = ecn_peer();
    let c = open_ecn(&mut p);
    let send_marked = |p: &mut Peer, seq: u32, flags: TcpFlags, ecn: u8, data: &[u8]| {
        let (us, them) = (p.us, p.them);
        let iss = p.stack_iss();
        let tcp = TcpRepr {
            src_port: them.port(),
            dst_port: us.port(),
            seq: p.peer_iss.wrapping_add(seq),
            ack: iss.wrapping_add(1),
            flags: flags | TcpFlags::ACK,
            window: 65535,
            urgent: 0,
            options: TcpOptions::default(),
            payload: data,
        };
        let ip = IpRepr {
            src_addr: them.ip(),
            dst_addr: us.ip(),
            protocol: ip_protocol::TCP,
            payload_len: tcp.segment_len(),
            hop_limit: 64,
            ecn,
        };
        let mut pkt = vec![0u8; ip.header_len() + tcp.segment_len()];
        ip.emit(&mut pkt[..ip.header_len()]);
        tcp.emit(&mut pkt[ip.header_len()..], &them.ip(), &us.ip());
        p.inject(&pkt)
    };
    // A CE-marked data segment: the ACK for it carries ECE at once.
    assert_eq!(
        send_marked(&mut p, 1, TcpFlags::default(), 3, b"abc"),
        Input::Accepted
    );
    let ack = p.drain().into_iter().last().expect("an immediate ACK");
    assert!(ack.flags.contains(ECE));
    assert_eq!(p.stack.stats().ecn_ce_received, 1);
    // Unmarked data: still ECE, the peer has not said CWR.
    assert_eq!(
        send_marked(&mut p, 4, TcpFlags::default(), 2, &[1; 1460]),
        Input::Accepted
    );
    assert_eq!(
        send_marked(&mut p, 1464, TcpFlags::default(), 2, &[1; 1460]),
        Input::Accepted
    );
    let ack = p.drain().into_iter().last().expect("an ACK");
    assert!(ack.flags.contains(ECE));
    // CWR: the echo stops.
    assert_eq!(
        send_marked(&mut p, 2924, CWR, 2, &[2; 1460]),
        Input::Accepted
    );
    assert_eq!(
        send_marked(&mut p, 4384, TcpFlags::default(), 2, &[2; 1460]),
        Input::Accepted
    );
    let ack = p.drain().into_iter().last().expect("an ACK");
    assert!(!ack.flags.contains(ECE));
    let mut buf = vec![0u8; 8192];
    assert_eq!(p.stack.recv(c, &mut buf), Ok(3 + 4 * 1460));
}
