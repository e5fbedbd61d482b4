//! Cost per segment, for instruction counting: a fixed scenario with no clock and no
//! randomness, so that `valgrind --tool=callgrind` gives the same count on every run.
//! `scripts/bench-callgrind` runs it at two sizes and divides the difference in instructions
//! by the difference in segments, which takes setup (stacks, handshake, pattern) out.
//!
//! Two sanstcp stacks in one process, A sends `SEGMENT_COST_SEGMENTS` (default 10000) full
//! segments (MTU 1500, timestamps on: 1448 payload bytes each) to B, packets handed over in
//! memory, checksums computed on output and verified on input, B reads and checks every byte.
//! Virtual time moves 10 µs per loop turn. Run directly it also prints wall ns per segment
//! (noisy; callgrind's count is the figure to compare).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant as WallInstant};

use sanstcp::{
    ConnectOptions, Event, Instant, ListenOptions, RecvError, SendError, Stack, StackConfig,
};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 5001;
const MTU: usize = 1500;
/// 1500 - 20 (IPv4) - 20 (TCP) - 12 (timestamps).
const PAYLOAD: usize = 1448;
const STEP: Duration = Duration::from_micros(10);

/// Byte `i` of the stream: a period that is no multiple of the payload size.
fn byte(i: u64) -> u8 {
    ((i % 251) as u8) ^ ((i / 251) as u8).wrapping_mul(7)
}

fn config(addr: Ipv4Addr, seed: u64) -> StackConfig {
    let mut c = StackConfig::new(vec![IpAddr::V4(addr)], [seed as u8; 16], seed);
    c.mtu = MTU;
    c.verify_checksums = true;
    c
}

struct Counts {
    data: u64,
    other_ab: u64,
    ba: u64,
}

fn run(segments: u64) -> Result<Counts, String> {
    let total = segments * PAYLOAD as u64;
    let mut a = Stack::new(config(A, 1)).map_err(|e| format!("config: {e}"))?;
    let mut b = Stack::new(config(B, 2)).map_err(|e| format!("config: {e}"))?;
    let server = SocketAddr::new(IpAddr::V4(B), PORT);
    let listener = b
        .listen(server, ListenOptions::default())
        .map_err(|e| format!("listen: {e}"))?;
    let mut now = Instant::from_secs(1);
    let ca = a
        .connect(now, server, ConnectOptions::default())
        .map_err(|e| format!("connect: {e}"))?;
    // The whole stream, built before the handshake (setup, not per-segment work).
    // A prime-length block repeated: cheap to build, and no segment lines up with it.
    let block: Vec<u8> = (0..65521).map(byte).collect();
    let mut stream = Vec::with_capacity(total as usize);
    while stream.len() < total as usize {
        let n = block.len().min(total as usize - stream.len());
        stream.extend_from_slice(&block[..n]);
    }
    let mut buf = vec![0u8; 65536];
    let mut rbuf = vec![0u8; 65536];
    let mut cb = None;
    let (mut sent, mut received) = (0usize, 0usize);
    let mut counts = Counts {
        data: 0,
        other_ab: 0,
        ba: 0,
    };
    let mut turns = 0u64;
    while received < stream.len() {
        turns += 1;
        if turns > 100 * segments + 10_000 {
            return Err(format!("stuck at {received} of {total} bytes"));
        }
        while a.poll_event().is_some() {}
        if sent < stream.len() {
            match a.send(ca, &stream[sent..]) {
                Ok(n) => sent += n,
                Err(SendError::WouldBlock) => {}
                Err(e) => return Err(format!("send: {e}")),
            }
        }
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            if t.len == MTU {
                counts.data += 1;
            } else {
                counts.other_ab += 1;
            }
            b.handle_packet(now, &buf[..t.len]);
        }
        while let Some(e) = b.poll_event() {
            if let Event::Incoming { .. } = e {
                cb = b.accept(listener);
            }
        }
        if let Some(cb) = cb {
            loop {
                match b.recv(cb, &mut rbuf) {
                    Ok(0) => return Err("unexpected end of stream".into()),
                    Ok(n) => {
                        if rbuf[..n] != stream[received..received + n] {
                            return Err(format!("wrong bytes at {received}"));
                        }
                        received += n;
                    }
                    Err(RecvError::WouldBlock) => break,
                    Err(e) => return Err(format!("recv: {e}")),
                }
            }
        }
        while let Some(t) = b.poll_transmit(now, &mut buf) {
            counts.ba += 1;
            a.handle_packet(now, &buf[..t.len]);
        }
        now = now + STEP;
        for s in [&mut a, &mut b] {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
            }
        }
    }
    let drops = a.stats().dropped_total() + b.stats().dropped_total();
    if drops != 0 {
        return Err(format!("{drops} packets dropped"));
    }
    if counts.data != segments {
        return Err(format!("{} full segments for {segments}", counts.data));
    }
    Ok(counts)
}

fn main() {
    let segments: u64 = match std::env::var("SEGMENT_COST_SEGMENTS") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("SEGMENT_COST_SEGMENTS={v:?}")),
        Err(_) => 10_000,
    };
    let start = WallInstant::now();
    match run(segments) {
        Ok(c) => {
            let secs = start.elapsed().as_secs_f64();
            println!(
                "segment_cost: {} data segments of {PAYLOAD} bytes A->B, {} other A->B, {} B->A (ACKs), every byte checked",
                c.data, c.other_ab, c.ba
            );
            println!("wall time {secs:.3} s (setup included)");
            println!(
                "segment_cost: {segments} segments, {:.0} wall ns per segment (setup included; use scripts/bench-callgrind for instruction counts)",
                secs * 1e9 / segments as f64
            );
        }
        Err(e) => {
            println!("segment_cost: FAILED: {e}");
            std::process::exit(1);
        }
    }
}
