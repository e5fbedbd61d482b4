//! Echo through a lossy, corrupting link with small buffers: both receive windows fill and
//! close, and both ends keep sending while the other's window is shut. Regression for a stall
//! found on TAP: pure ACKs at SND.MAX, beyond a zero-window peer's RCV.NXT, were dropped unread
//! by both sides until the retransmission timer gave up (RFC 9293 §3.10.7.4; Linux's
//! tcp_acceptable_seq).

mod common;
use common::*;
use core::time::Duration;
use sanstcp::sim::LinkConfig;
use sanstcp::{ConnectOptions, RecvError};

/// Echoes 1 MiB (the server reads only what it can write back) and returns the virtual
/// seconds it took; every byte is checked.
fn echo(seed: u64) -> f64 {
    let mut a = config(A_IP, 1);
    let mut b = config(B_IP, 2);
    for c in [&mut a, &mut b] {
        c.send_buffer = 16 * 1024;
        c.recv_buffer = 16 * 1024;
    }
    let mut link = LinkConfig::ideal().with_delay(Duration::from_millis(2));
    link.corrupt = 0.01;
    link.loss = 0.01;
    link.bandwidth_bps = 100_000_000;
    let mut p = Pair::new(seed, a, b, link);
    let (_l, ca, cb) = p.connect(ConnectOptions::default());
    let start = p.now();
    let total: u64 = 1 << 20;
    let (mut sent, mut got) = (0u64, 0u64);
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 65536];
    p.run(600, |p| {
        // The client writes all it can.
        while sent < total {
            let n = ((total - sent) as usize).min(8192);
            let chunk: Vec<u8> = (0..n as u64).map(|i| pattern(1, sent + i)).collect();
            match p.sa().send(ca, &chunk) {
                Ok(k) if k > 0 => sent += k as u64,
                _ => break,
            }
        }
        // The server echoes: it reads only what it can write back.
        loop {
            if !pending.is_empty() {
                match p.sb().send(cb, &pending) {
                    Ok(k) => {
                        pending.drain(..k);
                    }
                    Err(_) => break,
                }
                if !pending.is_empty() {
                    break;
                }
            }
            match p.sb().recv(cb, &mut buf[..4096]) {
                Ok(0) => break,
                Ok(k) => pending.extend_from_slice(&buf[..k]),
                Err(RecvError::WouldBlock) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        // The client reads and checks the echo.
        loop {
            match p.sa().recv(ca, &mut buf) {
                Ok(0) => break,
                Ok(k) => {
                    for (j, &b) in buf[..k].iter().enumerate() {
                        assert_eq!(b, pattern(1, got + j as u64), "byte {}", got + j as u64);
                    }
                    got += k as u64;
                }
                Err(RecvError::WouldBlock) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        got == total
    });
    p.now().saturating_duration_since(start).as_secs_f64()
}

#[test]
fn echo_with_full_windows_through_loss_and_corruption_never_stalls() {
    for seed in 0..24 {
        let t = echo(seed);
        // About 1.5 s at worst here; a stall waits out retransmission timeouts (and, before
        // the fix, ended in TimedOut).
        assert!(
            t < 5.0,
            "seed {seed}: 1 MiB echo took {t:.2} s of virtual time"
        );
    }
}
