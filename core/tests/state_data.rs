//! Data transfer in ESTABLISHED, segment by segment: the four cases of the acceptability test
//! (RFC 9293 §3.10.7.4), trimming to RCV.NXT and to the window, out-of-window segments answered
//! with an ACK and counted, ACKs of unsent data, zero-window probes in both directions (persist
//! timer with backoff, RFC 9293 §3.8.6.1), receiver- and sender-side silly window avoidance and
//! Nagle (RFC 1122 §4.2.3.3–4), delayed ACKs (RFC 1122 §4.2.3.2), duplicate ACKs for out-of-order
//! data and fast retransmit (RFC 5681 §3.2, §4.2), reassembly and its memory bound.

mod peer;

use std::time::Duration;

use peer::*;
use sanstcp::{ConnId, ConnectOptions, DropReason, Input, RecvError, TcpState};

/// An established active open with a 4000-byte receive buffer (no window scaling: 4000 fits).
fn small_rcv(p: &mut Peer) -> ConnId {
    let c = p.active_open(ConnectOptions {
        recv_buffer: Some(4000),
        ..Default::default()
    });
    assert_eq!(p.info(c).rcv_wnd, 4000);
    c
}

fn oow(p: &Peer) -> u64 {
    p.stack.stats().dropped(DropReason::OutOfWindow)
}

#[test]
fn acceptability_zero_length_open_window() {
    // Every unacceptable pure ACK is answered here; the ACK-storm limit has its own test.
    let mut p = Peer::with(|c| c.invalid_ack_interval = Duration::ZERO);
    let c = small_rcv(&mut p);
    // RCV.NXT = 1, RCV.WND = 4000: acceptable iff 1 =< SEG.SEQ < 4001.
    for seq in [1, 2000, 4000] {
        assert_eq!(p.send(ACK, seq, 1, &[]), Input::Accepted, "seq {seq}");
        p.expect_none();
    }
    for seq in [0, 4001, 0x8000_0000] {
        assert_eq!(
            p.send(ACK, seq, 1, &[]),
            Input::Dropped(DropReason::OutOfWindow),
            "seq {seq}"
        );
        // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
        let a = p.expect(ACK, 1, 1, 0);
        assert_eq!(a.window, 4000);
    }
    assert_eq!(oow(&p), 3);
    assert_eq!(p.state(c), TcpState::Established);
}

/// Fills the 4000-byte window: 1460 + 1460 (ACKed at once) + 1080 (ACKed after 40 ms).
fn fill_window(p: &mut Peer) {
    p.send(ACK, 1, 1, &data(1, 1460));
    p.send(ACK, 1461, 1, &data(2, 1460));
    let a = p.expect(ACK, 1, 2921, 0);
    assert_eq!(a.window, 1080);
    p.send(ACK, 2921, 1, &data(3, 1080));
    let a = p.expect_at(p.now() + Duration::from_millis(40), ACK, 1, 4001, 0);
    assert_eq!(a.window, 0);
}

#[test]
fn acceptability_zero_window() {
    // Every unacceptable pure ACK is answered here; the ACK-storm limit has its own test.
    let mut p = Peer::with(|c| c.invalid_ack_interval = Duration::ZERO);
    let c = small_rcv(&mut p);
    fill_window(&mut p);
    assert_eq!(p.info(c).rcv_wnd, 0);
    // Zero length, zero window: only SEG.SEQ = RCV.NXT is acceptable (and its ACK is used).
    assert_eq!(p.tx(ACK).seq(4001).ack(1).win(1234).send(), Input::Accepted);
    p.expect_none();
    assert_eq!(p.info(c).snd_wnd, 1234);
    for seq in [4000, 4002] {
        assert_eq!(
            p.send(ACK, seq, 1, &[]),
            Input::Dropped(DropReason::OutOfWindow)
        );
        let a = p.expect(ACK, 1, 4001, 0);
        assert_eq!(a.window, 0);
    }
    // Data, zero window: never acceptable. Beyond RCV.NXT it is simply out of window.
    assert_eq!(
        p.send(ACK, 4002, 1, b"x"),
        Input::Dropped(DropReason::OutOfWindow)
    );
    p.expect(ACK, 1, 4001, 0);
    // At RCV.NXT it is a zero-window probe: the data is not taken, but the probe is answered
    // with an ACK showing the (still zero) window (RFC 1122 §4.2.2.17, RFC 9293 §3.8.6.1).
    p.send(ACK, 4001, 1, b"y");
    let a = p.expect(ACK, 1, 4001, 0);
    assert_eq!(a.window, 0);
    assert_eq!(p.info(c).rcv_nxt, PEER_ISS.wrapping_add(4001));
    assert_eq!(p.info(c).recv_queued, 4000);
}

#[test]
fn acceptability_data_open_window_and_trimming() {
    let mut p = Peer::new(config());
    let c = small_rcv(&mut p);
    let mut buf = vec![0u8; 8000];
    // First byte old, last byte new: acceptable; the old byte is cut off.
    let d = data(7, 10);
    assert_eq!(p.send(ACK, 0, 1, &d), Input::Accepted);
    assert_eq!(p.stack.recv(c, &mut buf), Ok(9));
    assert_eq!(&buf[..9], &d[1..]);
    p.expect_at(ms(40), ACK, 1, 10, 0);
    // Entirely old: not acceptable, answered with an ACK, counted.
    assert_eq!(
        p.send(ACK, 1, 1, &d[1..]),
        Input::Dropped(DropReason::OutOfWindow)
    );
    p.expect(ACK, 1, 10, 0);
    assert_eq!(oow(&p), 1);
    // Overlapping RCV.NXT by 5 bytes: only the new 5 are taken.
    let e = data(8, 10);
    assert_eq!(p.send(ACK, 5, 1, &e), Input::Accepted);
    assert_eq!(p.stack.recv(c, &mut buf), Ok(5));
    assert_eq!(&buf[..5], &e[5..]);
    p.expect_at(ms(80), ACK, 1, 15, 0);
    // Beyond the right edge: trimmed to the window, and the FIN past it is not taken.
    let wnd = p.info(c).rcv_wnd as usize;
    assert_eq!(wnd, 4000);
    let big = data(9, wnd + 100);
    assert_eq!(p.send(FIN_ACK, 15, 1, &big), Input::Accepted);
    let a = p.expect(ACK, 1, 15 + wnd as u32, 0);
    assert_eq!(a.window, 0);
    assert_eq!(
        p.state(c),
        TcpState::Established,
        "the FIN was beyond the window"
    );
    assert_eq!(p.stack.recv(c, &mut buf), Ok(wnd));
    assert_eq!(&buf[..wnd], &big[..wnd]);
}

#[test]
fn ack_of_unsent_data_is_dropped_and_acked() {
    let mut p = Peer::new(config());
    let c = p.active_open(ConnectOptions::default());
    p.stack.send(c, b"0123456789").unwrap();
    p.expect(ACK, 1, 1, 10);
    // SEG.ACK = 12 > SND.NXT = 11: send an ACK, drop the segment with its data (RFC 9293).
    assert_eq!(
        p.send(ACK, 1, 12, b"data"),
        Input::Dropped(DropReason::BadAck)
    );
    p.expect(ACK, 11, 1, 0);
    let i = p.info(c);
    assert_eq!(i.snd_una, i.iss.wrapping_add(1));
    assert_eq!(i.rcv_nxt, PEER_ISS.wrapping_add(1));
    assert_eq!(p.stack.stats().dropped(DropReason::BadAck), 1);
    // The right ACK is taken.
    assert_eq!(p.send(ACK, 1, 11, b"data"), Input::Accepted);
    let i = p.info(c);
    assert_eq!(i.snd_una, i.iss.wrapping_add(11));
    assert_eq!(i.bytes_in_flight, 0);
}

#[test]
fn zero_window_persist_probes_back_off_and_sending_resumes() {
    let mut p = Peer::new(config());
    let c = p.active_open(ConnectOptions::default());
    assert_eq!(p.info(c).rto, Duration::from_millis(200));
    // The peer closes its window.
    p.tx(ACK).seq(1).ack(1).win(0).send();
    assert_eq!(p.info(c).snd_wnd, 0);
    assert_eq!(p.stack.send(c, &data(1, 100)), Ok(100));
    p.expect_none();
    // Persist timer: probes <SEQ=SND.UNA-1> without data after RTO, then doubling.
    p.expect_at(ms(200), ACK, 0, 1, 0);
    p.tx(ACK).seq(1).ack(1).win(0).send();
    p.expect_at(ms(600), ACK, 0, 1, 0);
    p.tx(ACK).seq(1).ack(1).win(0).send();
    p.expect_at(ms(1400), ACK, 0, 1, 0);
    p.tx(ACK).seq(1).ack(1).win(0).send();
    assert_eq!(p.stack.stats().window_probes, 3);
    assert_eq!(p.state(c), TcpState::Established);
    // The window opens: the data goes at once.
    p.advance_to(ms(1500));
    p.tx(ACK).seq(1).ack(1).win(1000).send();
    let s = p.expect(ACK, 1, 1, 100);
    assert_eq!(s.payload, data(1, 100));
    p.tx(ACK).seq(1).ack(101).win(1000).send();
    p.quiet_until(ms(10_000));
    assert_eq!(p.stack.stats().window_probes, 3);
}

#[test]
fn sender_silly_window_avoidance_waits_for_the_override_timer() {
    let mut p = Peer::new(config());
    let c = p.active_open(ConnectOptions::default());
    p.stack.set_nodelay(c, true).unwrap();
    // The peer offers 60 bytes, less than an MSS and less than half its largest window (65535):
    // 100 queued bytes do not go out as a 60-byte sliver (RFC 1122 §4.2.3.4)...
    p.tx(ACK).seq(1).ack(1).win(60).send();
    assert_eq!(p.stack.send(c, &data(2, 100)), Ok(100));
    p.quiet_until(just_before(ms(200)));
    // ...until the override timeout (here the persist timer, one RTO).
    p.expect_at(ms(200), ACK, 1, 1, 60);
    // The rest fits the reopened window entirely and nothing is in flight: it goes at once.
    p.tx(ACK).seq(1).ack(61).win(60).send();
    p.expect(ACK, 61, 1, 40);
    assert_eq!(p.stack.stats().window_probes, 0);
}

#[test]
fn persist_probes_continue_without_answers_and_never_time_out() {
    let mut p = Peer::with(|c| c.max_retries = 2);
    let c = p.active_open(ConnectOptions::default());
    p.tx(ACK).seq(1).ack(1).win(0).send();
    p.stack.send(c, b"abc").unwrap();
    let mut t = 0;
    let mut gap = 200;
    for _ in 0..6 {
        t += gap;
        p.expect_at(ms(t), ACK, 0, 1, 0);
        gap *= 2;
    }
    assert_eq!(p.state(c), TcpState::Established);
}

#[test]
fn receiver_silly_window_avoidance_and_window_update() {
    let mut p = Peer::new(config());
    let c = small_rcv(&mut p);
    fill_window(&mut p);
    let mut buf = vec![0u8; 4000];
    // Reading 100 bytes frees too little to announce (RFC 1122 §4.2.3.3).
    assert_eq!(p.stack.recv(c, &mut buf[..100]), Ok(100));
    p.expect_none();
    // Even when asked (a window probe), the window stays shut.
    p.send(ACK, 4000, 1, &[]);
    let a = p.expect(ACK, 1, 4001, 0);
    assert_eq!(a.window, 0);
    // Reading up to half the buffer: a window update goes out by itself.
    assert_eq!(p.stack.recv(c, &mut buf[..1900]), Ok(1900));
    let a = p.expect(ACK, 1, 4001, 0);
    assert_eq!(a.window, 2000);
    p.expect_none();
    assert_eq!(p.info(c).rcv_wnd, 2000);
}

#[test]
fn nagle_holds_a_small_segment_until_the_ack() {
    let mut p = Peer::new(config());
    let c = p.active_open(ConnectOptions::default());
    assert!(p.info(c).nagle);
    assert_eq!(p.stack.send(c, b"first"), Ok(5));
    p.expect(ACK | PSH, 1, 1, 5);
    // Data is outstanding: small writes wait and coalesce.
    assert_eq!(p.stack.send(c, b"second"), Ok(6));
    assert_eq!(p.stack.send(c, b"third"), Ok(5));
    p.quiet_until(ms(150));
    p.send(ACK, 1, 6, &[]);
    let s = p.expect(ACK, 6, 1, 11);
    assert_eq!(s.payload, b"secondthird");
    // A full-sized segment does not wait; its small tail does.
    assert_eq!(p.stack.send(c, &data(1, 1500)), Ok(1500));
    p.expect(ACK, 17, 1, 1460);
    p.expect_none();
    p.send(ACK, 1, 17, &[]);
    p.expect_none();
    p.send(ACK, 1, 1477, &[]);
    p.expect(ACK, 1477, 1, 40);
}

#[test]
fn nodelay_sends_small_segments_at_once() {
    let mut p = Peer::new(config());
    let c = p.active_open(ConnectOptions::default());
    p.stack.set_nodelay(c, true).unwrap();
    assert!(!p.info(c).nagle);
    p.stack.send(c, b"a").unwrap();
    p.expect(ACK, 1, 1, 1);
    p.stack.send(c, b"b").unwrap();
    p.expect(ACK, 2, 1, 1);
    // And via ConnectOptions.
    let mut q = Peer::new(config());
    let c = q.active_open(ConnectOptions {
        nodelay: true,
        ..Default::default()
    });
    q.stack.send(c, b"a").unwrap();
    q.expect(ACK, 1, 1, 1);
    q.stack.send(c, b"b").unwrap();
    q.expect(ACK, 2, 1, 1);
    // Turning Nagle back on holds the next one.
    q.stack.set_nodelay(c, false).unwrap();
    q.stack.send(c, b"c").unwrap();
    q.expect_none();
}

#[test]
fn delayed_ack_for_one_small_segment() {
    let mut p = Peer::new(config());
    let c = p.active_open(ConnectOptions::default());
    p.advance_ms(100);
    p.send(ACK, 1, 1, b"ping");
    // RFC 1122 §4.2.3.2: delayed, here by the default 40 ms, exactly.
    p.quiet_until(just_before(ms(140)));
    p.expect_at(ms(140), ACK, 1, 5, 0);
    // A reply before the timer carries the ACK instead.
    p.advance_ms(100);
    p.send(ACK, 5, 1, b"ping");
    p.advance_ms(10);
    p.stack.send(c, b"pong").unwrap();
    p.expect(ACK, 1, 9, 4);
    p.send(ACK, 9, 5, &[]);
    p.quiet_until(ms(1000));
}

#[test]
fn delayed_ack_time_is_configurable() {
    let mut p = Peer::with(|c| c.delayed_ack = Duration::from_millis(200));
    p.active_open(ConnectOptions::default());
    p.send(ACK, 1, 1, b"x");
    p.expect_at(ms(200), ACK, 1, 2, 0);
    let mut q = Peer::with(|c| c.delayed_ack = Duration::ZERO);
    q.active_open(ConnectOptions::default());
    q.send(ACK, 1, 1, b"x");
    q.expect(ACK, 1, 2, 0);
}

#[test]
fn two_full_segments_are_acked_at_once() {
    let mut p = Peer::new(config());
    p.active_open(ConnectOptions::default());
    p.send(ACK, 1, 1, &data(1, 1460));
    p.expect_none();
    p.send(ACK, 1461, 1, &data(2, 1460));
    p.expect(ACK, 1, 2921, 0);
    p.quiet_until(ms(500));
}

#[test]
fn out_of_order_data_gets_duplicate_acks_and_is_reassembled() {
    let mut p = Peer::new(config());
    let c = p.active_open(ConnectOptions::default());
    let d = data(5, 400);
    // Bytes 100..200 and 300..400 arrive first: one duplicate ACK each, at once.
    assert_eq!(p.send(ACK, 101, 1, &d[100..200]), Input::Accepted);
    p.expect(ACK, 1, 1, 0);
    assert_eq!(p.send(ACK, 301, 1, &d[300..400]), Input::Accepted);
    p.expect(ACK, 1, 1, 0);
    assert_eq!(p.info(c).reassembly_queued, 200);
    assert_eq!(p.stack.recv(c, &mut [0u8; 8]), Err(RecvError::WouldBlock));
    // A duplicate of held data changes nothing but is ACKed too.
    p.send(ACK, 101, 1, &d[100..200]);
    p.expect(ACK, 1, 1, 0);
    // The first gap fills: everything up to the next gap is delivered, ACKed at once.
    p.send(ACK, 1, 1, &d[..100]);
    p.expect(ACK, 1, 201, 0);
    // The second gap fills.
    p.send(ACK, 201, 1, &d[200..300]);
    p.expect(ACK, 1, 401, 0);
    let mut buf = vec![0u8; 1000];
    assert_eq!(p.stack.recv(c, &mut buf), Ok(400));
    assert_eq!(&buf[..400], &d[..]);
    assert_eq!(p.info(c).reassembly_queued, 0);
}

#[test]
fn out_of_order_fin_waits_for_the_gap() {
    let mut p = Peer::new(config());
    let c = p.active_open(ConnectOptions::default());
    p.send(FIN_ACK, 11, 1, b"tail");
    p.expect(ACK, 1, 1, 0);
    assert_eq!(p.state(c), TcpState::Established);
    p.send(ACK, 1, 1, b"0123456789");
    p.expect(ACK, 1, 16, 0);
    assert_eq!(p.state(c), TcpState::CloseWait);
    let mut buf = [0u8; 32];
    assert_eq!(p.stack.recv(c, &mut buf), Ok(14));
    assert_eq!(&buf[..14], b"0123456789tail");
    assert_eq!(p.stack.recv(c, &mut buf), Ok(0));
}

#[test]
fn reassembly_memory_is_bounded() {
    let mut p = Peer::with(|c| c.reassembly_limit = 1000);
    let c = p.active_open(ConnectOptions::default());
    let d = data(6, 2000);
    assert_eq!(p.send(ACK, 1001, 1, &d[1000..1600]), Input::Accepted);
    p.expect(ACK, 1, 1, 0);
    // 400 more bytes would be charged 464 (64 per held chunk): over the 1000-byte bound, so
    // they are dropped and counted, and still duplicate-ACKed.
    assert_eq!(
        p.send(ACK, 1601, 1, &d[1600..2000]),
        Input::Dropped(DropReason::ReassemblyFull)
    );
    p.expect(ACK, 1, 1, 0);
    assert_eq!(p.stack.stats().dropped(DropReason::ReassemblyFull), 1);
    // 200 bytes fit.
    assert_eq!(p.send(ACK, 1601, 1, &d[1600..1800]), Input::Accepted);
    p.expect(ACK, 1, 1, 0);
    assert_eq!(p.info(c).reassembly_queued, 800);
    // In-order data is not subject to the bound and drains what was held.
    p.send(ACK, 1, 1, &d[..1000]);
    p.expect(ACK, 1, 1801, 0);
    assert_eq!(p.info(c).reassembly_queued, 0);
    p.send(ACK, 1801, 1, &d[1800..]);
    let mut buf = vec![0u8; 4000];
    assert_eq!(p.stack.recv(c, &mut buf), Ok(2000));
    assert_eq!(&buf[..2000], &d[..]);
}

#[test]
fn fast_retransmit_after_three_duplicate_acks() {
    let mut p = Peer::new(config());
    let c = p.active_open(ConnectOptions::default());
    p.stack.send(c, &data(1, 5 * 1460)).unwrap();
    for k in 0..5 {
        p.expect(ACK, 1 + k * 1460, 1, 1460);
    }
    p.advance_ms(10);
    // The first segment is lost: the peer ACKs the others with duplicates of ack = 1.
    p.send(ACK, 1, 1, &[]);
    p.send(ACK, 1, 1, &[]);
    p.expect_none();
    assert_eq!(p.stack.stats().fast_retransmits, 0);
    p.send(ACK, 1, 1, &[]);
    let r = p.expect(ACK, 1, 1, 1460);
    assert_eq!(r.payload, data(1, 1460));
    assert_eq!(p.stack.stats().fast_retransmits, 1);
    assert_eq!(p.stack.stats().retransmitted_segments, 1);
    assert!(
        p.info(c).cwnd < 10 * 1460,
        "cwnd reduced on entering recovery"
    );
    // The full ACK ends recovery.
    p.send(ACK, 1, 1 + 5 * 1460, &[]);
    assert_eq!(p.info(c).bytes_in_flight, 0);
    p.quiet_until(ms(5000));
}

#[test]
fn window_updates_and_data_do_not_count_as_duplicate_acks() {
    let mut p = Peer::new(config());
    let c = p.active_open(ConnectOptions::default());
    p.stack.send(c, &data(1, 3 * 1460)).unwrap();
    for k in 0..3 {
        p.expect(ACK, 1 + k * 1460, 1, 1460);
    }
    // Three ACKs of SND.UNA, but each changes the window or carries data (RFC 5681 §2).
    p.tx(ACK).seq(1).ack(1).win(60000).send();
    p.tx(ACK).seq(1).ack(1).win(50000).send();
    p.send(ACK, 1, 1, b"x");
    p.expect_none();
    assert_eq!(p.stack.stats().fast_retransmits, 0);
}

#[test]
fn window_from_an_older_segment_is_ignored() {
    let mut p = Peer::new(config());
    let c = p.active_open(ConnectOptions::default());
    // Out-of-order data carries the newer window: SND.WL1 moves to its sequence number.
    p.tx(ACK)
        .seq(101)
        .ack(1)
        .win(3000)
        .data(&data(1, 10))
        .send();
    p.expect(ACK, 1, 1, 0);
    assert_eq!(p.info(c).snd_wnd, 3000);
    // The gap fills with a segment the peer sent earlier, with an older window: SND.WL1 > SEG.SEQ,
    // so the window is not taken from it (RFC 9293 §3.10.7.4, fifth step).
    p.tx(ACK).seq(1).ack(1).win(7000).data(&data(2, 100)).send();
    p.expect(ACK, 1, 111, 0);
    assert_eq!(p.info(c).snd_wnd, 3000);
    // A newer segment updates it.
    p.tx(ACK).seq(111).ack(1).win(5000).send();
    assert_eq!(p.info(c).snd_wnd, 5000);
}

#[test]
fn full_send_buffer_is_backpressure_then_writable() {
    let mut p = Peer::with(|c| c.send_buffer = 1000);
    let c = p.active_open(ConnectOptions::default());
    p.events();
    assert_eq!(p.stack.send(c, &data(1, 1500)), Ok(1000));
    assert_eq!(
        p.stack.send(c, b"more"),
        Err(sanstcp::SendError::WouldBlock)
    );
    p.expect(ACK, 1, 1, 1000);
    assert!(p.plain_events().is_empty());
    p.send(ACK, 1, 401, &[]);
    assert_eq!(p.plain_events(), vec![sanstcp::Event::Writable { conn: c }]);
    assert_eq!(p.stack.send(c, &data(2, 1500)), Ok(400));
    assert_eq!(p.info(c).send_queued, 1000);
}

#[test]
fn out_of_window_pure_acks_are_answered_at_most_twice_a_second() {
    let mut p = Peer::new(config());
    let _c = small_rcv(&mut p);
    // Out of window, no data: the first gets a duplicate ACK, the next ones within 500 ms
    // none (two confused ends must not ping-pong ACKs forever).
    for _ in 0..5 {
        assert_eq!(
            p.send(ACK, 100_000, 1, &[]),
            Input::Dropped(DropReason::OutOfWindow)
        );
    }
    assert_eq!(p.drain().len(), 1);
    assert_eq!(p.stack.stats().invalid_acks_suppressed, 4);
    p.advance(Duration::from_millis(500));
    assert_eq!(
        p.send(ACK, 100_000, 1, &[]),
        Input::Dropped(DropReason::OutOfWindow)
    );
    assert_eq!(p.drain().len(), 1);
    // A segment with data is always answered: the peer needs the ACK to recover.
    assert_eq!(
        p.send(ACK, 100_000, 1, b"far"),
        Input::Dropped(DropReason::OutOfWindow)
    );
    assert_eq!(p.drain().len(), 1);
}

#[test]
fn stack_wide_send_memory_is_backpressure() {
    let mut p = Peer::with(|c| c.max_send_memory = 10_000);
    let a = p.active_open(ConnectOptions::default());
    p.them.set_port(CLIENT_PORT + 1);
    let b = p.active_open(ConnectOptions::default());
    assert_eq!(p.stack.send(a, &[1; 8000]), Ok(8000));
    // Only 2000 bytes of room are left for all connections together.
    assert_eq!(p.stack.send(b, &[2; 5000]), Ok(2000));
    assert_eq!(
        p.stack.send(b, &[2; 5000]),
        Err(sanstcp::SendError::WouldBlock)
    );
}

#[test]
fn stack_wide_receive_memory_bounds_reassembly() {
    let mut p = Peer::with(|c| c.max_recv_memory = 3000);
    let (_l, c) = p.passive_open();
    // 2000 bytes in order, not read: 1000 bytes of the stack-wide budget are left.
    assert_eq!(p.send(ACK, 1, 1, &[1; 2000]), Input::Accepted);
    // An out-of-order segment larger than that is dropped and counted.
    let r = p.send(ACK, 3001, 1, &[3; 1460]);
    assert_eq!(r, Input::Dropped(DropReason::ReassemblyFull));
    // Reading frees the budget; the same segment is then kept for reassembly.
    let mut buf = [0u8; 4096];
    assert_eq!(p.stack.recv(c, &mut buf), Ok(2000));
    assert_eq!(p.send(ACK, 3001, 1, &[3; 1460]), Input::Accepted);
    assert_eq!(p.info(c).reassembly_queued, 1460);
}

/// The peer's receive buffer filled mid-flight: it took 500 of the 1000 bytes sent and closed
/// its window. Its RCV.NXT is our SND.UNA, and with a zero window it accepts a segment only at
/// exactly that sequence number (RFC 9293 §3.10.7.4) — an ACK at SND.MAX would be dropped
/// unread, and if the peer is stuck the same way, both stall until a retransmission timeout.
/// Our ACKs go at the right edge of its window instead (as Linux's tcp_acceptable_seq).
#[test]
fn acks_stay_acceptable_to_a_peer_whose_window_closed_below_snd_max() {
    let mut p = Peer::new(config());
    let c = p.active_open(ConnectOptions::default());
    p.stack.set_nodelay(c, true).unwrap();
    assert_eq!(p.stack.send(c, &data(3, 1000)), Ok(1000));
    p.expect(ACK, 1, 1, 1000);
    // The peer took the first 500 bytes only and has no room left.
    p.tx(ACK).seq(1).ack(501).win(0).send();
    assert_eq!(p.info(c).snd_wnd, 0);
    // Its data arrives; our ACK carries SEQ = 501, the peer's RCV.NXT, not 1001.
    p.advance_ms(10);
    assert_eq!(
        p.tx(ACK).seq(1).ack(501).win(0).data(b"hello").send(),
        Input::Accepted
    );
    p.advance_ms(200);
    let ack = p.pop().expect("an ACK for the peer's data");
    assert_eq!((ack.rseq, ack.rack, ack.len()), (501, 6, 0));
}
