//! Resets, segment by segment: the RSTs sent for segments to closed ports (both forms of RFC 9293
//! §3.10.7.1, never a RST for a RST), RST processing in every state (RFC 9293 §3.10.7.4 "second",
//! RFC 1337 in TIME-WAIT), and the RFC 5961 defences: only an exact-match RST resets, an
//! in-window one gets a challenge ACK, an out-of-window one is dropped silently, a SYN on a
//! synchronized connection gets a challenge ACK, too-old ACKs get one too, and challenge ACKs are
//! rate limited (`challenge_ack_limit`, `stats().challenge_acks_suppressed`).

mod peer;

use peer::*;
use sanstcp::{
    CloseReason, ConnId, ConnectOptions, DropReason, Event, Input, ListenOptions, RecvError,
    SendError, TcpState,
};

fn established(p: &mut Peer) -> ConnId {
    let c = p.active_open(ConnectOptions::default());
    p.events();
    c
}

#[test]
fn closed_port_segment_with_ack_gets_rst_seq_seg_ack() {
    let mut p = Peer::new(config());
    // Nothing listens on port 80: <SEQ=SEG.ACK><CTL=RST>.
    let r = p
        .tx(ACK | PSH)
        .abs_seq(1000)
        .abs_ack(0xdead_beef)
        .data(b"data")
        .send();
    assert_eq!(r, Input::Dropped(DropReason::NoConnection));
    let rst = p.pop().unwrap();
    assert_eq!(rst.flags, RST);
    assert_eq!(rst.seq, 0xdead_beef);
    assert_eq!(rst.ack, 0);
    assert_eq!(rst.window, 0);
    assert!(rst.payload.is_empty());
    assert_eq!((rst.src, rst.dst), (p.us, p.them));
    // FIN|ACK likewise.
    p.tx(FIN_ACK).abs_seq(5).abs_ack(77).send();
    let rst = p.pop().unwrap();
    assert_eq!((rst.flags, rst.seq), (RST, 77));
    p.expect_none();
    assert_eq!(p.stack.stats().resets_out, 2);
    assert_eq!(p.stack.stats().dropped(DropReason::NoConnection), 2);
}

#[test]
fn closed_port_segment_without_ack_gets_rst_ack_seq_zero() {
    let mut p = Peer::new(config());
    // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>; SYN and FIN count in SEG.LEN.
    let cases: [(sanstcp::wire::TcpFlags, &[u8], u32); 5] = [
        (SYN, b"", 1),
        (SYN, b"hello", 6),
        (FIN, b"abc", 4),
        (NONE, b"xyz", 3),
        (SYN | FIN, b"", 2),
    ];
    for (flags, payload, len) in cases {
        let seq = 0xffff_fffe_u32;
        let r = p.tx(flags).abs_seq(seq).data(payload).send();
        assert_eq!(r, Input::Dropped(DropReason::NoConnection));
        let rst = p.pop().unwrap();
        assert_eq!(rst.flags, RST_ACK, "for {flags}");
        assert_eq!(rst.seq, 0);
        assert_eq!(
            rst.ack,
            seq.wrapping_add(len),
            "for {flags} with {} bytes",
            payload.len()
        );
        p.expect_none();
    }
}

#[test]
fn never_rst_a_rst() {
    let mut p = Peer::new(config());
    assert_eq!(
        p.tx(RST).abs_seq(1).send(),
        Input::Dropped(DropReason::NoConnection)
    );
    assert_eq!(
        p.tx(RST_ACK).abs_seq(1).abs_ack(2).send(),
        Input::Dropped(DropReason::NoConnection)
    );
    p.expect_none();
    // Nor from a listener.
    p.listen(ListenOptions::default());
    assert_eq!(
        p.tx(RST_ACK).abs_seq(1).abs_ack(2).send(),
        Input::Dropped(DropReason::InvalidFlags)
    );
    p.expect_none();
    assert_eq!(p.stack.stats().resets_out, 0);
}

#[test]
fn closed_port_rst_over_ipv6() {
    let mut p = Peer::new_v6(config());
    p.tx(SYN).abs_seq(41).send();
    let rst = p.pop().unwrap();
    assert!(rst.src.is_ipv6());
    assert_eq!((rst.flags, rst.seq, rst.ack), (RST_ACK, 0, 42));
}

#[test]
fn exact_rst_in_established_resets() {
    let mut p = Peer::with(|c| c.report_state_changes = true);
    let c = established(&mut p);
    p.send(ACK, 1, 1, b"unread");
    p.events();
    assert_eq!(p.send(RST, 7, 0, &[]), Input::Accepted);
    p.expect_none();
    assert_eq!(
        p.events(),
        vec![
            Event::StateChanged {
                conn: c,
                from: TcpState::Established,
                to: TcpState::Closed
            },
            Event::Closed {
                conn: c,
                reason: CloseReason::Reset
            },
        ]
    );
    // The queues are flushed and the error is sticky (RFC 9293 §3.10.7.4).
    let mut buf = [0u8; 16];
    assert_eq!(p.stack.recv(c, &mut buf), Err(RecvError::Reset));
    assert_eq!(p.stack.send(c, b"x"), Err(SendError::Reset));
    assert_eq!(p.stack.recv(c, &mut buf), Err(RecvError::Reset));
    let s = p.stack.stats();
    assert_eq!((s.resets_in, s.estab_resets), (1, 1));
    assert_eq!(p.stack.poll_timeout(), None);
}

#[test]
fn exact_rst_with_ack_resets_too() {
    let mut p = Peer::new(config());
    let c = established(&mut p);
    p.stack.send(c, b"pending").unwrap();
    p.expect(ACK, 1, 1, 7);
    assert_eq!(p.send(RST_ACK, 1, 1, &[]), Input::Accepted);
    assert_eq!(p.state(c), TcpState::Closed);
    // Nothing is retransmitted after a reset.
    p.quiet_until(ms(5000));
}

#[test]
fn in_window_rst_gets_a_challenge_ack_and_does_not_reset() {
    let mut p = Peer::new(config());
    let c = established(&mut p);
    // RCV.NXT is 1; 2 and 1000 are inside the window but not exact (RFC 5961 §3.2).
    for seq in [2, 1000, 65535] {
        assert_eq!(
            p.send(RST, seq, 0, &[]),
            Input::Dropped(DropReason::RstInWindow)
        );
        p.expect(ACK, 1, 1, 0);
    }
    assert_eq!(p.state(c), TcpState::Established);
    assert_eq!(p.stack.stats().challenge_acks, 3);
    assert_eq!(p.stack.stats().resets_in, 0);
    // The real RST still works.
    p.send(RST, 1, 0, &[]);
    assert_eq!(p.state(c), TcpState::Closed);
}

#[test]
fn out_of_window_rst_is_dropped_silently() {
    let mut p = Peer::new(config());
    let c = established(&mut p);
    let wnd = p.info(c).rcv_wnd;
    assert_eq!(wnd, 65535);
    // Just below RCV.NXT, just past the right edge, far away.
    for seq in [0, 1 + wnd, 0x8000_0000] {
        assert_eq!(
            p.send(RST, seq, 0, &[]),
            Input::Dropped(DropReason::RstOutOfWindow),
            "seq {seq}"
        );
        p.expect_none();
    }
    assert_eq!(p.state(c), TcpState::Established);
    assert_eq!(p.stack.stats().challenge_acks, 0);
}

#[test]
fn syn_in_established_gets_a_challenge_ack() {
    let mut p = Peer::new(config());
    let c = established(&mut p);
    // In the window, at RCV.NXT and beyond; with and without ACK (RFC 5961 §4.2).
    for (flags, seq) in [(SYN, 1), (SYN, 500), (SYN_ACK, 1)] {
        let r = p.tx(flags).seq(seq).ack(1).send();
        assert_eq!(
            r,
            Input::Dropped(DropReason::SynOnSynchronized),
            "{flags} seq {seq}"
        );
        p.expect(ACK, 1, 1, 0);
    }
    // The peer's old SYN again (below RCV.NXT): an ACK too.
    p.send(SYN, 0, 0, &[]);
    p.expect(ACK, 1, 1, 0);
    assert_eq!(p.state(c), TcpState::Established);
    assert_eq!(p.stack.stats().challenge_acks, 3);
    // Data still flows.
    p.send(ACK, 1, 1, b"ok");
    assert_eq!(p.info(c).rcv_nxt, PEER_ISS.wrapping_add(3));
}

#[test]
fn syn_with_data_straddling_rcv_nxt_gets_a_challenge_ack() {
    let mut p = Peer::new(config());
    let c = established(&mut p);
    // A SYN whose data reaches into the window: "irrespective of the sequence number" the SYN
    // draws a challenge ACK and the segment is dropped (RFC 5961 §4.2, RFC 9293 §3.10.7.4).
    let r = p.tx(SYN | ACK).seq(0).ack(1).data(b"smuggled").send();
    assert_eq!(r, Input::Dropped(DropReason::SynOnSynchronized));
    p.expect(ACK, 1, 1, 0);
    assert_eq!(
        p.info(c).rcv_nxt,
        PEER_ISS.wrapping_add(1),
        "none of its data was taken"
    );
    assert_eq!(p.stack.recv(c, &mut [0u8; 16]), Err(RecvError::WouldBlock));
}

#[test]
fn challenge_acks_are_rate_limited() {
    let mut p = Peer::with(|c| c.challenge_ack_limit = 2);
    let c = established(&mut p);
    p.advance_ms(2000);
    for _ in 0..2 {
        p.send(RST, 5, 0, &[]);
        p.expect(ACK, 1, 1, 0);
    }
    // The third within the same second is suppressed.
    assert_eq!(
        p.send(RST, 5, 0, &[]),
        Input::Dropped(DropReason::RstInWindow)
    );
    p.send(SYN, 5, 0, &[]);
    p.expect_none();
    let s = p.stack.stats();
    assert_eq!((s.challenge_acks, s.challenge_acks_suppressed), (2, 2));
    // A second later the budget is back.
    p.advance_ms(1000);
    p.send(RST, 5, 0, &[]);
    p.expect(ACK, 1, 1, 0);
    assert_eq!(p.stack.stats().challenge_acks, 3);
    assert_eq!(p.state(c), TcpState::Established);
}

#[test]
fn too_old_ack_gets_a_challenge_ack() {
    let mut p = Peer::new(config());
    let c = established(&mut p);
    p.window = 1000;
    p.send(ACK, 1, 1, &[]);
    let max_wnd = 65535;
    // SEG.ACK < SND.UNA - MAX.SND.WND is unacceptable (RFC 5961 §5.2): challenge ACK, dropped
    // with its data.
    let r = p
        .tx(ACK)
        .seq(1)
        .ack(1u32.wrapping_sub(max_wnd + 1))
        .data(b"zz")
        .send();
    assert_eq!(r, Input::Dropped(DropReason::BadAck));
    p.expect(ACK, 1, 1, 0);
    assert_eq!(p.info(c).rcv_nxt, PEER_ISS.wrapping_add(1));
    // At the edge it is acceptable (an old duplicate ACK).
    let r = p
        .tx(ACK)
        .seq(1)
        .ack(1u32.wrapping_sub(max_wnd))
        .data(b"zz")
        .send();
    assert_eq!(r, Input::Accepted);
    assert_eq!(p.info(c).rcv_nxt, PEER_ISS.wrapping_add(3));
}

#[test]
fn rst_in_syn_received_passive_returns_the_slot_to_the_listener() {
    let mut p = Peer::new(config());
    let l = p
        .stack
        .listen(
            p.us,
            ListenOptions {
                backlog: 4,
                syn_backlog: 1,
            },
        )
        .unwrap();
    p.tx(SYN).seq(0).mss(1460).send();
    p.expect(SYN_ACK, 0, 1, 0);
    // In-window but not exact: challenge ACK, nothing else.
    assert_eq!(
        p.send(RST, 3, 0, &[]),
        Input::Dropped(DropReason::RstInWindow)
    );
    p.expect(ACK, 1, 1, 0);
    assert_eq!(p.stack.connection_count(), 1);
    // Exact: the half-open connection is gone, no SYN-ACK retransmission follows.
    assert_eq!(p.send(RST, 1, 0, &[]), Input::Accepted);
    assert_eq!(p.stack.connection_count(), 0);
    p.quiet_until(ms(5000));
    assert!(p.stack.accept(l).is_none());
    assert!(!p
        .events()
        .iter()
        .any(|e| matches!(e, Event::Incoming { .. })));
    // The SYN queue has room again.
    assert_eq!(p.tx(SYN).seq(100).src_port(40001).send(), Input::Accepted);
}

#[test]
fn rst_in_syn_received_after_simultaneous_open_is_refused() {
    let mut p = Peer::new(config());
    let c = p.connect(ConnectOptions::default());
    p.expect(SYN, 0, 0, 0);
    p.tx(SYN).seq(0).send();
    p.expect(SYN_ACK, 0, 1, 0);
    assert_eq!(p.state(c), TcpState::SynReceived);
    p.send(RST, 1, 0, &[]);
    assert_eq!(p.state(c), TcpState::Closed);
    assert!(p.events().contains(&Event::Closed {
        conn: c,
        reason: CloseReason::Refused
    }));
    assert_eq!(p.stack.send(c, b"x"), Err(SendError::Refused));
}

#[test]
fn rst_in_each_synchronized_state() {
    use TcpState::*;
    // (how to get there, expected reason)
    type Setup = fn(&mut Peer, ConnId);
    let to_fin_wait_1: Setup = |p, c| {
        p.stack.shutdown(c).unwrap();
        p.expect(FIN_ACK, 1, 1, 0);
    };
    let to_fin_wait_2: Setup = |p, c| {
        p.stack.shutdown(c).unwrap();
        p.expect(FIN_ACK, 1, 1, 0);
        p.send(ACK, 1, 2, &[]);
    };
    let to_close_wait: Setup = |p, _| {
        p.send(FIN_ACK, 1, 1, &[]);
        p.expect(ACK, 1, 2, 0);
    };
    let to_closing: Setup = |p, c| {
        p.stack.shutdown(c).unwrap();
        p.expect(FIN_ACK, 1, 1, 0);
        p.send(FIN_ACK, 1, 1, &[]);
        p.expect(ACK, 2, 2, 0);
    };
    let to_last_ack: Setup = |p, c| {
        p.send(FIN_ACK, 1, 1, &[]);
        p.expect(ACK, 1, 2, 0);
        p.stack.shutdown(c).unwrap();
        p.expect(FIN_ACK, 1, 2, 0);
    };
    let cases: [(Setup, TcpState, u32); 5] = [
        (to_fin_wait_1, FinWait1, 1),
        (to_fin_wait_2, FinWait2, 1),
        (to_close_wait, CloseWait, 2),
        (to_closing, Closing, 2),
        (to_last_ack, LastAck, 2),
    ];
    for (setup, state, rcv_nxt) in cases {
        let mut p = Peer::new(config());
        let c = established(&mut p);
        setup(&mut p, c);
        assert_eq!(p.state(c), state);
        p.events();
        // Not exact: challenge ACK only.
        assert_eq!(
            p.send(RST, rcv_nxt + 10, 0, &[]),
            Input::Dropped(DropReason::RstInWindow),
            "{state}"
        );
        assert_eq!(p.state(c), state);
        let ack = p.pop().unwrap();
        assert_eq!((ack.flags, ack.rack), (ACK, rcv_nxt), "{state}");
        // Exact: CLOSED, and the reset is reported.
        assert_eq!(p.send(RST, rcv_nxt, 0, &[]), Input::Accepted, "{state}");
        assert_eq!(p.state(c), Closed, "{state}");
        assert_eq!(
            p.events(),
            vec![Event::Closed {
                conn: c,
                reason: CloseReason::Reset
            }],
            "{state}"
        );
        p.quiet_until(ms(10_000));
    }
}

#[test]
fn rst_in_time_wait_is_ignored() {
    let mut p = Peer::with(|c| c.msl = std::time::Duration::from_secs(1));
    let c = established(&mut p);
    p.stack.shutdown(c).unwrap();
    p.expect(FIN_ACK, 1, 1, 0);
    p.send(FIN_ACK, 1, 2, &[]);
    p.expect(ACK, 2, 2, 0);
    assert_eq!(p.state(c), TcpState::TimeWait);
    // RFC 1337 (TIME-WAIT assassination): an exact RST does not end TIME-WAIT early (documented
    // in the core's RST step).
    assert_eq!(p.send(RST, 2, 0, &[]), Input::Accepted);
    p.expect_none();
    assert_eq!(p.state(c), TcpState::TimeWait);
    p.advance_to(ms(2000));
    assert_eq!(p.state(c), TcpState::Closed);
    assert!(p.events().contains(&Event::Closed {
        conn: c,
        reason: CloseReason::Normal
    }));
}

#[test]
fn rsts_for_no_connection_are_rate_limited() {
    let mut p = Peer::with(|c| c.rst_limit = 5);
    for i in 0..10u32 {
        let r = p.tx(ACK).abs_seq(1000).abs_ack(i).send();
        assert_eq!(r, Input::Dropped(DropReason::NoConnection));
    }
    assert_eq!(p.drain().len(), 5, "five RSTs in the first second");
    assert_eq!(p.stack.stats().resets_suppressed, 5);
    p.advance(std::time::Duration::from_secs(1));
    assert_eq!(
        p.tx(ACK).abs_seq(1000).abs_ack(99).send(),
        Input::Dropped(DropReason::NoConnection)
    );
    assert_eq!(p.drain().len(), 1, "a new second, a new allowance");
}
