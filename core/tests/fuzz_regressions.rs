//! Regression tests for bugs the cargo-fuzz targets (fuzz/) found, each reduced to a scripted
//! exchange with the fake peer of `peer/mod.rs`.

mod peer;

use peer::*;
use sanstcp::wire::TcpOptions;
use sanstcp::{CongestionAlgorithm, Input};

/// Found by `pair` (NewReno, timestamps on, a lossy link): in NewReno fast recovery every
/// partial ACK deflates the congestion window by the bytes it acknowledges and adds one SMSS
/// back only "if the partial ACK acknowledges at least one SMSS of new data" (RFC 6582 §3.2
/// step 3). With timestamps a full segment carries MSS − 12 bytes (1448), which is less than
/// the MSS the congestion controller counts with (1460), so no partial ACK ever added the SMSS
/// back: one partial ACK per segment drove the window to zero, and with a zero window nothing
/// new could leave until recovery ended.
#[test]
fn partial_acks_of_full_timestamped_segments_never_zero_the_window() {
    let mut p = Peer::with(|c| {
        c.sack = false;
        c.nagle = false;
        c.congestion = CongestionAlgorithm::NewReno;
    });
    p.syn_options = TcpOptions {
        mss: Some(1460),
        timestamps: Some((100, 0)),
        ..TcpOptions::default()
    };
    let (_l, c) = p.passive_open();
    assert!(p.info(c).timestamps, "timestamps negotiated");
    p.stack.send(c, &data(1, 10 * 1448)).unwrap();
    let segs = p.drain();
    assert_eq!(segs.len(), 10, "the initial window goes out at once");
    assert!(
        segs.iter().all(|s| s.len() == 1448),
        "full segments carry MSS - 12 bytes"
    );

    // Three duplicate ACKs: fast retransmit, fast recovery.
    for _ in 0..3 {
        assert_eq!(p.send(ACK, 1, 1, &[]), Input::Accepted);
    }
    let rtx = p.drain();
    assert!(!rtx.is_empty(), "fast retransmit");
    assert_eq!(p.stack.stats().fast_retransmits, 1);

    // Partial ACKs, one full segment each.
    for k in 1..10u32 {
        assert_eq!(p.send(ACK, 1, 1 + k * 1448, &[]), Input::Accepted);
        let info = p.info(c);
        assert!(
            info.cwnd >= 1448,
            "after partial ACK {k} the congestion window is {} bytes",
            info.cwnd
        );
        p.drain();
    }
}

/// Found by `ops` (CI, 2026-11-22): a simultaneous open reached SYN-RECEIVED, the application
/// queued data and shut down. The connection went straight to FIN-WAIT-1 with its SYN still
/// unacknowledged, so when the retransmission timer rewound SND.NXT to the ISS, the segment it
/// repeated was data — the application's first bytes at the SYN's own sequence number, without
/// the SYN flag. RFC 9293 §3.10.4: in SYN-RECEIVED the FIN waits for ESTABLISHED; until then
/// only the SYN-ACK is repeated.
#[test]
fn shutdown_in_syn_received_repeats_the_syn_ack_and_sends_the_fin_after_the_handshake() {
    use sanstcp::wire::TcpFlags;
    use sanstcp::{ConnectOptions, TcpState};
    let mut p = Peer::new(config());
    let c = p.connect(ConnectOptions::default());
    p.expect(SYN, 0, 0, 0);
    assert_eq!(p.tx(SYN).seq(0).mss(1460).win(700).send(), Input::Accepted);
    p.expect(SYN_ACK, 0, 1, 0);
    assert_eq!(p.info(c).state, TcpState::SynReceived);
    let bytes = data(7, 1000);
    assert_eq!(p.stack.send(c, &bytes), Ok(1000));
    assert_eq!(p.stack.shutdown(c), Ok(()));
    assert_eq!(p.info(c).state, TcpState::SynReceived, "the FIN waits");
    p.expect_none();

    // The SYN-ACK is lost; the retransmission timer repeats exactly it.
    p.advance_ms(1500);
    let again = p.pop().expect("a retransmission");
    assert_eq!(again.flags, SYN_ACK, "the SYN-ACK is repeated, not data");
    assert_eq!((again.rseq, again.len()), (0, 0));
    p.drain();

    // The peer's ACK completes the handshake: ESTABLISHED, then FIN-WAIT-1 at once, and the
    // data goes out from ISS + 1 within the peer's 700-byte window.
    assert_eq!(p.tx(ACK).seq(1).ack(1).win(2000).send(), Input::Accepted);
    assert_eq!(p.info(c).state, TcpState::FinWait1);
    let segs = p.drain();
    let mut got = Vec::new();
    for s in &segs {
        assert_eq!(s.rseq as usize, 1 + got.len(), "data in order from ISS + 1");
        got.extend_from_slice(&s.payload);
    }
    assert_eq!(got, bytes);
    assert!(
        segs.last().is_some_and(|s| s.flags.contains(TcpFlags::FIN)),
        "the FIN follows the data: {segs:?}"
    );
}
