//! Shared helpers for the integration tests: two stacks on a simulated link, and a
//! deterministic payload generator.
#![allow(dead_code)]

use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use sanstcp::sim::{LinkConfig, NodeId, Sim};
use sanstcp::{
    ConnId, ConnectOptions, Event, Instant, ListenOptions, ListenerId, Stack, StackConfig,
};

pub const A_IP: &str = "10.0.0.1";
pub const B_IP: &str = "10.0.0.2";

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn config(addr: &str, seed: u64) -> StackConfig {
    StackConfig::new(vec![ip(addr)], [seed as u8; 16], seed)
}

/// The byte at position `i` of the test stream `stream`.
pub fn pattern(stream: u64, i: u64) -> u8 {
    let x = (i ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0x2545_f491_4f6c_dd1d);
    (x >> 29) as u8
}

/// Two stacks, A (client side) and B (server side), joined by one link.
pub struct Pair {
    pub sim: Sim,
    pub a: NodeId,
    pub b: NodeId,
}

impl Pair {
    pub fn new(seed: u64, a_cfg: StackConfig, b_cfg: StackConfig, link: LinkConfig) -> Pair {
        Self::with_links(seed, a_cfg, b_cfg, link, link)
    }

    pub fn with_links(
        seed: u64,
        a_cfg: StackConfig,
        b_cfg: StackConfig,
        ab: LinkConfig,
        ba: LinkConfig,
    ) -> Pair {
        let mut sim = Sim::new(seed);
        let a = sim.add_node(Box::new(Stack::new(a_cfg).unwrap()));
        let b = sim.add_node(Box::new(Stack::new(b_cfg).unwrap()));
        sim.connect(a, b, ab, ba);
        Pair { sim, a, b }
    }

    pub fn ideal(seed: u64) -> Pair {
        Pair::new(
            seed,
            config(A_IP, 1),
            config(B_IP, 2),
            LinkConfig::ideal().with_delay(Duration::from_millis(5)),
        )
    }

    pub fn sa(&mut self) -> &mut Stack {
        self.sim.node_mut::<Stack>(self.a)
    }
    pub fn sb(&mut self) -> &mut Stack {
        self.sim.node_mut::<Stack>(self.b)
    }
    pub fn now(&self) -> Instant {
        self.sim.now()
    }

    /// Runs until `done` or `secs` of virtual time pass; panics on timeout.
    pub fn run(&mut self, secs: u64, mut done: impl FnMut(&mut Pair) -> bool) {
        let limit = self.sim.now() + Duration::from_secs(secs);
        for _ in 0..50_000_000u64 {
            if done(self) {
                return;
            }
            if !self.sim.step(limit) {
                assert!(done(self), "condition not met by {}", self.sim.now());
                return;
            }
        }
        panic!("step budget exhausted");
    }

    /// Listens on B port 80, connects from A, and runs until both ends are established.
    pub fn connect(&mut self, opts: ConnectOptions) -> (ListenerId, ConnId, ConnId) {
        let server: SocketAddr = SocketAddr::new(ip(B_IP), 80);
        let l = self.sb().listen(server, ListenOptions::default()).unwrap();
        let now = self.now();
        let ca = self.sa().connect(now, server, opts).unwrap();
        let mut cb = None;
        self.run(30, |p| {
            if cb.is_none() {
                cb = p.sb().accept(l);
            }
            cb.is_some()
                && p.sa()
                    .info(ca)
                    .is_some_and(|i| i.state == sanstcp::TcpState::Established)
        });
        (l, ca, cb.unwrap())
    }
}

/// Drains events of one stack into a vector.
pub fn events(s: &mut Stack) -> Vec<Event> {
    let mut v = Vec::new();
    while let Some(e) = s.poll_event() {
        v.push(e);
    }
    v
}

/// Moves `total` bytes of stream `stream` from `tx` on stack `from` to `rx` on stack `to`
/// (either direction, both at once if called with both), checking every byte.
pub struct Transfer {
    pub total: u64,
    pub sent: u64,
    pub received: u64,
    pub stream: u64,
    pub eof_seen: bool,
    pub close_after: bool,
    pub closed: bool,
}

impl Transfer {
    pub fn new(total: u64, stream: u64) -> Transfer {
        Transfer {
            total,
            sent: 0,
            received: 0,
            stream,
            eof_seen: false,
            close_after: true,
            closed: false,
        }
    }

    /// Pushes as much as the send buffer takes; shuts down writing at the end.
    pub fn pump_send(&mut self, s: &mut Stack, c: ConnId, _now: Instant) {
        let mut chunk = [0u8; 16384];
        while self.sent < self.total {
            let n = (self.total - self.sent).min(chunk.len() as u64) as usize;
            for (i, b) in chunk[..n].iter_mut().enumerate() {
                *b = pattern(self.stream, self.sent + i as u64);
            }
            match s.send(c, &chunk[..n]) {
                Ok(k) => self.sent += k as u64,
                Err(sanstcp::SendError::WouldBlock) => break,
                Err(e) => panic!("send failed: {e}"),
            }
        }
        if self.sent == self.total && self.close_after && !self.closed {
            s.shutdown(c).unwrap();
            self.closed = true;
        }
    }

    /// Reads everything available, checking it against the pattern (see [`Receiver::pump`]).
    pub fn pump_recv(&mut self, s: &mut Stack, c: ConnId) {
        let mut rx = Receiver {
            stream: self.stream,
            received: self.received,
            eof: self.eof_seen,
        };
        if let Err(e) = rx.pump(s, c) {
            panic!("recv failed: {e}");
        }
        self.received = rx.received;
        self.eof_seen = rx.eof;
    }
}

// ---- additions for the simulator tests (sim_transfer, sim_many, sim_close, determinism,
// bad_input) --------------------------------------------------------------------------------

pub const A_IP6: &str = "fd00::1";
pub const B_IP6: &str = "fd00::2";

impl Pair {
    /// Listens on `server` (a B address), connects from A, and runs until both ends are
    /// established. Returns (listener, client id on A, server id on B).
    pub fn connect_to(
        &mut self,
        server: SocketAddr,
        opts: ConnectOptions,
    ) -> (ListenerId, ConnId, ConnId) {
        let l = self.sb().listen(server, ListenOptions::default()).unwrap();
        let now = self.now();
        let ca = self.sa().connect(now, server, opts).unwrap();
        let mut cb = None;
        self.run(60, |p| {
            if cb.is_none() {
                cb = p.sb().accept(l);
            }
            cb.is_some()
                && p.sa()
                    .info(ca)
                    .is_some_and(|i| i.state == sanstcp::TcpState::Established)
        });
        (l, ca, cb.unwrap())
    }
}

/// Sends `total` bytes of pattern stream `stream`, keeping the not yet accepted part of the
/// current chunk between calls so that a full send buffer costs nothing to retry.
pub struct Sender {
    pub stream: u64,
    pub total: u64,
    /// Bytes the stack has taken.
    pub sent: u64,
    /// Call `shutdown` once everything was taken.
    pub shutdown_at_end: bool,
    /// `shutdown` was called.
    pub shut: bool,
    chunk: Vec<u8>,
    chunk_start: u64,
}

impl Sender {
    pub fn new(total: u64, stream: u64) -> Sender {
        Sender {
            stream,
            total,
            sent: 0,
            shutdown_at_end: true,
            shut: false,
            chunk: Vec::new(),
            chunk_start: 0,
        }
    }

    /// Whether every byte was handed to the stack.
    pub fn all_sent(&self) -> bool {
        self.sent == self.total
    }

    /// Pushes as much as the send buffer takes; shuts down writing at the end if asked to.
    /// A fatal send error is returned.
    pub fn pump(&mut self, s: &mut Stack, c: ConnId) -> Result<(), sanstcp::SendError> {
        for _ in 0..1_000_000 {
            if self.sent >= self.total {
                break;
            }
            let off = (self.sent - self.chunk_start) as usize;
            if off >= self.chunk.len() {
                let n = (self.total - self.sent).min(64 * 1024);
                let start = self.sent;
                self.chunk.clear();
                self.chunk
                    .extend((0..n).map(|i| pattern(self.stream, start + i)));
                self.chunk_start = start;
                continue;
            }
            match s.send(c, &self.chunk[off..]) {
                Ok(k) => self.sent += k as u64,
                Err(sanstcp::SendError::WouldBlock) => break,
                Err(e) => return Err(e),
            }
        }
        if self.all_sent() && self.shutdown_at_end && !self.shut {
            s.shutdown(c).map_err(|_| sanstcp::SendError::Closed)?;
            self.shut = true;
        }
        Ok(())
    }
}

/// Reads pattern stream `stream`, checking every byte.
pub struct Receiver {
    pub stream: u64,
    pub received: u64,
    pub eof: bool,
}

impl Receiver {
    pub fn new(stream: u64) -> Receiver {
        Receiver {
            stream,
            received: 0,
            eof: false,
        }
    }

    /// Reads everything available; panics on a byte that differs from the pattern. A fatal
    /// receive error is returned (the bytes before it were checked).
    pub fn pump(&mut self, s: &mut Stack, c: ConnId) -> Result<(), sanstcp::RecvError> {
        let mut buf = [0u8; 16384];
        for _ in 0..1_000_000 {
            match s.recv(c, &mut buf) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    for (i, b) in buf[..n].iter().enumerate() {
                        let pos = self.received + i as u64;
                        assert_eq!(
                            *b,
                            pattern(self.stream, pos),
                            "byte {pos} of stream {} differs",
                            self.stream
                        );
                    }
                    self.received += n as u64;
                }
                Err(sanstcp::RecvError::WouldBlock) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
