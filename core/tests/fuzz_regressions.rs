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
