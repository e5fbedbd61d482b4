//! Timers at exact virtual times: the retransmission timer (RFC 6298: RTO from the first
//! sample, doubling on every expiry, Karn's rule, go-back from SND.UNA under a one-segment
//! window, giving up after `max_retries` with sticky `TimedOut` errors, 3 s after a lost SYN),
//! and keep-alive (RFC 1122 §4.2.3.6: off by default, probes <SEQ=SND.UNA-1> after the idle time,
//! answered probes keep the connection, unanswered ones end it).

mod peer;

use std::time::Duration;

use peer::*;
use sanstcp::{
    CloseReason, ConnId, ConnectOptions, Event, RecvError, SendError, StateError, TcpState,
};

/// An active open whose SYN-ACK arrives after `rtt_ms`: one RTT sample of that size.
fn open_with_rtt(p: &mut Peer, rtt_ms: u64) -> ConnId {
    let c = p.connect(ConnectOptions {
        nodelay: true,
        ..Default::default()
    });
    p.expect(SYN, 0, 0, 0);
    p.advance_ms(rtt_ms);
    p.tx(SYN_ACK).seq(0).ack(1).mss(1460).send();
    p.expect(ACK, 1, 1, 0);
    p.events();
    c
}

#[test]
fn rto_from_the_first_sample_then_doubling() {
    let mut p = Peer::new(config());
    let c = open_with_rtt(&mut p, 100);
    // SRTT 100 ms, RTTVAR 50 ms: RTO = 100 + 4·50 = 300 ms (RFC 6298 §2.2).
    let i = p.info(c);
    assert_eq!(i.srtt, Some(Duration::from_millis(100)));
    assert_eq!(i.rttvar, Duration::from_millis(50));
    assert_eq!(i.rto, Duration::from_millis(300));
    p.stack.send(c, b"data").unwrap();
    p.expect(ACK, 1, 1, 4);
    // Expiries at +300, then +600, +1200 (RFC 6298 §5.5).
    p.quiet_until(just_before(ms(400)));
    p.expect_at(ms(400), ACK, 1, 1, 4);
    assert_eq!(
        (p.info(c).backoff, p.info(c).rto),
        (1, Duration::from_millis(600))
    );
    p.expect_at(ms(1000), ACK, 1, 1, 4);
    p.expect_at(ms(2200), ACK, 1, 1, 4);
    assert_eq!(
        (p.info(c).backoff, p.info(c).rto),
        (3, Duration::from_millis(2400))
    );
    let s = p.stack.stats();
    assert_eq!((s.rto_expirations, s.retransmitted_segments), (3, 3));
    assert_eq!(p.info(c).retransmits, 3);
    // The ACK finally comes. Karn: it may answer any of the four copies, so no sample; the
    // backoff ends.
    p.advance_to(ms(2250));
    p.send(ACK, 1, 5, &[]);
    let i = p.info(c);
    assert_eq!(
        i.srtt,
        Some(Duration::from_millis(100)),
        "no sample from a retransmitted segment"
    );
    assert_eq!((i.backoff, i.rto), (0, Duration::from_millis(300)));
    assert_eq!(
        p.stack.poll_timeout(),
        None,
        "nothing outstanding, no timer"
    );
    // Fresh data is timed again: a 50 ms sample moves SRTT to 7/8·100 + 1/8·50.
    p.advance_to(ms(2300));
    p.stack.send(c, b"more").unwrap();
    p.expect(ACK, 5, 1, 4);
    assert_eq!(p.stack.poll_timeout(), Some(ms(2600)));
    p.advance_to(ms(2350));
    p.send(ACK, 1, 9, &[]);
    assert_eq!(p.info(c).srtt, Some(Duration::from_micros(93_750)));
}

#[test]
fn rto_never_below_the_minimum() {
    let mut p = Peer::with(|c| c.rto_min = Duration::from_millis(250));
    let c = open_with_rtt(&mut p, 1);
    // SRTT 1 ms plus the variance term, floored at the minimum (as Linux does): 251 ms.
    assert_eq!(p.info(c).rto, Duration::from_millis(251));
    p.stack.send(c, b"x").unwrap();
    p.expect(ACK, 1, 1, 1);
    p.expect_at(ms(252), ACK, 1, 1, 1);
}

#[test]
fn rto_goes_back_to_snd_una_with_a_one_segment_window() {
    let mut p = Peer::new(config());
    let c = open_with_rtt(&mut p, 0);
    assert_eq!(p.info(c).rto, Duration::from_millis(200));
    p.stack.send(c, &data(1, 3000)).unwrap();
    p.expect(ACK, 1, 1, 1460);
    p.expect(ACK, 1461, 1, 1460);
    p.expect(ACK, 2921, 1, 80);
    // Everything lost: after the RTO only the first segment goes (cwnd = 1 MSS, RFC 5681 §3.1).
    p.expect_at(ms(200), ACK, 1, 1, 1460);
    p.expect_none();
    assert_eq!(p.info(c).cwnd, 1460);
    // Its ACK opens the window to two segments: the rest is resent at once.
    p.advance_ms(10);
    p.send(ACK, 1, 1461, &[]);
    p.expect(ACK, 1461, 1, 1460);
    p.expect(ACK, 2921, 1, 80);
    p.send(ACK, 1, 3001, &[]);
    assert_eq!(p.info(c).bytes_in_flight, 0);
    assert_eq!(p.stack.stats().retransmitted_segments, 3);
}

#[test]
fn max_retries_end_in_timed_out_with_sticky_errors() {
    let mut p = Peer::with(|c| {
        c.max_retries = 3;
        c.report_state_changes = true;
    });
    let c = open_with_rtt(&mut p, 0);
    p.stack.send(c, b"lost").unwrap();
    p.expect(ACK, 1, 1, 4);
    p.expect_at(ms(200), ACK, 1, 1, 4);
    p.expect_at(ms(600), ACK, 1, 1, 4);
    p.expect_at(ms(1400), ACK, 1, 1, 4);
    assert_eq!(p.state(c), TcpState::Established);
    // The fourth expiry gives up (after three retransmissions), silently.
    p.quiet_until(just_before(ms(3000)));
    assert_eq!(p.state(c), TcpState::Established);
    p.advance_to(ms(3000));
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
                reason: CloseReason::TimedOut
            },
        ]
    );
    assert_eq!(p.state(c), TcpState::Closed);
    assert_eq!(p.stack.send(c, b"x"), Err(SendError::TimedOut));
    assert_eq!(p.stack.recv(c, &mut [0u8; 4]), Err(RecvError::TimedOut));
    assert_eq!(p.stack.shutdown(c), Err(StateError::Failed));
    // Still the same error later, and no timers left.
    assert_eq!(p.stack.send(c, b"x"), Err(SendError::TimedOut));
    assert_eq!(p.stack.poll_timeout(), None);
    let s = p.stack.stats();
    assert_eq!((s.timeouts, s.rto_expirations), (1, 3));
    // The peer's late segment finds no connection.
    p.send(ACK, 1, 5, &[]);
    p.expect(RST, 5, 0, 0);
    // Releasing the id makes it stale.
    p.stack.close(c);
    assert_eq!(p.stack.send(c, b"x"), Err(SendError::InvalidConnection));
}

#[test]
fn rto_is_three_seconds_for_data_after_a_lost_syn() {
    let mut p = Peer::new(config());
    let c = p.connect(ConnectOptions::default());
    p.expect(SYN, 0, 0, 0);
    p.expect_at(ms(1000), SYN, 0, 0, 0);
    p.advance_to(ms(1100));
    p.tx(SYN_ACK).seq(0).ack(1).mss(1460).send();
    p.expect(ACK, 1, 1, 0);
    // RFC 6298 §5.7: the SYN timed out and no RTT was measured, so data starts with 3 s.
    assert_eq!(p.info(c).srtt, None);
    assert_eq!(p.info(c).rto, Duration::from_secs(3));
    p.stack.send(c, b"x").unwrap();
    p.expect(ACK, 1, 1, 1);
    p.quiet_until(just_before(ms(4100)));
    p.expect_at(ms(4100), ACK, 1, 1, 1);
}

#[test]
fn rto_is_three_seconds_after_a_lost_syn_ack() {
    let mut p = Peer::new(config());
    let l = p.listen(sanstcp::ListenOptions::default());
    p.tx(SYN).seq(0).mss(1460).send();
    p.expect(SYN_ACK, 0, 1, 0);
    p.expect_at(ms(1000), SYN_ACK, 0, 1, 0);
    p.advance_to(ms(1010));
    p.send(ACK, 1, 1, &[]);
    let c = p.stack.accept(l).unwrap();
    assert_eq!(p.info(c).rto, Duration::from_secs(3));
}

#[test]
fn keepalive_is_off_by_default() {
    let mut p = Peer::new(config());
    let c = p.active_open(ConnectOptions::default());
    assert_eq!(p.info(c).keepalive, None);
    assert_eq!(p.stack.poll_timeout(), None);
    p.quiet_until(at(Duration::from_secs(3 * 3600)));
    assert_eq!(p.state(c), TcpState::Established);
    assert_eq!(p.stack.stats().keepalive_probes, 0);
}

#[test]
fn keepalive_probe_at_idle_time_answered_keeps_the_connection() {
    let mut p = Peer::with(|c| c.keepalive_interval = Duration::from_secs(2));
    let c = p.active_open(ConnectOptions::default());
    p.stack
        .set_keepalive(c, Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(p.info(c).keepalive, Some(Duration::from_secs(10)));
    // The probe: <SEQ=SND.UNA-1><ACK=RCV.NXT>, no data.
    p.quiet_until(just_before(ms(10_000)));
    p.expect_at(ms(10_000), ACK, 0, 1, 0);
    assert_eq!(p.stack.stats().keepalive_probes, 1);
    // The peer answers; the next probe comes one idle time after the answer.
    p.advance_to(ms(10_050));
    p.send(ACK, 1, 1, &[]);
    p.quiet_until(just_before(ms(20_050)));
    p.expect_at(ms(20_050), ACK, 0, 1, 0);
    p.advance_to(ms(20_060));
    p.send(ACK, 1, 1, &[]);
    // Traffic also restarts the idle time.
    p.advance_to(ms(25_000));
    p.send(ACK, 1, 1, b"data");
    p.expect_at(ms(25_040), ACK, 1, 5, 0);
    p.quiet_until(just_before(ms(35_000)));
    p.expect_at(ms(35_000), ACK, 0, 5, 0);
    p.send(ACK, 5, 1, &[]);
    assert_eq!(p.state(c), TcpState::Established);
    // Off again: no more probes.
    p.stack.set_keepalive(c, None).unwrap();
    p.quiet_until(ms(200_000));
}

#[test]
fn unanswered_keepalive_probes_time_out() {
    let mut p = Peer::with(|c| {
        c.keepalive_interval = Duration::from_secs(1);
        c.keepalive_probes = 3;
    });
    let c = p.active_open(ConnectOptions::default());
    p.stack
        .set_keepalive(c, Some(Duration::from_secs(10)))
        .unwrap();
    p.expect_at(ms(10_000), ACK, 0, 1, 0);
    p.expect_at(ms(11_000), ACK, 0, 1, 0);
    p.expect_at(ms(12_000), ACK, 0, 1, 0);
    assert_eq!(p.state(c), TcpState::Established);
    p.quiet_until(just_before(ms(13_000)));
    p.advance_to(ms(13_000));
    p.expect_none();
    assert_eq!(p.state(c), TcpState::Closed);
    assert!(p.events().contains(&Event::Closed {
        conn: c,
        reason: CloseReason::TimedOut
    }));
    assert_eq!(p.stack.send(c, b"x"), Err(SendError::TimedOut));
    assert_eq!(p.stack.recv(c, &mut [0u8; 1]), Err(RecvError::TimedOut));
    assert_eq!(p.stack.stats().keepalive_probes, 3);
}

#[test]
fn keepalive_from_the_config_applies_to_new_connections() {
    let mut p = Peer::with(|c| c.keepalive = Some(Duration::from_secs(5)));
    let c = p.active_open(ConnectOptions::default());
    assert_eq!(p.info(c).keepalive, Some(Duration::from_secs(5)));
    p.expect_at(ms(5000), ACK, 0, 1, 0);
    // One answer resets the count of unanswered probes.
    p.send(ACK, 1, 1, &[]);
    assert_eq!(p.state(c), TcpState::Established);
}
