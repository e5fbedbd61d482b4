//! The same configuration (secret, seed) and the same inputs at the same times give the same
//! outputs, byte for byte (DESIGN.md: "guard it with a test").

mod common;

use std::cell::RefCell;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use common::*;
use sanstcp::sim::{CaptureKind, LinkConfig, Rng};
use sanstcp::{ConnectOptions, Event, Input, Instant, ListenOptions, Stack, StackConfig};

fn lossy_link() -> LinkConfig {
    LinkConfig::ideal()
        .with_delay(Duration::from_millis(7))
        .with_bandwidth(50_000_000)
        .with_loss(0.05)
        .with_reorder(0.1, Duration::from_millis(2))
        .with_duplicate(0.02)
        .with_corrupt(0.005)
}

/// What one whole run produced.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    /// Hash of every packet the links saw (sent, delivered, dropped), with its time and ends.
    digest: u64,
    packets: u64,
    /// Hash of every event both stacks reported, in order.
    events: u64,
    end: Instant,
    iss_a: u32,
    iss_b: u32,
    /// The packets delivered to B, with their arrival times (for the replay test).
    to_b: Vec<(Instant, Vec<u8>)>,
}

/// A lossy transfer both ways, with a capture callback hashing every packet.
fn lossy_run(a_cfg: StackConfig, b_cfg: StackConfig) -> Run {
    let mut p = Pair::new(77, a_cfg, b_cfg, lossy_link());
    let state = Rc::new(RefCell::new((DefaultHasher::new(), 0u64, Vec::new())));
    let s = state.clone();
    let b_node = p.b;
    p.sim
        .set_capture(Some(Box::new(move |t, from, to, kind, bytes| {
            let mut st = s.borrow_mut();
            t.hash(&mut st.0);
            (from.0, to.0, kind as u8).hash(&mut st.0);
            bytes.hash(&mut st.0);
            st.1 += 1;
            if kind == CaptureKind::Delivered && to == b_node {
                st.2.push((t, bytes.to_vec()));
            }
        })));
    let (_l, ca, cb) = p.connect(ConnectOptions::default());
    let mut ev = DefaultHasher::new();
    let (mut tx_a, mut rx_b) = (Sender::new(300_000, 1), Receiver::new(1));
    let (mut tx_b, mut rx_a) = (Sender::new(200_000, 2), Receiver::new(2));
    p.run(300, |p| {
        tx_a.pump(p.sa(), ca).unwrap();
        tx_b.pump(p.sb(), cb).unwrap();
        rx_a.pump(p.sa(), ca).unwrap();
        rx_b.pump(p.sb(), cb).unwrap();
        for e in events(p.sa()).into_iter().chain(events(p.sb())) {
            e.hash(&mut ev);
        }
        rx_a.eof && rx_b.eof
    });
    assert_eq!((rx_a.received, rx_b.received), (200_000, 300_000));
    let (iss_a, iss_b) = (p.sa().info(ca).unwrap().iss, p.sb().info(cb).unwrap().iss);
    p.sim.set_capture(None);
    let (h, packets, to_b) = Rc::try_unwrap(state).ok().unwrap().into_inner();
    Run {
        digest: h.finish(),
        packets,
        events: ev.finish(),
        end: p.now(),
        iss_a,
        iss_b,
        to_b,
    }
}

#[test]
fn same_inputs_same_run() {
    let r1 = lossy_run(config(A_IP, 1), config(B_IP, 2));
    let r2 = lossy_run(config(A_IP, 1), config(B_IP, 2));
    assert!(r1.packets > 500, "a real run: {} packets", r1.packets);
    assert_eq!(r1, r2, "two identical runs differ");
    eprintln!(
        "{} packets, digest {:016x}, done at {}",
        r1.packets, r1.digest, r1.end
    );

    // Another secret (same seeds, same simulator): other ISNs (RFC 6528), so other bytes.
    let mut a_cfg = config(A_IP, 1);
    let mut b_cfg = config(B_IP, 2);
    a_cfg.secret = [0xa5; 16];
    b_cfg.secret = [0x5a; 16];
    let r3 = lossy_run(a_cfg, b_cfg);
    assert_ne!(r3.iss_a, r1.iss_a);
    assert_ne!(r3.iss_b, r1.iss_b);
    assert_ne!(r3.digest, r1.digest);
}

/// Everything a stack did during a replay, in order.
#[derive(Debug, PartialEq, Eq)]
enum Out {
    Input(Instant, Input),
    Tx(Instant, Vec<u8>),
    Event(Instant, Event),
    Read(Instant, Vec<u8>),
    Deadline(Option<Instant>),
}

/// Feeds `script` to a fresh stack listening on port 80: timers as they come due, each
/// packet at its time, an application that accepts and reads everything.
fn replay(cfg: StackConfig, script: &[(Instant, Vec<u8>)]) -> Vec<Out> {
    let mut s = Stack::new(cfg).unwrap();
    let l = s
        .listen(SocketAddr::new(ip(B_IP), 80), ListenOptions::default())
        .unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut conns = Vec::new();
    let mut settle = |s: &mut Stack, now: Instant, out: &mut Vec<Out>| {
        while let Some(t) = s.poll_transmit(now, &mut buf) {
            out.push(Out::Tx(now, buf[..t.len].to_vec()));
        }
        while let Some(e) = s.poll_event() {
            out.push(Out::Event(now, e));
        }
        while let Some(c) = s.accept(l) {
            conns.push(c);
        }
        for &c in &conns {
            let mut rbuf = [0u8; 8192];
            while let Ok(n @ 1..) = s.recv(c, &mut rbuf) {
                out.push(Out::Read(now, rbuf[..n].to_vec()));
            }
        }
        // Reading may owe the peer a window update.
        while let Some(t) = s.poll_transmit(now, &mut buf) {
            out.push(Out::Tx(now, buf[..t.len].to_vec()));
        }
        out.push(Out::Deadline(s.poll_timeout()));
    };
    for (t, packet) in script {
        for _ in 0..10_000 {
            match s.poll_timeout() {
                Some(d) if d <= *t => {
                    s.handle_timeout(d);
                    settle(&mut s, d, &mut out);
                }
                _ => break,
            }
        }
        let r = s.handle_packet(*t, packet);
        out.push(Out::Input(*t, r));
        settle(&mut s, *t, &mut out);
    }
    out
}

#[test]
fn same_packets_same_times_same_output() {
    // The packets B received in a real lossy run, with some junk mixed in.
    let run = lossy_run(config(A_IP, 1), config(B_IP, 2));
    let mut rng = Rng::new(9);
    let mut script = Vec::new();
    for (t, p) in run.to_b {
        if rng.gen_bool(0.05) {
            let mut junk = p.clone();
            let i = rng.gen_range(junk.len() as u64) as usize;
            junk[i] ^= 1 << rng.gen_range(8);
            script.push((t, junk));
            let mut noise = vec![0u8; rng.gen_range(200) as usize];
            rng.fill_bytes(&mut noise);
            script.push((t, noise));
        }
        script.push((t, p));
    }
    let x = replay(config(B_IP, 2), &script);
    let y = replay(config(B_IP, 2), &script);
    let sent = x.iter().filter(|o| matches!(o, Out::Tx(..))).count();
    let read: usize = x
        .iter()
        .map(|o| if let Out::Read(_, d) = o { d.len() } else { 0 })
        .sum();
    assert!(sent > 100, "the replay answered: {sent} packets");
    assert!(read > 0, "the replay read data");
    assert_eq!(x.len(), y.len());
    for (i, (a, b)) in x.iter().zip(&y).enumerate() {
        assert_eq!(a, b, "output {i} differs");
    }
    // A different secret changes the ISN, so the SYN-ACK differs.
    let mut other = config(B_IP, 2);
    other.secret = [0x33; 16];
    let z = replay(other, &script);
    let first_tx = |v: &[Out]| {
        v.iter().find_map(|o| {
            if let Out::Tx(_, d) = o {
                Some(d.clone())
            } else {
                None
            }
        })
    };
    assert_ne!(first_tx(&x), first_tx(&z));
}
