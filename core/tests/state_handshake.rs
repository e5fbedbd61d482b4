//! Connection establishment, segment by segment (RFC 9293 §3.5, §3.10.7.2–3): active open
//! (CLOSED → SYN-SENT → ESTABLISHED), passive open (LISTEN → SYN-RECEIVED → ESTABLISHED),
//! simultaneous open (SYN crossing SYN), retransmitted SYNs, SYN and SYN-ACK retries, the options
//! negotiated in the SYNs (MSS from the MTU, the peer's MSS or 536, window scaling only when both
//! SYNs carry it, unscaled SYN windows), ISNs (RFC 6528) and the IPv6 variants.

mod peer;

use std::time::Duration;

use peer::*;
use sanstcp::{
    CloseReason, ConnectOptions, Event, Input, Instant, ListenOptions, RecvError, SendError,
    TcpState,
};

#[test]
fn active_open_closed_syn_sent_established() {
    let mut p = Peer::with(|c| c.report_state_changes = true);
    let c = p.connect(ConnectOptions::default());
    assert_eq!(p.state(c), TcpState::SynSent);
    let syn = p.expect(SYN, 0, 0, 0);
    // Our MSS comes from the MTU (1500 - 40); we always offer window scaling, sized for the
    // 256 KiB receive buffer; the SYN's window is never scaled (RFC 7323 §2.2).
    assert_eq!(syn.options.mss, Some(1460));
    assert_eq!(syn.options.window_scale, Some(3));
    assert_eq!(syn.window, 65535);
    assert_eq!(p.transitions(), vec![(TcpState::Closed, TcpState::SynSent)]);
    // Nothing else until the SYN-ACK.
    p.quiet_until(ms(50));
    assert_eq!(
        p.tx(SYN_ACK).seq(0).ack(1).mss(1460).wscale(7).send(),
        Input::Accepted
    );
    p.expect(ACK, 1, 1, 0);
    p.expect_none();
    let i = p.info(c);
    assert_eq!(i.state, TcpState::Established);
    assert_eq!(i.irs, PEER_ISS);
    assert_eq!(i.snd_una, i.iss.wrapping_add(1));
    assert_eq!(i.rcv_nxt, PEER_ISS.wrapping_add(1));
    assert_eq!(i.srtt, Some(Duration::from_millis(50)));
    assert_eq!(
        p.events(),
        vec![
            Event::StateChanged {
                conn: c,
                from: TcpState::SynSent,
                to: TcpState::Established
            },
            Event::Connected { conn: c },
        ]
    );
    // A connected socket with nothing to do has no timer running.
    assert_eq!(p.stack.poll_timeout(), None);
}

#[test]
fn passive_open_listen_syn_received_established() {
    let mut p = Peer::with(|c| c.report_state_changes = true);
    let l = p.listen(ListenOptions::default());
    assert_eq!(p.tx(SYN).seq(0).mss(1400).send(), Input::Accepted);
    let synack = p.expect(SYN_ACK, 0, 1, 0);
    assert_eq!(synack.options.mss, Some(1460));
    // The peer did not offer window scaling, so the SYN-ACK must not carry it.
    assert_eq!(synack.options.window_scale, None);
    assert_eq!(synack.window, 65535);
    assert_eq!(
        p.stack.accept(l),
        None,
        "not established before the final ACK"
    );
    let trans = p.transitions();
    assert_eq!(trans, vec![(TcpState::Listen, TcpState::SynReceived)]);
    assert_eq!(p.stack.stats().passive_opens, 1);

    p.advance_ms(20);
    assert_eq!(p.send(ACK, 1, 1, &[]), Input::Accepted);
    p.expect_none();
    let evs = p.events();
    assert!(evs.contains(&Event::Incoming { listener: l }), "{evs:?}");
    assert!(
        evs.iter().any(|e| matches!(
            e,
            Event::StateChanged {
                from: TcpState::SynReceived,
                to: TcpState::Established,
                ..
            }
        )),
        "{evs:?}"
    );
    assert!(
        !evs.iter().any(|e| matches!(e, Event::Connected { .. })),
        "passive opens report Incoming: {evs:?}"
    );
    let c = p.stack.accept(l).expect("accept");
    let i = p.info(c);
    assert_eq!(i.state, TcpState::Established);
    assert_eq!(i.peer_mss, 1400);
    assert_eq!(i.mss, 1400);
    assert_eq!(i.srtt, Some(Duration::from_millis(20)));
    assert_eq!(p.stack.accept(l), None);
}

#[test]
fn passive_open_data_on_the_final_ack() {
    let mut p = Peer::new(config());
    let l = p.listen(ListenOptions::default());
    p.tx(SYN).seq(0).mss(1460).send();
    p.expect(SYN_ACK, 0, 1, 0);
    // The third segment of the handshake may carry data (RFC 9293 §3.5).
    assert_eq!(p.send(ACK | PSH, 1, 1, b"hello"), Input::Accepted);
    let c = p.stack.accept(l).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(p.stack.recv(c, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    // A single small segment is ACKed after the delayed-ACK time.
    p.expect_at(ms(40), ACK, 1, 6, 0);
}

#[test]
fn simultaneous_open_syn_crossing_syn() {
    let mut p = Peer::with(|c| c.report_state_changes = true);
    let c = p.connect(ConnectOptions::default());
    p.expect(SYN, 0, 0, 0);
    // The peer's SYN crosses ours (RFC 9293 figure 8): SYN-SENT → SYN-RECEIVED, and we answer
    // with a SYN-ACK that repeats our ISS.
    p.advance_ms(10);
    assert_eq!(p.tx(SYN).seq(0).mss(1460).wscale(2).send(), Input::Accepted);
    let synack = p.expect(SYN_ACK, 0, 1, 0);
    assert_eq!(synack.options.window_scale, Some(3));
    assert_eq!(synack.options.mss, Some(1460));
    assert_eq!(p.state(c), TcpState::SynReceived);
    // The peer's SYN-ACK for our SYN: its SYN is old now (below RCV.NXT), so the segment is not
    // acceptable and is answered with an ACK (RFC 9293 §3.10.7.4, first check).
    p.advance_ms(10);
    assert_eq!(
        p.send(SYN_ACK, 0, 1, &[]),
        Input::Dropped(sanstcp::DropReason::OutOfWindow)
    );
    p.expect(ACK, 1, 1, 0);
    assert_eq!(p.state(c), TcpState::SynReceived);
    // The peer's ACK completes it.
    assert_eq!(p.send(ACK, 1, 1, &[]), Input::Accepted);
    p.expect_none();
    let i = p.info(c);
    assert_eq!(i.state, TcpState::Established);
    assert_eq!(i.snd_wscale, Some(2));
    assert_eq!(i.rcv_wscale, Some(3));
    assert_eq!(
        p.events(),
        vec![
            Event::StateChanged {
                conn: c,
                from: TcpState::Closed,
                to: TcpState::SynSent
            },
            Event::StateChanged {
                conn: c,
                from: TcpState::SynSent,
                to: TcpState::SynReceived
            },
            Event::StateChanged {
                conn: c,
                from: TcpState::SynReceived,
                to: TcpState::Established
            },
            Event::Connected { conn: c },
        ]
    );
    // Data flows both ways afterwards.
    assert_eq!(p.stack.send(c, b"abc"), Ok(3));
    p.expect(ACK, 1, 1, 3);
}

#[test]
fn simultaneous_open_without_wscale_from_peer() {
    let mut p = Peer::new(config());
    let c = p.connect(ConnectOptions::default());
    p.expect(SYN, 0, 0, 0);
    p.tx(SYN).seq(0).mss(1000).send();
    let synack = p.expect(SYN_ACK, 0, 1, 0);
    // Only the peer's SYN decides: it carried no window scale, so neither does our SYN-ACK.
    assert_eq!(synack.options.window_scale, None);
    p.send(ACK, 1, 1, &[]);
    let i = p.info(c);
    assert_eq!(i.state, TcpState::Established);
    assert_eq!((i.snd_wscale, i.rcv_wscale), (None, None));
    assert_eq!(i.mss, 1000);
}

#[test]
fn retransmitted_syn_in_syn_received_repeats_the_syn_ack() {
    let mut p = Peer::new(config());
    let l = p.listen(ListenOptions::default());
    p.tx(SYN).seq(0).mss(1460).send();
    let first = p.expect(SYN_ACK, 0, 1, 0);
    // Our SYN-ACK was lost; the peer's SYN comes again.
    p.advance_ms(300);
    assert_eq!(p.tx(SYN).seq(0).mss(1460).send(), Input::Accepted);
    let again = p.expect(SYN_ACK, 0, 1, 0);
    assert_eq!(again.seq, first.seq, "the same ISS");
    assert_eq!(
        p.stack.stats().passive_opens,
        1,
        "no second half-open connection"
    );
    p.send(ACK, 1, 1, &[]);
    assert!(p.stack.accept(l).is_some());
    assert!(p.stack.accept(l).is_none());
}

#[test]
fn syn_retries_back_off_then_time_out() {
    let mut p = Peer::with(|c| {
        c.syn_retries = 3;
        c.report_state_changes = true;
    });
    let c = p.connect(ConnectOptions::default());
    p.expect(SYN, 0, 0, 0);
    // RFC 6298: initial RTO 1 s, doubled on every expiry.
    p.expect_at(ms(1000), SYN, 0, 0, 0);
    p.expect_at(ms(3000), SYN, 0, 0, 0);
    p.expect_at(ms(7000), SYN, 0, 0, 0);
    assert_eq!(p.info(c).backoff, 3);
    assert_eq!(p.stack.stats().retransmitted_segments, 3);
    p.transitions();
    // The fourth expiry gives up.
    p.quiet_until(ms(14_999));
    assert_eq!(p.state(c), TcpState::SynSent);
    p.advance_to(ms(15_000));
    p.expect_none();
    assert_eq!(
        p.events(),
        vec![
            Event::StateChanged {
                conn: c,
                from: TcpState::SynSent,
                to: TcpState::Closed
            },
            Event::Closed {
                conn: c,
                reason: CloseReason::TimedOut
            },
        ]
    );
    assert_eq!(p.state(c), TcpState::Closed);
    assert_eq!(p.stack.send(c, b"x"), Err(SendError::TimedOut));
    assert_eq!(p.stack.recv(c, &mut [0u8; 4]), Err(RecvError::TimedOut));
    assert_eq!(p.stack.stats().timeouts, 1);
    assert_eq!(p.stack.poll_timeout(), None);
}

#[test]
fn karn_no_rtt_sample_from_a_retransmitted_syn() {
    let mut p = Peer::new(config());
    let c = p.connect(ConnectOptions::default());
    p.expect(SYN, 0, 0, 0);
    p.expect_at(ms(1000), SYN, 0, 0, 0);
    // The SYN-ACK could answer either SYN: no sample (RFC 6298 §3, Karn).
    p.advance_to(ms(1050));
    p.tx(SYN_ACK).seq(0).ack(1).mss(1460).send();
    p.expect(ACK, 1, 1, 0);
    assert_eq!(p.info(c).srtt, None);
    // Data sent now is timed, and its ACK gives the first sample.
    p.stack.send(c, b"data").unwrap();
    p.expect(ACK, 1, 1, 4);
    p.advance_to(ms(1130));
    p.send(ACK, 1, 5, &[]);
    assert_eq!(p.info(c).srtt, Some(Duration::from_millis(80)));
}

#[test]
fn syn_ack_retries_then_the_half_open_connection_is_dropped() {
    let mut p = Peer::with(|c| c.syn_retries = 2);
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
    p.expect_at(ms(1000), SYN_ACK, 0, 1, 0);
    p.expect_at(ms(3000), SYN_ACK, 0, 1, 0);
    p.quiet_until(ms(7000));
    assert_eq!(
        p.stack.connection_count(),
        0,
        "the half-open connection is gone"
    );
    assert_eq!(p.stack.poll_timeout(), None);
    // Its final ACK now reaches the listener, which answers an ACK with <SEQ=SEG.ACK><CTL=RST>.
    let iss = p.stack_iss();
    assert_eq!(
        p.send(ACK, 1, 1, &[]),
        Input::Dropped(sanstcp::DropReason::NoConnection)
    );
    let rst = p.expect(RST, 1, 0, 0);
    assert_eq!(rst.seq, iss.wrapping_add(1));
    // The SYN queue slot (syn_backlog 1) is free again.
    assert_eq!(p.tx(SYN).seq(1000).send(), Input::Accepted);
    p.expect(SYN_ACK, 0, 1001, 0);
    assert!(p.stack.accept(l).is_none());
}

#[test]
fn rst_in_syn_sent_acking_our_syn_refuses_the_connection() {
    let mut p = Peer::with(|c| c.report_state_changes = true);
    let c = p.connect(ConnectOptions::default());
    p.expect(SYN, 0, 0, 0);
    p.transitions();
    // A RST that does not acknowledge our SYN is not valid in SYN-SENT (RFC 5961 §3.2 / RFC 9293
    // §3.10.7.3): without ACK it is dropped...
    assert_eq!(
        p.send(RST, 0, 0, &[]),
        Input::Dropped(sanstcp::DropReason::RstOutOfWindow)
    );
    // ...and with an ACK of something else it is dropped too, and never answered.
    assert_eq!(
        p.send(RST_ACK, 0, 7, &[]),
        Input::Dropped(sanstcp::DropReason::BadAck)
    );
    p.expect_none();
    assert_eq!(p.state(c), TcpState::SynSent);
    // SEG.ACK = ISS + 1: connection refused.
    assert_eq!(p.send(RST_ACK, 0, 1, &[]), Input::Accepted);
    p.expect_none();
    assert_eq!(
        p.events(),
        vec![
            Event::StateChanged {
                conn: c,
                from: TcpState::SynSent,
                to: TcpState::Closed
            },
            Event::Closed {
                conn: c,
                reason: CloseReason::Refused
            },
        ]
    );
    assert_eq!(p.stack.send(c, b"x"), Err(SendError::Refused));
    assert_eq!(p.stack.recv(c, &mut [0u8; 1]), Err(RecvError::Refused));
    assert_eq!(p.stack.stats().attempt_fails, 1);
    // No retransmission of the SYN afterwards.
    p.quiet_until(ms(10_000));
}

#[test]
fn bad_ack_in_syn_sent_is_answered_with_rst() {
    let mut p = Peer::new(config());
    let c = p.connect(ConnectOptions::default());
    p.expect(SYN, 0, 0, 0);
    let iss = p.stack_iss();
    // SEG.ACK > SND.NXT: <SEQ=SEG.ACK><CTL=RST>, and the attempt goes on.
    assert_eq!(
        p.send(ACK, 0, 5, &[]),
        Input::Dropped(sanstcp::DropReason::BadAck)
    );
    let rst = p.expect(RST, 5, 0, 0);
    assert_eq!(rst.seq, iss.wrapping_add(5));
    assert_eq!(rst.ack, 0);
    // SEG.ACK =< ISS too, even on a SYN-ACK.
    assert_eq!(
        p.send(SYN_ACK, 0, 0, &[]),
        Input::Dropped(sanstcp::DropReason::BadAck)
    );
    p.expect(RST, 0, 0, 0);
    assert_eq!(p.state(c), TcpState::SynSent);
    // A segment with an acceptable ACK but neither SYN nor RST is dropped silently.
    assert_eq!(
        p.send(ACK, 0, 1, &[]),
        Input::Dropped(sanstcp::DropReason::InvalidFlags)
    );
    p.expect_none();
    // The real SYN-ACK still completes the handshake.
    p.tx(SYN_ACK).seq(0).ack(1).mss(1460).send();
    p.expect(ACK, 1, 1, 0);
    assert_eq!(p.state(c), TcpState::Established);
}

#[test]
fn syn_ack_carrying_data_and_fin() {
    let mut p = Peer::new(config());
    let c = p.connect(ConnectOptions::default());
    p.expect(SYN, 0, 0, 0);
    p.tx(SYN_ACK | FIN)
        .seq(0)
        .ack(1)
        .mss(1460)
        .data(b"hi")
        .send();
    // Data, then the FIN: CLOSE-WAIT at once, everything ACKed in one segment.
    p.expect(ACK, 1, 4, 0);
    assert_eq!(p.state(c), TcpState::CloseWait);
    let mut buf = [0u8; 8];
    assert_eq!(p.stack.recv(c, &mut buf), Ok(2));
    assert_eq!(p.stack.recv(c, &mut buf), Ok(0));
}

#[test]
fn listener_answers_ack_with_rst_and_ignores_rst_and_bare_segments() {
    let mut p = Peer::new(config());
    let l = p.listen(ListenOptions::default());
    // RFC 9293 §3.10.7.2: an ACK to a listener gets <SEQ=SEG.ACK><CTL=RST>.
    assert_eq!(
        p.tx(ACK).seq(5).abs_ack(12345).send(),
        Input::Dropped(sanstcp::DropReason::NoConnection)
    );
    let rst = p.pop().unwrap();
    assert_eq!(rst.flags, RST);
    assert_eq!(rst.seq, 12345);
    // A RST is ignored, and so is a segment with neither SYN, ACK nor RST.
    assert_eq!(
        p.send(RST, 5, 0, &[]),
        Input::Dropped(sanstcp::DropReason::InvalidFlags)
    );
    assert_eq!(
        p.send(FIN, 5, 0, &[]),
        Input::Dropped(sanstcp::DropReason::InvalidFlags)
    );
    p.expect_none();
    assert!(p.stack.accept(l).is_none());
    assert_eq!(p.stack.connection_count(), 0);
}

#[test]
fn bad_ack_in_syn_received_is_answered_with_rst() {
    let mut p = Peer::new(config());
    let l = p.listen(ListenOptions::default());
    p.tx(SYN).seq(0).mss(1460).send();
    p.expect(SYN_ACK, 0, 1, 0);
    let iss = p.stack_iss();
    // SEG.ACK outside SND.UNA < SEG.ACK =< SND.NXT: <SEQ=SEG.ACK><CTL=RST>.
    assert_eq!(
        p.send(ACK, 1, 9, &[]),
        Input::Dropped(sanstcp::DropReason::BadAck)
    );
    let rst = p.expect(RST, 9, 0, 0);
    assert_eq!(rst.seq, iss.wrapping_add(9));
    assert_eq!(
        p.send(ACK, 1, 0, &[]),
        Input::Dropped(sanstcp::DropReason::BadAck)
    );
    p.expect(RST, 0, 0, 0);
    assert!(p.stack.accept(l).is_none());
    // The half-open connection survives and completes with the right ACK.
    assert_eq!(p.send(ACK, 1, 1, &[]), Input::Accepted);
    assert!(p.stack.accept(l).is_some());
}

#[test]
fn mss_ours_from_the_mtu_theirs_limits_our_segments() {
    let mut p = Peer::with(|c| c.mtu = 1400);
    p.syn_options.mss = Some(500);
    let c = p.connect(ConnectOptions::default());
    let syn = p.expect(SYN, 0, 0, 0);
    assert_eq!(
        syn.options.mss,
        Some(1360),
        "MTU 1400 minus 40 bytes of IPv4 + TCP headers"
    );
    p.tx(SYN_ACK).seq(0).ack(1).mss(500).send();
    p.expect(ACK, 1, 1, 0);
    let i = p.info(c);
    assert_eq!((i.mss, i.peer_mss), (500, 500));
    p.stack.set_nodelay(c, true).unwrap();
    assert_eq!(p.stack.send(c, &data(1, 1200)), Ok(1200));
    p.expect(ACK, 1, 1, 500);
    p.expect(ACK, 501, 1, 500);
    p.expect(ACK, 1001, 1, 200);
    p.expect_none();
}

#[test]
fn mss_defaults_to_536_without_the_option() {
    let mut p = Peer::new(config());
    let l = p.listen(ListenOptions::default());
    // A SYN without options: the peer's MSS is taken as 536 (RFC 9293 §3.7.1).
    p.tx(SYN).seq(0).send();
    p.expect(SYN_ACK, 0, 1, 0);
    p.send(ACK, 1, 1, &[]);
    let c = p.stack.accept(l).unwrap();
    let i = p.info(c);
    assert_eq!((i.mss, i.peer_mss), (536, 536));
    p.stack.set_nodelay(c, true).unwrap();
    assert_eq!(p.stack.send(c, &data(2, 1000)), Ok(1000));
    p.expect(ACK, 1, 1, 536);
    p.expect(ACK, 537, 1, 464);
}

#[test]
fn window_scaling_only_when_both_syns_carry_it() {
    // Both SYNs: our window field is shifted by our scale, theirs by theirs.
    let mut p = Peer::new(config());
    p.syn_options.window_scale = Some(4);
    let c = p.active_open(ConnectOptions::default());
    let i = p.info(c);
    assert_eq!((i.snd_wscale, i.rcv_wscale), (Some(4), Some(3)));
    // The SYN-ACK's window (65535) was taken unscaled.
    assert_eq!(i.snd_wnd, 65535);
    p.tx(ACK).seq(1).ack(1).win(100).send();
    assert_eq!(p.info(c).snd_wnd, 1600);
    p.stack.send(c, b"x").unwrap();
    let s = p.expect(ACK, 1, 1, 1);
    assert_eq!(
        u32::from(s.window) << 3,
        256 * 1024,
        "256 KiB free, shifted by 3"
    );

    // The peer's SYN-ACK without the option: no scaling either way, raw 16-bit windows.
    let mut q = Peer::new(config());
    let c = q.active_open(ConnectOptions::default());
    let i = q.info(c);
    assert_eq!((i.snd_wscale, i.rcv_wscale), (None, None));
    q.tx(ACK).seq(1).ack(1).win(100).send();
    assert_eq!(q.info(c).snd_wnd, 100);
    q.stack.send(c, b"x").unwrap();
    let s = q.expect(ACK, 1, 1, 1);
    assert_eq!(s.window, 65535);
}

#[test]
fn passive_open_window_scale_and_unscaled_syn_window() {
    let mut p = Peer::new(config());
    p.syn_options.window_scale = Some(2);
    let l = p.listen(ListenOptions::default());
    // The SYN's window is 1000 and must not be shifted (RFC 7323 §2.2).
    p.tx(SYN).seq(0).mss(1460).wscale(2).win(1000).send();
    let synack = p.expect(SYN_ACK, 0, 1, 0);
    assert_eq!(synack.options.window_scale, Some(3));
    assert_eq!(synack.window, 65535, "not scaled in a SYN");
    // The final ACK's window is scaled: 1000 << 2.
    p.tx(ACK).seq(1).ack(1).win(1000).send();
    let c = p.stack.accept(l).unwrap();
    assert_eq!(p.info(c).snd_wnd, 4000);
}

#[test]
fn isn_differs_per_tuple_repeats_per_config_and_advances_with_time() {
    let mut a = Peer::new(config());
    let c1 = a
        .stack
        .connect(
            ms(0),
            "10.0.0.2:80".parse().unwrap(),
            ConnectOptions::default(),
        )
        .unwrap();
    let c2 = a
        .stack
        .connect(
            ms(0),
            "10.0.0.2:81".parse().unwrap(),
            ConnectOptions::default(),
        )
        .unwrap();
    let c3 = a
        .stack
        .connect(
            ms(0),
            "10.0.0.3:80".parse().unwrap(),
            ConnectOptions::default(),
        )
        .unwrap();
    let isn = |p: &Peer, c| p.info(c).iss;
    let (i1, i2, i3) = (isn(&a, c1), isn(&a, c2), isn(&a, c3));
    assert_ne!(i1, i2);
    assert_ne!(i1, i3);
    assert_ne!(i2, i3);

    // Same secret, same 4-tuple, same time: the same ISN; one second later: 250 000 more
    // (RFC 6528's 4 µs clock).
    let mut b = Peer::new(config());
    let d1 = b
        .stack
        .connect(
            ms(0),
            "10.0.0.2:80".parse().unwrap(),
            ConnectOptions::default(),
        )
        .unwrap();
    assert_eq!(b.info(d1).local, a.info(c1).local);
    assert_eq!(isn(&b, d1), i1);
    let mut c = Peer::new(config());
    let e1 = c
        .stack
        .connect(
            ms(1000),
            "10.0.0.2:80".parse().unwrap(),
            ConnectOptions::default(),
        )
        .unwrap();
    assert_eq!(c.info(e1).local, a.info(c1).local);
    assert_eq!(isn(&c, e1).wrapping_sub(i1), 250_000);

    // Another secret: another ISN for the same tuple and time.
    let mut cfg = config();
    cfg.secret = [0x43; 16];
    let mut d = Peer::new(cfg);
    let f1 = d
        .stack
        .connect(
            ms(0),
            a.info(c1).remote,
            ConnectOptions {
                local: Some(a.info(c1).local),
                ..Default::default()
            },
        )
        .unwrap();
    assert_ne!(isn(&d, f1), i1);

    // Passive opens too: two peers' ports get different ISNs.
    let mut e = Peer::new(config());
    e.listen(ListenOptions::default());
    e.tx(SYN).seq(0).src_port(5000).send();
    e.tx(SYN).seq(0).src_port(5001).send();
    let s1 = e.pop().unwrap();
    let s2 = e.pop().unwrap();
    assert_eq!((s1.dst.port(), s2.dst.port()), (5000, 5001));
    assert_ne!(s1.seq, s2.seq);
}

#[test]
fn ipv6_active_open_and_data() {
    let mut p = Peer::with_v6(|c| c.report_state_changes = true);
    let c = p.connect(ConnectOptions::default());
    assert!(p.us.is_ipv6());
    let syn = p.expect(SYN, 0, 0, 0);
    assert_eq!(
        syn.options.mss,
        Some(1440),
        "MTU 1500 minus 60 bytes of IPv6 + TCP headers"
    );
    assert_eq!(syn.hop_limit, 64);
    p.tx(SYN_ACK).seq(0).ack(1).mss(1440).send();
    p.expect(ACK, 1, 1, 0);
    assert_eq!(
        p.transitions(),
        vec![
            (TcpState::Closed, TcpState::SynSent),
            (TcpState::SynSent, TcpState::Established)
        ]
    );
    p.stack.set_nodelay(c, true).unwrap();
    assert_eq!(p.stack.send(c, &data(3, 2000)), Ok(2000));
    let s = p.expect(ACK, 1, 1, 1440);
    assert_eq!(s.payload, data(3, 2000)[..1440]);
    p.expect(ACK, 1441, 1, 560);
    p.send(ACK | PSH, 1, 2001, b"reply");
    let mut buf = [0u8; 16];
    assert_eq!(p.stack.recv(c, &mut buf), Ok(5));
    assert_eq!(p.info(c).snd_una, p.info(c).iss.wrapping_add(2001));
}

#[test]
fn ipv6_passive_open() {
    let mut p = Peer::with_v6(|c| c.report_state_changes = true);
    let (_l, c) = p.passive_open();
    assert_eq!(p.info(c).local, p.us);
    assert_eq!(
        p.transitions(),
        vec![
            (TcpState::Listen, TcpState::SynReceived),
            (TcpState::SynReceived, TcpState::Established)
        ]
    );
    p.send(ACK, 1, 1, &data(4, 100));
    p.expect_at(ms(40), ACK, 1, 101, 0);
    p.stack.close(c);
}

#[test]
fn connect_errors_and_unknown_ids() {
    let mut p = Peer::new(config());
    let bad = p.stack.connect(
        Instant::ZERO,
        "10.0.0.2:0".parse().unwrap(),
        ConnectOptions::default(),
    );
    assert_eq!(bad, Err(sanstcp::ConnectError::BadRemote));
    let c = p.connect(ConnectOptions::default());
    let other_port = ConnectOptions {
        local: Some(p.us),
        ..Default::default()
    };
    assert_eq!(
        p.stack.connect(p.now(), p.them, other_port),
        Err(sanstcp::ConnectError::AddressInUse)
    );
    p.stack.abort(c);
    assert_eq!(p.stack.info(c), None);
}

#[test]
fn retransmitted_syn_ack_in_established_is_re_acked() {
    let mut p = Peer::new(config());
    let c = p.active_open(ConnectOptions::default());
    // Our ACK of the SYN-ACK was lost: the SYN-ACK comes again. Its SYN is old, so the segment
    // is unacceptable and answered with an ACK (RFC 9293 §3.10.7.4), no challenge ACK needed.
    p.advance_ms(1000);
    assert_eq!(
        p.tx(SYN_ACK).seq(0).ack(1).mss(1460).send(),
        Input::Dropped(sanstcp::DropReason::OutOfWindow)
    );
    p.expect(ACK, 1, 1, 0);
    assert_eq!(p.state(c), TcpState::Established);
    assert_eq!(p.stack.stats().challenge_acks, 0);
    assert_eq!(p.info(c).rcv_nxt, PEER_ISS.wrapping_add(1));
}

#[test]
fn data_on_a_syn_to_a_listener_is_not_acknowledged() {
    let mut p = Peer::new(config());
    let l = p.listen(ListenOptions::default());
    // The SYN's data may be dropped; the SYN-ACK then acknowledges only the SYN.
    p.tx(SYN).seq(0).mss(1460).data(b"early").send();
    p.expect(SYN_ACK, 0, 1, 0);
    // The peer retransmits the data after the handshake.
    p.send(ACK | PSH, 1, 1, b"early");
    let c = p.stack.accept(l).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(p.stack.recv(c, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"early");
}
