//! Timestamps (RFC 7323) and SACK (RFC 2018, RFC 2883, RFC 6675), segment by segment:
//! negotiation in the SYN and SYN-ACK, PAWS dropping an old duplicate, RTT measured from the
//! echoed timestamp, SACK blocks and D-SACK from the receiver, and SACK-based recovery that
//! repairs a single loss within one round trip and without a retransmission timeout.

mod peer;

use std::time::Duration;

use peer::*;
use sanstcp::wire::{SackBlock, TcpOptions};
use sanstcp::{ConnectOptions, DropReason, Input};

/// The options a modern peer (Linux) puts in its SYN: MSS, SACK-permitted, timestamps, wscale.
fn modern_syn(tsval: u32) -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        sack_permitted: true,
        timestamps: Some((tsval, 0)),
        window_scale: Some(7),
        ..TcpOptions::default()
    }
}

fn ts(val: u32, ecr: u32) -> TcpOptions {
    TcpOptions {
        timestamps: Some((val, ecr)),
        ..TcpOptions::default()
    }
}

#[test]
fn syn_offers_sack_and_timestamps() {
    let mut p = Peer::new(config());
    p.connect(ConnectOptions::default());
    let syn = p.expect(SYN, 0, 0, 0);
    assert!(syn.options.sack_permitted);
    let (val, ecr) = syn.options.timestamps.expect("timestamps offered");
    assert_eq!(ecr, 0, "TSecr of a SYN is zero");
    // Two connections get unrelated TSval clocks (RFC 7323 §5.4 offsets).
    p.them.set_port(CLIENT_PORT + 1);
    p.connect(ConnectOptions::default());
    let other = p.expect(SYN, 0, 0, 0);
    assert_ne!(other.options.timestamps.unwrap().0, val);
}

#[test]
fn synack_echoes_only_what_was_offered() {
    // Offered: SACK and timestamps are echoed, TSecr = the peer's TSval.
    let mut p = Peer::new(config());
    let _l = p.listen(Default::default());
    assert_eq!(
        p.tx(SYN).seq(0).options(modern_syn(777)).send(),
        Input::Accepted
    );
    let synack = p.expect(SYN_ACK, 0, 1, 0);
    assert!(synack.options.sack_permitted);
    assert_eq!(synack.options.timestamps.map(|t| t.1), Some(777));

    // Not offered: neither appears.
    let mut p = Peer::new(config());
    let _l = p.listen(Default::default());
    let plain = TcpOptions {
        mss: Some(1460),
        ..TcpOptions::default()
    };
    assert_eq!(p.tx(SYN).seq(0).options(plain).send(), Input::Accepted);
    let synack = p.expect(SYN_ACK, 0, 1, 0);
    assert!(!synack.options.sack_permitted);
    assert!(synack.options.timestamps.is_none());
}

/// Passive open with timestamps and SACK; returns the connection and the stack's TSval from
/// the SYN-ACK.
fn open_modern(p: &mut Peer) -> (sanstcp::ConnId, u32) {
    let l = p.listen(Default::default());
    assert_eq!(
        p.tx(SYN).seq(0).options(modern_syn(100)).send(),
        Input::Accepted
    );
    let synack = p.expect(SYN_ACK, 0, 1, 0);
    let their_ts = synack.options.timestamps.unwrap().0;
    // A 50 ms round trip: the handshake gives the first RTT sample.
    p.advance(Duration::from_millis(50));
    assert_eq!(
        p.tx(ACK).seq(1).ack(1).options(ts(101, their_ts)).send(),
        Input::Accepted
    );
    let c = p.stack.accept(l).expect("accepted");
    let info = p.stack.info(c).unwrap();
    assert!(info.timestamps && info.sack);
    (c, their_ts)
}

#[test]
fn paws_drops_an_old_duplicate() {
    let mut p = Peer::new(config());
    let (c, their) = open_modern(&mut p);
    assert_eq!(
        p.tx(ACK)
            .seq(1)
            .ack(1)
            .data(b"new")
            .options(ts(5000, their))
            .send(),
        Input::Accepted
    );
    // Same sequence space further on, but a timestamp from before: an old duplicate.
    let r = p
        .tx(ACK)
        .seq(4)
        .ack(1)
        .data(b"old")
        .options(ts(4000, their))
        .send();
    assert_eq!(r, Input::Dropped(DropReason::Paws));
    assert_eq!(p.stack.stats().dropped(DropReason::Paws), 1);
    // PAWS answers with an ACK (RFC 7323 §5.3 R1) that does not cover the dropped bytes.
    let acks = p.drain();
    assert!(
        acks.iter().any(|s| s.rack == 4),
        "an ACK for the accepted data"
    );
    assert!(
        acks.iter().all(|s| s.rack <= 4),
        "nothing of the old duplicate was acknowledged"
    );
    let mut buf = [0u8; 16];
    assert_eq!(p.stack.recv(c, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"new");
    // A newer timestamp is accepted again.
    assert_eq!(
        p.tx(ACK)
            .seq(4)
            .ack(1)
            .data(b"xyz")
            .options(ts(5001, their))
            .send(),
        Input::Accepted
    );
}

#[test]
fn rtt_comes_from_the_timestamp_echo() {
    let mut p = Peer::new(config());
    let (c, _) = open_modern(&mut p);
    p.stack.send(c, b"hello").unwrap();
    let data = p.expect(ACK, 1, 1, 5);
    let (val, _) = data.options.timestamps.expect("data carries a timestamp");
    p.advance(Duration::from_millis(80));
    assert_eq!(
        p.tx(ACK).seq(1).ack(6).options(ts(200, val)).send(),
        Input::Accepted
    );
    // The handshake gave a first sample of 50 ms (SRTT 50, RTTVAR 25); this one is 80 ms:
    // RTTVAR = 3/4·25 + 1/4·|50-80| = 26.25 ms, SRTT = 7/8·50 + 1/8·80 = 53.75 ms
    // (RFC 6298 §2.3).
    let info = p.stack.info(c).unwrap();
    assert_eq!(info.srtt, Some(Duration::from_micros(53_750)));
    assert_eq!(info.rttvar, Duration::from_micros(26_250));
}

#[test]
fn receiver_reports_sack_blocks_and_dsack() {
    let mut p = Peer::new(config());
    let (_c, their) = open_modern(&mut p);
    let iss = p.peer_iss;
    // Bytes 1..=100 arrive, then 201..=300 (a hole at 101..=200).
    assert_eq!(
        p.tx(ACK)
            .seq(1)
            .ack(1)
            .data(&[1; 100])
            .options(ts(200, their))
            .send(),
        Input::Accepted
    );
    assert_eq!(
        p.tx(ACK)
            .seq(201)
            .ack(1)
            .data(&[3; 100])
            .options(ts(201, their))
            .send(),
        Input::Accepted
    );
    let dup = p
        .drain()
        .into_iter()
        .last()
        .expect("an immediate duplicate ACK");
    assert_eq!(dup.rack, 101);
    assert_eq!(
        dup.options.sack_blocks(),
        &[SackBlock {
            left: iss.wrapping_add(201),
            right: iss.wrapping_add(301)
        }]
    );
    // The first 100 bytes again: reported as a D-SACK (RFC 2883), below the ACK.
    let r = p
        .tx(ACK)
        .seq(1)
        .ack(1)
        .data(&[1; 100])
        .options(ts(202, their))
        .send();
    assert_eq!(r, Input::Dropped(DropReason::OutOfWindow));
    let ack = p
        .drain()
        .into_iter()
        .last()
        .expect("an ACK for the duplicate");
    let blocks = ack.options.sack_blocks();
    assert_eq!(
        blocks[0],
        SackBlock {
            left: iss.wrapping_add(1),
            right: iss.wrapping_add(101)
        }
    );
    assert_eq!(
        blocks[1],
        SackBlock {
            left: iss.wrapping_add(201),
            right: iss.wrapping_add(301)
        }
    );
}

#[test]
fn single_loss_is_repaired_in_one_round_trip_without_rto() {
    let mut p = Peer::new(config());
    let (c, _) = open_modern(&mut p);
    let stack_iss = p.stack_iss();
    p.stack.send(c, &vec![9u8; 10 * 1448]).unwrap();
    // The initial window: ten segments of 1448 bytes (1460 less the 12-byte timestamp option).
    let segs = p.drain();
    assert_eq!(segs.len(), 10);
    assert!(segs.iter().all(|s| s.payload.len() == 1448));
    let rtt = Duration::from_millis(50);
    p.advance(rtt);
    // Segment 3 (bytes 2897..4344) is lost; the receiver ACKs 1..2896 and SACKs the rest,
    // one ACK per segment that arrives.
    let lost_start = 1 + 2 * 1448;
    let mut sacked_to = lost_start + 1448;
    assert_eq!(p.send(ACK, 1, lost_start, &[]), Input::Accepted);
    let mut retransmit = None;
    for _ in 0..7 {
        sacked_to += 1448;
        let mut o = TcpOptions::default();
        o.set_sack_blocks(&[SackBlock {
            left: stack_iss.wrapping_add(lost_start + 1448),
            right: stack_iss.wrapping_add(sacked_to),
        }]);
        assert_eq!(
            p.tx(ACK).seq(1).ack(lost_start).options(o).send(),
            Input::Accepted
        );
        if let Some(s) = p.drain().into_iter().find(|s| s.rseq == lost_start) {
            retransmit = Some(s);
            break;
        }
    }
    let rtx = retransmit.expect("the hole is retransmitted on SACK evidence");
    assert_eq!(rtx.at, p.now(), "at once, not after a timer");
    assert_eq!(rtx.payload.len(), 1448);
    // One round trip later the receiver has it all.
    p.advance(rtt);
    assert_eq!(p.send(ACK, 1, 1 + 10 * 1448, &[]), Input::Accepted);
    let info = p.stack.info(c).unwrap();
    assert_eq!(info.bytes_in_flight, 0);
    assert_eq!(p.stack.stats().rto_expirations, 0);
    assert_eq!(p.stack.stats().fast_retransmits, 1);
    assert_eq!(info.retransmits, 1, "only the lost segment was sent twice");
}

#[test]
fn tail_loss_is_repaired_by_a_probe_not_an_rto() {
    let mut p = Peer::new(config());
    let (c, _) = open_modern(&mut p);
    // Establish an RTT of 50 ms with a first exchange.
    p.stack.send(c, &[1u8; 100]).unwrap();
    p.expect(ACK, 1, 1, 100);
    p.advance(Duration::from_millis(50));
    assert_eq!(p.send(ACK, 1, 101, &[]), Input::Accepted);
    // Three segments; the last one is lost. The receiver ACKs the first two at once.
    p.stack.send(c, &[2u8; 3 * 1448]).unwrap();
    let segs = p.drain();
    assert_eq!(segs.len(), 3);
    let sent_at = p.now();
    p.advance(Duration::from_millis(50));
    assert_eq!(p.send(ACK, 1, 101 + 2 * 1448, &[]), Input::Accepted);
    // No duplicate ACKs will come. The probe goes out after PTO (2·SRTT plus the delayed-ACK
    // allowance for a single segment in flight), cut to when the RTO would have fired: the
    // probe takes the RTO's place, so the window does not collapse.
    let probe = p.next_within(Duration::from_secs(2));
    assert_eq!(probe.rseq, 101 + 2 * 1448, "the last segment is sent again");
    assert_eq!(probe.payload.len(), 1448);
    let waited = probe.at - sent_at;
    let rto = p.stack.info(c).unwrap().rto;
    assert!(
        waited <= Duration::from_millis(50) + rto,
        "probe after {waited:?}, RTO {rto:?}"
    );
    assert_eq!(p.stack.stats().tail_loss_probes, 1);
    assert_eq!(p.send(ACK, 1, 101 + 3 * 1448, &[]), Input::Accepted);
    let info = p.stack.info(c).unwrap();
    assert_eq!(info.bytes_in_flight, 0);
    assert_eq!(p.stack.stats().rto_expirations, 0);
    assert!(
        info.cwnd >= 10 * 1448,
        "no loss response collapsed the window: {}",
        info.cwnd
    );
}

#[test]
fn pacing_spreads_a_window_over_the_round_trip() {
    let mut p = Peer::with(|c| c.pacing = true);
    let (c, _) = open_modern(&mut p);
    p.stack.send(c, &vec![5u8; 10 * 1448]).unwrap();
    // Only the first segment leaves at once; the stack says when the next one may.
    let first = p.drain();
    assert_eq!(first.len(), 1);
    // SRTT 50 ms, cwnd 10 · 1448 bytes (the SMSS without the timestamp option), slow-start
    // gain 2: a 1448-byte segment every 1448 · 50 ms / (2 · 14480) = 2.5 ms.
    let gap = Duration::from_micros(2_500);
    assert_eq!(p.stack.poll_timeout(), Some(p.now() + gap));
    let start = p.now();
    let mut times = vec![first[0].at];
    while times.len() < 10 {
        let s = p.next_within(Duration::from_millis(100));
        assert!(!s.payload.is_empty());
        times.push(s.at);
    }
    for (i, t) in times.iter().enumerate() {
        assert_eq!(*t, start + gap * i as u32, "segment {i}");
    }
}
