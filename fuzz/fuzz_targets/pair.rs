//! Fuzz target `pair`: a transfer both ways between two stacks over a link the fuzzer controls.
//!
//! Stack A connects to stack B's listener (IPv4 or IPv6), each side sends a test pattern of a
//! fuzzer-chosen length and then shuts down writing, and each side reads what arrives (in
//! chunks of a fuzzer-chosen size, to make windows close and reopen). The input is a 10-byte
//! configuration block (family, MTU, buffer sizes, Nagle, delayed ACK, read size, byte counts,
//! timestamps, SACK, ECN, pacing, congestion control, SYN cookies) followed by one decision
//! per packet put on the link, in the order the stacks send them: deliver (after the base delay of 10 ms), drop, duplicate, delay (which
//! reorders), deliver late, or flip one bit (the checksum must catch it). Checksums stay on.
//! When the decisions run out the link is ideal.
//!
//! Checked: no panic; every packet out parses back with valid checksums; the bytes each side
//! reads are byte-exact the prefix of what the other side sent, and end of stream comes only
//! after all of them; `info()` invariants on both connections and the `Stats` counters after
//! every event; `poll_timeout` is never left in the past. Liveness: once the link is ideal, a
//! run in which neither connection failed (no `Closed` other than `Normal`) must deliver both
//! streams whole and see both ends of stream within 30 minutes of virtual time; a run that
//! stops because the lossy phase outlasted the step or time budget is not judged.
#![no_main]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sanstcp::{
    CloseReason, ConnId, ConnectOptions, Event, Instant, ListenOptions, ListenerId, RecvError,
    SendError, StackConfig,
};
use sanstcp_fuzz::{
    apply_algorithms, apply_features, check_info, decode, pattern, summary, trace, Limits, Tracker,
};

const BASE_DELAY: Duration = Duration::from_millis(10);
const MAX_STEPS: u32 = 200_000;
/// Virtual time the lossy phase may take before the run is abandoned unjudged.
const LOSSY_LIMIT: Duration = Duration::from_secs(6 * 3600);
/// Virtual time an ideal link gets to finish the transfer.
const IDEAL_LIMIT: Duration = Duration::from_secs(30 * 60);

#[derive(Arbitrary, Debug, Clone, Copy)]
struct Setup {
    flags: u8,
    mtu: u8,
    buffers: u8,
    read: u8,
    a_bytes: u16,
    b_bytes: u16,
    /// Timestamps, SACK, ECN, pacing, one nibble per side (`sanstcp_fuzz::apply_features`).
    features: u8,
    /// Congestion control and SYN cookies, one nibble per side
    /// (`sanstcp_fuzz::apply_algorithms`).
    algorithms: u8,
}

/// Bytes of [`Setup`] at the start of the input.
const SETUP_LEN: usize = 10;

/// One end: its stack, its connection, and the two byte streams it takes part in.
struct End {
    t: Tracker,
    cfg: StackConfig,
    conn: Option<ConnId>,
    limits: Limits,
    /// Stream this end sends.
    stream: u64,
    total: u64,
    sent: u64,
    shut: bool,
    /// Stream this end receives.
    peer_stream: u64,
    peer_total: u64,
    received: u64,
    eof: bool,
    failed: Option<CloseReason>,
    /// The handshake completed (a shutdown before it would end the connection unopened).
    established: bool,
}

impl End {
    fn pump_send(&mut self) {
        let Some(c) = self.conn else { return };
        let mut chunk = [0u8; 4096];
        while self.sent < self.total {
            let n = ((self.total - self.sent) as usize).min(chunk.len());
            for (i, b) in chunk[..n].iter_mut().enumerate() {
                *b = pattern(self.stream, self.sent + i as u64);
            }
            match self.t.stack.send(c, &chunk[..n]) {
                Ok(k) => {
                    assert!(k > 0 && k <= n);
                    self.sent += k as u64;
                    self.t.app_sent += k as u64;
                }
                Err(SendError::WouldBlock) => break,
                Err(e) => {
                    assert!(
                        self.failed.is_some(),
                        "send failed ({e:?}) on a connection that did not fail"
                    );
                    return;
                }
            }
        }
        if self.sent == self.total
            && !self.shut
            && self.failed.is_none()
            && self.established
            && self.t.stack.shutdown(c).is_ok()
        {
            self.shut = true;
        }
    }

    /// Reads up to `budget` bytes; returns how many were read.
    fn pump_recv(&mut self, budget: usize) -> usize {
        let Some(c) = self.conn else { return 0 };
        let mut buf = [0u8; 4096];
        let mut got = 0;
        while got < budget && !self.eof {
            let want = (budget - got).min(buf.len());
            match self.t.stack.recv(c, &mut buf[..want]) {
                Ok(0) => {
                    assert_eq!(
                        self.received, self.peer_total,
                        "end of stream before every byte arrived"
                    );
                    self.eof = true;
                }
                Ok(n) => {
                    for (i, b) in buf[..n].iter().enumerate() {
                        let pos = self.received + i as u64;
                        assert!(pos < self.peer_total, "more bytes than the peer sent");
                        assert_eq!(*b, pattern(self.peer_stream, pos), "byte {pos} altered");
                    }
                    self.received += n as u64;
                    self.t.app_received += n as u64;
                    got += n;
                }
                Err(RecvError::WouldBlock | RecvError::NotConnected) => break,
                Err(e) => {
                    assert!(
                        self.failed.is_some(),
                        "recv failed ({e:?}) without a Closed event"
                    );
                    break;
                }
            }
        }
        got
    }

    fn events(&mut self, listener: Option<ListenerId>) {
        while let Some(e) = self.t.stack.poll_event() {
            match e {
                Event::Closed { conn, reason }
                    if Some(conn) == self.conn && reason != CloseReason::Normal =>
                {
                    self.failed = Some(reason);
                }
                Event::Connected { conn } if Some(conn) == self.conn => self.established = true,
                Event::Incoming { listener: l } => {
                    assert_eq!(Some(l), listener, "Incoming on an unknown listener")
                }
                _ => {}
            }
        }
        if let Some(l) = listener {
            while let Some(c) = self.t.stack.accept(l) {
                if self.conn.is_none() {
                    self.conn = Some(c);
                    self.established = true;
                } else {
                    // A stray handshake (an old duplicate SYN): not part of the transfer.
                    self.t.stack.abort(c);
                }
            }
        }
    }

    fn check(&self) {
        if let Some(c) = self.conn {
            if let Some(info) = self.t.stack.info(c) {
                trace!(
                    "  {:?} una {} nxt {} cwnd {} ssthresh {} flight {}",
                    info.state,
                    info.snd_una,
                    info.snd_nxt,
                    info.cwnd,
                    info.ssthresh,
                    info.bytes_in_flight
                );
                check_info(&info, &self.cfg, self.limits);
            }
        }
        self.t.check_stats();
    }
}

/// A packet on the link: arrival time, tie-breaker, destination (0 = A, 1 = B), bytes.
type Flight = Reverse<(Instant, u64, usize, Vec<u8>)>;

struct Link<'a> {
    heap: BinaryHeap<Flight>,
    seq: u64,
    decisions: &'a [u8],
}

impl Link<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.decisions.split_first()?;
        self.decisions = rest;
        Some(b)
    }

    fn lossy(&self) -> bool {
        !self.decisions.is_empty()
    }

    fn put(&mut self, at: Instant, to: usize, p: Vec<u8>) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, to, p)));
    }

    /// Puts a packet sent at `now` towards `to` on the link, as the next decision says.
    fn send(&mut self, now: Instant, to: usize, mut p: Vec<u8>) {
        let at = now + BASE_DELAY;
        let Some(d) = self.byte() else {
            self.put(at, to, p);
            return;
        };
        match d % 32 {
            0..=19 => self.put(at, to, p),
            20..=22 => {}
            23 | 24 => {
                let extra = Duration::from_millis(u64::from(self.byte().unwrap_or(0)));
                self.put(at, to, p.clone());
                self.put(at + extra, to, p);
            }
            25..=28 => {
                let extra = Duration::from_millis(4 * u64::from(self.byte().unwrap_or(0)));
                self.put(at + extra, to, p);
            }
            29 | 30 => {
                let hi = u64::from(self.byte().unwrap_or(0));
                let lo = u64::from(self.byte().unwrap_or(0));
                let bit = ((hi << 8) | lo) % (p.len() as u64 * 8);
                p[(bit / 8) as usize] ^= 1 << (bit % 8);
                self.put(at, to, p);
            }
            _ => self.put(at + Duration::from_millis(1500), to, p),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (head, decisions) = data.split_at(data.len().min(SETUP_LEN));
    let (s, _) = decode::<Setup>(head);
    run(s, decisions);
});

fn stack_config(addrs: [IpAddr; 2], seed: u64, s: Setup, side: usize) -> StackConfig {
    let mut cfg = StackConfig::new(addrs.to_vec(), [seed as u8; 16], seed);
    cfg.mtu = [1500, 1280, 9000, 1400][usize::from(s.mtu >> (2 * side)) % 4];
    let b = s.buffers >> (4 * side);
    cfg.send_buffer = [256 * 1024, 4096, 1000, 65_536][usize::from(b & 3)];
    cfg.recv_buffer = [256 * 1024, 2048, 65_535, 700][usize::from((b >> 2) & 3)];
    cfg.nagle = s.flags & (2 << side) == 0;
    if s.flags & 8 != 0 {
        cfg.delayed_ack = Duration::ZERO;
    }
    apply_features(&mut cfg, s.features >> (4 * side));
    apply_algorithms(&mut cfg, s.algorithms >> (4 * side));
    cfg.msl = Duration::from_secs(5);
    cfg
}

fn run(s: Setup, decisions: &[u8]) {
    let v6 = s.flags & 1 != 0;
    let a_addrs = [
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
    ];
    let b_addrs = [
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
    ];
    let read = [usize::MAX, 7, 100, 1000, 3000, usize::MAX, 536, 20_000][usize::from(s.read % 8)];
    // Small reads move little per event: keep the streams in proportion.
    let cap = read.saturating_mul(64).min(65_535) as u64;
    let (a_total, b_total) = (u64::from(s.a_bytes).min(cap), u64::from(s.b_bytes).min(cap));
    let mk = |addrs, seed, side| {
        let cfg = stack_config(addrs, seed, s, side);
        let limits = Limits {
            send_buffer: cfg.send_buffer,
            recv_buffer: cfg.recv_buffer,
        };
        End {
            t: Tracker::new(cfg.clone()),
            cfg,
            conn: None,
            limits,
            stream: 0,
            total: 0,
            sent: 0,
            shut: false,
            peer_stream: 0,
            peer_total: 0,
            received: 0,
            eof: false,
            failed: None,
            established: false,
        }
    };
    let mut a = mk(a_addrs, 1, 0);
    let mut b = mk(b_addrs, 2, 1);
    (a.stream, a.total, a.peer_stream, a.peer_total) = (1, a_total, 2, b_total);
    (b.stream, b.total, b.peer_stream, b.peer_total) = (2, b_total, 1, a_total);

    let server = SocketAddr::new(b_addrs[usize::from(v6)], 80);
    let listener =
        b.t.stack
            .listen(server, ListenOptions::default())
            .expect("listen");
    let mut now = Instant::from_secs(1);
    a.conn = Some(
        a.t.stack
            .connect(now, server, ConnectOptions::default())
            .expect("connect"),
    );

    let mut link = Link {
        heap: BinaryHeap::new(),
        seq: 0,
        decisions,
    };
    let mut ideal_since: Option<Instant> = None;
    let start = now;
    let mut natural_end = false;
    for _ in 0..MAX_STEPS {
        // Applications, after the events of the last step.
        a.events(None);
        b.events(Some(listener));
        let mut moved = 0;
        for end in [&mut a, &mut b] {
            end.pump_send();
            moved += end.pump_recv(read);
        }
        // Stacks to link.
        for (from, end) in [&mut a, &mut b].into_iter().enumerate() {
            let mut out = Vec::new();
            end.t.drain(now, |p, _| out.push(p.to_vec()));
            for p in out {
                trace!("{now} {} sends {}", ["A", "B"][from], summary(&p));
                link.send(now, 1 - from, p);
            }
        }
        a.events(None);
        b.events(Some(listener));
        a.check();
        b.check();
        if ideal_since.is_none() && !link.lossy() {
            ideal_since = Some(now);
        }
        let done = a.eof && b.eof;
        if done && link.heap.is_empty() {
            natural_end = true;
            break;
        }
        if moved > 0 {
            continue;
        }
        // Next event: an arrival or a timer.
        let next = [
            link.heap.peek().map(|Reverse(f)| f.0),
            a.t.stack.poll_timeout(),
            b.t.stack.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else {
            natural_end = true;
            break;
        };
        now = now.max(next);
        match ideal_since {
            Some(t) if now > t + IDEAL_LIMIT => {
                natural_end = true;
                break;
            }
            None if now > start + LOSSY_LIMIT => break,
            _ => {}
        }
        while link.heap.peek().is_some_and(|Reverse(f)| f.0 <= now) {
            let Some(Reverse((_, _, to, p))) = link.heap.pop() else {
                break;
            };
            let r = if to == 0 {
                a.t.feed(now, &p)
            } else {
                b.t.feed(now, &p)
            };
            trace!("{now} {} gets {}: {r:?}", ["A", "B"][to], summary(&p));
        }
        for end in [&mut a, &mut b] {
            if end.t.stack.poll_timeout().is_some_and(|t| t <= now) {
                end.t.timeout(now);
            }
        }
    }
    trace!(
        "end at {now} (natural {natural_end}): A got {}/{} eof {} failed {:?}; B got {}/{} eof {} failed {:?}",
        a.received,
        a.peer_total,
        a.eof,
        a.failed,
        b.received,
        b.peer_total,
        b.eof,
        b.failed
    );
    if !natural_end || a.failed.is_some() || b.failed.is_some() {
        return;
    }
    assert!(
        a.eof && b.eof,
        "transfer stalled on a clean connection by {now}: A got {}/{} (eof {}), B got {}/{} (eof {}); A {:?}; B {:?}",
        a.received,
        a.peer_total,
        a.eof,
        b.received,
        b.peer_total,
        b.eof,
        a.conn.and_then(|c| a.t.stack.info(c)),
        b.conn.and_then(|c| b.t.stack.info(c)),
    );
}
