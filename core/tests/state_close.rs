//! Connection termination, segment by segment (RFC 9293 §3.6, §3.10.4, §3.10.7.4): active close
//! through FIN-WAIT-1 and FIN-WAIT-2 to TIME-WAIT and CLOSED after exactly 2·MSL, passive close
//! (CLOSE-WAIT → LAST-ACK → CLOSED), simultaneous close through CLOSING, half-close (reading
//! after our FIN), FIN retransmission, a retransmitted FIN re-ACKed in TIME-WAIT (which restarts
//! the 2·MSL timer), the FIN-WAIT-2 timeout of an orphaned connection, close() with unread data
//! and abort() (RSTs), TIME-WAIT ended by a new SYN (RFC 6191), and stale ids afterwards.

mod peer;

use std::time::Duration;

use peer::*;
use sanstcp::{
    CloseReason, ConnId, ConnectOptions, DropReason, Event, Input, RecvError, SendError,
    StateError, TcpState,
};

const MSL: Duration = Duration::from_secs(7);

fn peer() -> Peer {
    Peer::with(|c| {
        c.report_state_changes = true;
        c.msl = MSL;
    })
}

/// An established active open at t = 0 with events and transitions drained.
fn established(p: &mut Peer) -> ConnId {
    let c = p.active_open(ConnectOptions::default());
    p.events();
    c
}

use TcpState::*;

#[test]
fn active_close_fin_wait_1_fin_wait_2_time_wait_closed_after_2msl() {
    let mut p = peer();
    let c = established(&mut p);
    p.advance_ms(100);
    p.stack.shutdown(c).unwrap();
    assert_eq!(p.state(c), FinWait1);
    p.expect(FIN_ACK, 1, 1, 0);
    assert_eq!(p.stack.send(c, b"x"), Err(SendError::Closed));
    assert_eq!(p.stack.shutdown(c), Err(StateError::AlreadyShutdown));
    // The peer ACKs our FIN.
    p.advance_ms(10);
    assert_eq!(p.send(ACK, 1, 2, &[]), Input::Accepted);
    p.expect_none();
    assert_eq!(p.state(c), FinWait2);
    // A FIN_WAIT_2 held by the application has no timeout.
    assert_eq!(p.stack.poll_timeout(), None);
    // The peer's FIN: TIME-WAIT, ACKed at once.
    p.advance_ms(10);
    assert_eq!(p.send(FIN_ACK, 1, 2, &[]), Input::Accepted);
    p.expect(ACK, 2, 2, 0);
    assert_eq!(p.state(c), TimeWait);
    let entered = p.now();
    assert_eq!(p.stack.poll_timeout(), Some(entered + 2 * MSL));
    let mut buf = [0u8; 4];
    assert_eq!(p.stack.recv(c, &mut buf), Ok(0));
    // Exactly 2·MSL later, not a nanosecond earlier.
    p.advance_to(just_before(entered + 2 * MSL));
    assert_eq!(p.state(c), TimeWait);
    p.advance_to(entered + 2 * MSL);
    p.expect_none();
    assert_eq!(p.state(c), Closed);
    assert_eq!(
        p.events(),
        vec![
            Event::StateChanged {
                conn: c,
                from: Established,
                to: FinWait1
            },
            Event::StateChanged {
                conn: c,
                from: FinWait1,
                to: FinWait2
            },
            Event::PeerClosed { conn: c },
            Event::StateChanged {
                conn: c,
                from: FinWait2,
                to: TimeWait
            },
            Event::StateChanged {
                conn: c,
                from: TimeWait,
                to: Closed
            },
            Event::Closed {
                conn: c,
                reason: CloseReason::Normal
            },
        ]
    );
    // A normal close reads as end of stream and refuses writes.
    assert_eq!(p.stack.recv(c, &mut buf), Ok(0));
    assert_eq!(p.stack.send(c, b"x"), Err(SendError::Closed));
    // The 4-tuple is free: a segment for it now gets a RST.
    assert_eq!(
        p.send(ACK, 2, 2, &[]),
        Input::Dropped(DropReason::NoConnection)
    );
    p.expect(RST, 2, 0, 0);
    // Releasing the id makes it stale.
    p.stack.close(c);
    assert_eq!(p.stack.info(c), None);
    assert_eq!(p.stack.connection_count(), 0);
    assert_eq!(p.stack.send(c, b"x"), Err(SendError::InvalidConnection));
    assert_eq!(p.stack.recv(c, &mut buf), Err(RecvError::InvalidConnection));
    assert_eq!(p.stack.shutdown(c), Err(StateError::InvalidConnection));
}

#[test]
fn msl_is_configurable() {
    for msl in [Duration::from_millis(500), Duration::from_secs(60)] {
        let mut p = Peer::with(|c| c.msl = msl);
        let c = p.active_open(ConnectOptions::default());
        p.stack.shutdown(c).unwrap();
        p.expect(FIN_ACK, 1, 1, 0);
        p.send(FIN_ACK, 1, 2, &[]);
        p.expect(ACK, 2, 2, 0);
        assert_eq!(p.state(c), TimeWait);
        p.advance_to(just_before(at(2 * msl)));
        assert_eq!(p.state(c), TimeWait);
        p.advance_to(at(2 * msl));
        assert_eq!(p.state(c), Closed);
    }
}

#[test]
fn retransmitted_fin_in_time_wait_is_acked_and_restarts_the_timer() {
    let mut p = peer();
    let c = established(&mut p);
    p.stack.shutdown(c).unwrap();
    p.expect(FIN_ACK, 1, 1, 0);
    p.send(FIN_ACK, 1, 2, &[]);
    p.expect(ACK, 2, 2, 0);
    assert_eq!(p.state(c), TimeWait);
    // Our ACK was lost: the peer's FIN comes again 3 s later. It is old (below RCV.NXT), so it is
    // answered with an ACK, and TIME-WAIT starts over (RFC 9293 §3.10.7.4, TIME-WAIT).
    p.advance_ms(3000);
    assert_eq!(
        p.send(FIN_ACK, 1, 2, &[]),
        Input::Dropped(DropReason::OutOfWindow)
    );
    p.expect(ACK, 2, 2, 0);
    assert_eq!(p.stack.poll_timeout(), Some(ms(3000) + 2 * MSL));
    p.advance_to(at(2 * MSL));
    assert_eq!(p.state(c), TimeWait, "the first deadline no longer counts");
    p.quiet_until(just_before(ms(3000) + 2 * MSL));
    assert_eq!(p.state(c), TimeWait);
    p.advance_to(ms(3000) + 2 * MSL);
    assert_eq!(p.state(c), Closed);
}

#[test]
fn passive_close_close_wait_last_ack_closed() {
    let mut p = peer();
    let c = established(&mut p);
    // The peer's FIN: CLOSE-WAIT, ACKed at once, end of stream for the reader.
    p.advance_ms(50);
    assert_eq!(p.send(FIN_ACK, 1, 1, &[]), Input::Accepted);
    p.expect(ACK, 1, 2, 0);
    assert_eq!(p.state(c), CloseWait);
    let mut buf = [0u8; 8];
    assert_eq!(p.stack.recv(c, &mut buf), Ok(0));
    // We may still send.
    assert_eq!(p.stack.send(c, b"late"), Ok(4));
    p.expect(ACK, 1, 2, 4);
    p.send(ACK, 2, 5, &[]);
    // Data and FIN leave together.
    assert_eq!(p.stack.send(c, b"bye"), Ok(3));
    p.stack.shutdown(c).unwrap();
    assert_eq!(p.state(c), LastAck);
    let fin = p.expect(FIN_ACK, 5, 2, 3);
    assert_eq!(fin.payload, b"bye");
    // Unacknowledged, the FIN is retransmitted after the RTO (200 ms: the handshake's RTT was 0).
    let rto = p.info(c).rto;
    assert_eq!(rto, Duration::from_millis(200));
    p.expect_at(p.now() + rto, FIN_ACK, 5, 2, 3);
    p.advance_ms(20);
    assert_eq!(p.send(ACK, 2, 9, &[]), Input::Accepted);
    p.expect_none();
    assert_eq!(p.state(c), Closed);
    assert_eq!(
        p.events(),
        vec![
            Event::PeerClosed { conn: c },
            Event::StateChanged {
                conn: c,
                from: Established,
                to: CloseWait
            },
            Event::StateChanged {
                conn: c,
                from: CloseWait,
                to: LastAck
            },
            Event::StateChanged {
                conn: c,
                from: LastAck,
                to: Closed
            },
            Event::Closed {
                conn: c,
                reason: CloseReason::Normal
            },
        ]
    );
    assert_eq!(
        p.stack.poll_timeout(),
        None,
        "no TIME-WAIT on the passive side"
    );
}

#[test]
fn passive_close_by_close_frees_the_connection_after_last_ack() {
    let mut p = peer();
    let c = established(&mut p);
    p.send(FIN_ACK, 1, 1, &[]);
    p.expect(ACK, 1, 2, 0);
    p.stack.close(c);
    assert_eq!(p.stack.info(c), None, "close() makes the id stale at once");
    p.expect(FIN_ACK, 1, 2, 0);
    assert_eq!(
        p.stack.connection_count(),
        1,
        "LAST-ACK goes on without the application"
    );
    p.send(ACK, 2, 2, &[]);
    assert_eq!(p.stack.connection_count(), 0);
}

#[test]
fn simultaneous_close_through_closing() {
    let mut p = peer();
    let c = established(&mut p);
    p.stack.shutdown(c).unwrap();
    p.expect(FIN_ACK, 1, 1, 0);
    // The peer's FIN crosses ours: it does not acknowledge our FIN. FIN-WAIT-1 → CLOSING.
    p.advance_ms(5);
    assert_eq!(p.send(FIN_ACK, 1, 1, &[]), Input::Accepted);
    p.expect(ACK, 2, 2, 0);
    assert_eq!(p.state(c), Closing);
    // The ACK of our FIN: CLOSING → TIME-WAIT.
    p.advance_ms(5);
    assert_eq!(p.send(ACK, 2, 2, &[]), Input::Accepted);
    p.expect_none();
    assert_eq!(p.state(c), TimeWait);
    let entered = p.now();
    p.advance_to(entered + 2 * MSL);
    assert_eq!(p.state(c), Closed);
    assert_eq!(
        p.transitions(),
        vec![
            (Established, FinWait1),
            (FinWait1, Closing),
            (Closing, TimeWait),
            (TimeWait, Closed)
        ]
    );
    assert!(p.events().contains(&Event::Closed {
        conn: c,
        reason: CloseReason::Normal
    }));
}

#[test]
fn closing_retransmits_the_fin_until_acked() {
    let mut p = peer();
    let c = established(&mut p);
    p.stack.shutdown(c).unwrap();
    p.expect(FIN_ACK, 1, 1, 0);
    p.send(FIN_ACK, 1, 1, &[]);
    p.expect(ACK, 2, 2, 0);
    assert_eq!(p.state(c), Closing);
    // Our FIN is still unacknowledged: it goes again after the RTO, now with the ACK of theirs.
    p.expect_at(ms(200), FIN_ACK, 1, 2, 0);
    p.expect_at(ms(600), FIN_ACK, 1, 2, 0);
    p.send(ACK, 2, 2, &[]);
    assert_eq!(p.state(c), TimeWait);
}

#[test]
fn fin_acking_our_fin_goes_from_fin_wait_1_to_time_wait() {
    let mut p = peer();
    let c = established(&mut p);
    p.stack.shutdown(c).unwrap();
    p.expect(FIN_ACK, 1, 1, 0);
    // One segment ACKs our FIN and carries theirs.
    p.send(FIN_ACK, 1, 2, &[]);
    p.expect(ACK, 2, 2, 0);
    assert_eq!(p.state(c), TimeWait);
    assert_eq!(
        p.transitions(),
        vec![
            (Established, FinWait1),
            (FinWait1, FinWait2),
            (FinWait2, TimeWait)
        ]
    );
}

#[test]
fn half_close_keeps_reading_after_our_fin() {
    let mut p = peer();
    let c = established(&mut p);
    assert_eq!(p.stack.send(c, b"request"), Ok(7));
    p.stack.shutdown(c).unwrap();
    // Data and FIN in one segment.
    p.expect(FIN_ACK, 1, 1, 7);
    // The peer sends a reply in FIN-WAIT-1 (not yet ACKing our FIN)...
    p.advance_ms(10);
    assert_eq!(p.send(ACK, 1, 8, b"part one "), Input::Accepted);
    assert_eq!(p.state(c), FinWait1);
    // ...then ACKs the FIN with more data: FIN-WAIT-2.
    assert_eq!(p.send(ACK, 10, 9, b"part two"), Input::Accepted);
    assert_eq!(p.state(c), FinWait2);
    let mut buf = [0u8; 64];
    let n = p.stack.recv(c, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"part one part two");
    // 17 bytes in two small segments: delayed ACK.
    p.expect_at(ms(50), ACK, 9, 18, 0);
    // More data, then the FIN.
    p.advance_ms(10);
    p.send(ACK, 18, 9, b"!");
    p.send(FIN_ACK, 19, 9, &[]);
    p.expect(ACK, 9, 20, 0);
    assert_eq!(p.state(c), TimeWait);
    assert_eq!(p.stack.recv(c, &mut buf), Ok(1));
    assert_eq!(buf[0], b'!');
    assert_eq!(p.stack.recv(c, &mut buf), Ok(0));
}

#[test]
fn fin_is_retransmitted_in_fin_wait_1() {
    let mut p = peer();
    let c = established(&mut p);
    p.stack.shutdown(c).unwrap();
    p.expect(FIN_ACK, 1, 1, 0);
    p.expect_at(ms(200), FIN_ACK, 1, 1, 0);
    p.expect_at(ms(600), FIN_ACK, 1, 1, 0);
    p.expect_at(ms(1400), FIN_ACK, 1, 1, 0);
    p.send(ACK, 1, 2, &[]);
    assert_eq!(p.state(c), FinWait2);
    p.quiet_until(ms(10_000));
}

#[test]
fn fin_wait_2_times_out_after_close() {
    let mut p = Peer::with(|c| {
        c.report_state_changes = true;
        c.fin_wait_2_timeout = Duration::from_secs(3);
    });
    let c = established(&mut p);
    p.stack.close(c);
    assert_eq!(p.stack.info(c), None);
    p.expect(FIN_ACK, 1, 1, 0);
    p.advance_ms(10);
    p.send(ACK, 1, 2, &[]);
    assert_eq!(
        p.transitions(),
        vec![(Established, FinWait1), (FinWait1, FinWait2)]
    );
    // Nobody holds the connection: FIN-WAIT-2 lasts fin_wait_2_timeout, then it is gone.
    assert_eq!(p.stack.poll_timeout(), Some(ms(3010)));
    p.quiet_until(ms(3009));
    assert_eq!(p.stack.connection_count(), 1);
    p.advance_to(ms(3010));
    p.expect_none();
    assert_eq!(p.stack.connection_count(), 0);
    assert_eq!(
        p.events(),
        vec![
            Event::StateChanged {
                conn: c,
                from: FinWait2,
                to: Closed
            },
            Event::Closed {
                conn: c,
                reason: CloseReason::TimedOut
            },
        ]
    );
    // The peer's late FIN finds nothing: RST.
    assert_eq!(
        p.send(FIN_ACK, 1, 2, &[]),
        Input::Dropped(DropReason::NoConnection)
    );
    p.expect(RST, 2, 0, 0);
}

#[test]
fn close_in_fin_wait_2_starts_the_timeout() {
    let mut p = Peer::with(|c| c.fin_wait_2_timeout = Duration::from_secs(2));
    let c = established(&mut p);
    p.stack.shutdown(c).unwrap();
    p.expect(FIN_ACK, 1, 1, 0);
    p.send(ACK, 1, 2, &[]);
    assert_eq!(p.state(c), FinWait2);
    assert_eq!(p.stack.poll_timeout(), None);
    p.advance_ms(500);
    p.stack.close(c);
    assert_eq!(p.stack.poll_timeout(), Some(ms(2500)));
    p.advance_to(ms(2500));
    assert_eq!(p.stack.connection_count(), 0);
}

#[test]
fn data_after_close_resets() {
    let mut p = peer();
    let c = established(&mut p);
    p.stack.close(c);
    p.expect(FIN_ACK, 1, 1, 0);
    p.send(ACK, 1, 2, &[]);
    // Nobody will read it: the orphan answers data with a RST (documented; Linux does the same).
    assert_eq!(
        p.send(ACK, 1, 2, b"unwanted"),
        Input::Dropped(DropReason::DataAfterFin)
    );
    p.expect(RST, 2, 0, 0);
    assert_eq!(p.stack.connection_count(), 0);
    assert!(p.events().contains(&Event::Closed {
        conn: c,
        reason: CloseReason::Aborted
    }));
}

#[test]
fn close_with_unread_data_aborts() {
    let mut p = peer();
    let c = established(&mut p);
    p.send(ACK, 1, 1, b"unread");
    p.stack.close(c);
    // RFC 2525 §2.17: a RST instead of a FIN, at once.
    p.expect(RST, 1, 0, 0);
    p.expect_none();
    assert_eq!(p.stack.connection_count(), 0);
    assert!(p.events().contains(&Event::Closed {
        conn: c,
        reason: CloseReason::Aborted
    }));
    assert_eq!(
        p.send(ACK, 7, 1, &[]),
        Input::Dropped(DropReason::NoConnection)
    );
    p.expect(RST, 1, 0, 0);
}

#[test]
fn abort_sends_rst_and_drops_queued_data() {
    let mut p = peer();
    let c = established(&mut p);
    p.window = 0;
    p.send(ACK, 1, 1, &[]);
    assert_eq!(p.stack.send(c, b"queued"), Ok(6));
    p.expect_none();
    p.stack.abort(c);
    p.expect(RST, 1, 0, 0);
    p.expect_none();
    assert_eq!(p.stack.info(c), None);
    assert_eq!(p.stack.connection_count(), 0);
    assert_eq!(p.stack.stats().resets_out, 1);
    assert_eq!(p.stack.send(c, b"x"), Err(SendError::InvalidConnection));
    assert_eq!(p.stack.poll_timeout(), None);
}

#[test]
fn shutdown_in_syn_sent_just_ends_the_attempt() {
    let mut p = peer();
    let c = p.connect(ConnectOptions::default());
    p.expect(SYN, 0, 0, 0);
    p.stack.shutdown(c).unwrap();
    p.expect_none();
    assert_eq!(p.state(c), Closed);
    p.quiet_until(ms(5000));
}

#[test]
fn new_syn_ends_time_wait_for_a_listener() {
    let mut p = peer();
    let l = p.listen(sanstcp::ListenOptions::default());
    let c = p.handshake_in(l);
    p.events();
    // The stack closes first and ends in TIME-WAIT on port 80.
    p.stack.shutdown(c).unwrap();
    p.expect(FIN_ACK, 1, 1, 0);
    p.send(FIN_ACK, 1, 2, &[]);
    p.expect(ACK, 2, 2, 0);
    assert_eq!(p.state(c), TimeWait);
    // An old SYN (not above RCV.NXT) is just an unacceptable segment: ACKed.
    p.advance_ms(1000);
    assert_eq!(
        p.send(SYN, 0, 0, &[]),
        Input::Dropped(DropReason::OutOfWindow)
    );
    p.expect(ACK, 2, 2, 0);
    assert_eq!(p.state(c), TimeWait);
    // A new SYN from the same port with a higher sequence number takes the 4-tuple over.
    p.peer_iss = p.peer_iss.wrapping_add(100_000);
    assert_eq!(p.tx(SYN).seq(0).mss(1460).send(), Input::Accepted);
    let synack = p.pop().unwrap();
    assert_eq!(synack.flags, SYN_ACK);
    assert_eq!(synack.rack, 1);
    assert_eq!(p.state(c), Closed);
    assert!(p.events().contains(&Event::Closed {
        conn: c,
        reason: CloseReason::Normal
    }));
    p.send(ACK, 1, 1, &[]);
    let c2 = p.stack.accept(l).unwrap();
    assert_ne!(c2, c);
    assert_eq!(p.state(c2), Established);
}

#[test]
fn all_eleven_states_are_reported() {
    let mut seen = std::collections::HashSet::new();
    let mut record = |p: &mut Peer| {
        for (from, to) in p.transitions() {
            seen.insert(from);
            seen.insert(to);
        }
    };
    // Passive open, then simultaneous close: LISTEN, SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1,
    // CLOSING, TIME-WAIT, CLOSED.
    let mut p = peer();
    let (_, c) = p.passive_open();
    p.stack.shutdown(c).unwrap();
    p.expect(FIN_ACK, 1, 1, 0);
    p.send(FIN_ACK, 1, 1, &[]);
    p.send(ACK, 2, 2, &[]);
    p.advance(2 * MSL);
    assert_eq!(p.state(c), Closed);
    record(&mut p);
    // Active open, passive close: SYN-SENT, CLOSE-WAIT, LAST-ACK.
    let mut p = peer();
    let c = p.active_open(ConnectOptions::default());
    p.send(FIN_ACK, 1, 1, &[]);
    p.stack.shutdown(c).unwrap();
    p.send(ACK, 2, 2, &[]);
    assert_eq!(p.state(c), Closed);
    record(&mut p);
    // Active close: FIN-WAIT-2.
    let mut p = peer();
    let c = p.active_open(ConnectOptions::default());
    p.stack.shutdown(c).unwrap();
    p.send(ACK, 1, 2, &[]);
    assert_eq!(p.state(c), FinWait2);
    record(&mut p);
    let all = [
        Closed,
        Listen,
        SynSent,
        SynReceived,
        Established,
        FinWait1,
        FinWait2,
        CloseWait,
        Closing,
        LastAck,
        TimeWait,
    ];
    for s in all {
        assert!(seen.contains(&s), "{s} never reported");
    }
    assert_eq!(seen.len(), 11);
}
