//! Every way a connection ends, end to end over the simulator: the events each side sees,
//! the states each side passes through (RFC 9293 §3.6), who holds TIME-WAIT and for how
//! long, and what goes on the wire.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::*;
use sanstcp::sim::{CaptureKind, LinkConfig, NodeId};
use sanstcp::{
    CloseReason, ConnId, ConnectOptions, Event, Instant, ListenerId, RecvError, SendError, Stack,
    StateError, TcpState,
};

const MSL: Duration = Duration::from_secs(2);
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;

/// The TCP flags byte of an IPv4 or IPv6 packet carrying TCP.
fn tcp_flags(packet: &[u8]) -> Option<u8> {
    let tcp_start = match packet.first()? >> 4 {
        4 => usize::from(packet[0] & 0x0f) * 4,
        6 => 40,
        _ => return None,
    };
    packet.get(tcp_start + 13).copied()
}

type Wire = Rc<RefCell<Vec<(Instant, NodeId, u8)>>>;

/// Two established stacks with every event (state changes included) logged with its time,
/// and every TCP segment put on the wire logged with its sender and flags.
struct Harness {
    p: Pair,
    l: ListenerId,
    ca: ConnId,
    cb: ConnId,
    log_a: Vec<(Instant, Event)>,
    log_b: Vec<(Instant, Event)>,
    wire: Wire,
}

impl Harness {
    fn new(seed: u64) -> Harness {
        let mut a_cfg = config(A_IP, 1);
        let mut b_cfg = config(B_IP, 2);
        for c in [&mut a_cfg, &mut b_cfg] {
            c.report_state_changes = true;
            c.msl = MSL;
        }
        let link = LinkConfig::ideal().with_delay(Duration::from_millis(5));
        let mut p = Pair::new(seed, a_cfg, b_cfg, link);
        let wire: Wire = Rc::default();
        let w = wire.clone();
        p.sim
            .set_capture(Some(Box::new(move |t, from, _to, kind, bytes| {
                if kind == CaptureKind::Sent {
                    if let Some(f) = tcp_flags(bytes) {
                        w.borrow_mut().push((t, from, f));
                    }
                }
            })));
        let (l, ca, cb) = p.connect(ConnectOptions::default());
        let mut h = Harness {
            p,
            l,
            ca,
            cb,
            log_a: Vec::new(),
            log_b: Vec::new(),
            wire,
        };
        h.drain();
        h
    }

    fn drain(&mut self) {
        let now = self.p.now();
        while let Some(e) = self.p.sa().poll_event() {
            self.log_a.push((now, e));
        }
        while let Some(e) = self.p.sb().poll_event() {
            self.log_b.push((now, e));
        }
    }

    /// Steps until `done` (checked with the logs up to date) or `secs` pass; panics then.
    fn run(&mut self, secs: u64, what: &str, mut done: impl FnMut(&mut Harness) -> bool) {
        let limit = self.p.now() + Duration::from_secs(secs);
        for _ in 0..10_000_000u32 {
            self.drain();
            if done(self) {
                return;
            }
            if !self.p.sim.step(limit) {
                self.drain();
                assert!(done(self), "{what}: not reached by {}", self.p.now());
                return;
            }
        }
        panic!("{what}: step budget exhausted");
    }

    /// Lets `d` of virtual time pass.
    fn idle(&mut self, d: Duration) {
        let until = self.p.now() + d;
        for _ in 0..10_000_000u32 {
            let more = self.p.sim.step(until);
            // Log each step's events with the time they happened.
            self.drain();
            if !more {
                break;
            }
        }
        assert!(self.p.sim.advance_to(until));
        self.drain();
    }

    /// Segments sent by `node` with any of `flags` set.
    fn sent_with(&self, node: NodeId, flags: u8) -> usize {
        self.wire
            .borrow()
            .iter()
            .filter(|(_, n, f)| *n == node && f & flags != 0)
            .count()
    }
}

/// The states `c` moved to, in order.
fn states(log: &[(Instant, Event)], c: ConnId) -> Vec<TcpState> {
    log.iter()
        .filter_map(|(_, e)| match *e {
            Event::StateChanged { conn, to, .. } if conn == c => Some(to),
            _ => None,
        })
        .collect()
}

/// The application-level events of `c` (and the listener's `Incoming`), in order.
fn app_events(log: &[(Instant, Event)], c: ConnId) -> Vec<Event> {
    log.iter()
        .map(|(_, e)| *e)
        .filter(|e| match *e {
            Event::StateChanged { .. } => false,
            Event::Incoming { .. } => true,
            Event::Connected { conn }
            | Event::Readable { conn }
            | Event::Writable { conn }
            | Event::PeerClosed { conn }
            | Event::Closed { conn, .. } => conn == c,
        })
        .collect()
}

/// When `c` entered `state`, if it did.
fn entered(log: &[(Instant, Event)], c: ConnId, state: TcpState) -> Option<Instant> {
    log.iter().find_map(|(t, e)| match *e {
        Event::StateChanged { conn, to, .. } if conn == c && to == state => Some(*t),
        _ => None,
    })
}

/// When `c` reported `Closed`, if it did.
fn closed_at(log: &[(Instant, Event)], c: ConnId) -> Option<Instant> {
    log.iter().find_map(|(t, e)| match *e {
        Event::Closed { conn, .. } if conn == c => Some(*t),
        _ => None,
    })
}

fn read_all(s: &mut Stack, c: ConnId) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.recv(c, &mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(RecvError::WouldBlock) => return (out, false),
            Err(e) => panic!("recv: {e}"),
        }
    }
}

/// Shared tail of the one-sided graceful closes: the closer (`x`) ends in TIME-WAIT for
/// 2·MSL, the other side (`y`) passes CLOSE-WAIT and LAST-ACK and is freed at once.
fn one_sided_close(client_first: bool) {
    let mut h = Harness::new(if client_first { 1 } else { 2 });
    let (ca, cb) = (h.ca, h.cb);
    // A little data each way first.
    assert_eq!(h.p.sa().send(ca, b"ping").unwrap(), 4);
    assert_eq!(h.p.sb().send(cb, b"pong!").unwrap(), 5);
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    h.run(5, "data exchanged", |h| {
        got_a.extend(read_all(h.p.sa(), ca).0);
        got_b.extend(read_all(h.p.sb(), cb).0);
        got_a.len() == 5 && got_b.len() == 4
    });
    assert_eq!((&got_a[..], &got_b[..]), (&b"pong!"[..], &b"ping"[..]));

    // The active closer calls close(); the other reads end of stream, then closes too.
    let close_at = h.p.now();
    if client_first {
        h.p.sa().close(ca);
        assert!(h.p.sa().info(ca).is_none(), "the id is stale after close");
    } else {
        h.p.sb().close(cb);
        assert!(h.p.sb().info(cb).is_none(), "the id is stale after close");
    }
    let passive_conn = if client_first { cb } else { ca };
    h.run(5, "passive side sees end of stream", |h| {
        let s = if client_first { h.p.sb() } else { h.p.sa() };
        read_all(s, passive_conn).1
    });
    {
        let s = if client_first { h.p.sb() } else { h.p.sa() };
        assert_eq!(s.info(passive_conn).unwrap().state, TcpState::CloseWait);
        s.close(passive_conn);
    }
    // The active closer: FIN-WAIT-2 is left for TIME-WAIT when the peer's FIN comes.
    h.run(5, "passive side freed", |h| {
        let s = if client_first { h.p.sb() } else { h.p.sa() };
        s.connection_count() == 0
    });
    let (log_x, log_y, x, y, sx, sy) = if client_first {
        (&h.log_a, &h.log_b, ca, cb, h.p.a, h.p.b)
    } else {
        (&h.log_b, &h.log_a, cb, ca, h.p.b, h.p.a)
    };
    let tw = entered(log_x, x, TcpState::TimeWait).expect("the active closer enters TIME-WAIT");
    assert!(tw > close_at);
    assert_eq!(
        entered(log_y, y, TcpState::TimeWait),
        None,
        "TIME-WAIT only on the active closer"
    );
    let (x_states, y_states) = (states(log_x, x), states(log_y, y));
    let opening_x: &[TcpState] = if client_first {
        &[TcpState::SynSent, TcpState::Established]
    } else {
        &[TcpState::SynReceived, TcpState::Established]
    };
    let opening_y: &[TcpState] = if client_first {
        &[TcpState::SynReceived, TcpState::Established]
    } else {
        &[TcpState::SynSent, TcpState::Established]
    };
    assert_eq!(&x_states[..2], opening_x);
    assert_eq!(&y_states[..2], opening_y);
    assert_eq!(
        &x_states[2..],
        &[TcpState::FinWait1, TcpState::FinWait2, TcpState::TimeWait]
    );
    assert_eq!(
        &y_states[2..],
        &[TcpState::CloseWait, TcpState::LastAck, TcpState::Closed]
    );
    // The active closer is held (in TIME-WAIT) after the other side is gone.
    let (cx, cy) = if client_first {
        (h.p.sa().connection_count(), h.p.sb().connection_count())
    } else {
        (h.p.sb().connection_count(), h.p.sa().connection_count())
    };
    assert_eq!((cx, cy), (1, 0));

    // TIME-WAIT lasts 2·MSL, then the connection is freed with Closed{Normal}.
    h.idle(2 * MSL - Duration::from_millis(100));
    let log_x = if client_first { &h.log_a } else { &h.log_b };
    assert_eq!(closed_at(log_x, x), None, "TIME-WAIT ended early");
    h.idle(Duration::from_millis(200));
    let (log_x, log_y) = if client_first {
        (&h.log_a, &h.log_b)
    } else {
        (&h.log_b, &h.log_a)
    };
    let done = closed_at(log_x, x).expect("TIME-WAIT ended");
    assert_eq!(done - tw, 2 * MSL, "TIME-WAIT lasts exactly 2*MSL");
    assert_eq!(states(log_x, x).last(), Some(&TcpState::Closed));
    assert_eq!(h.p.sa().connection_count() + h.p.sb().connection_count(), 0);
    assert_eq!(h.p.sa().poll_timeout(), None);
    assert_eq!(h.p.sb().poll_timeout(), None);

    // The application events: the passive side reads the data, then end of stream; the
    // active side also sees the peer's FIN arrive (in FIN-WAIT-2).
    let listener = Event::Incoming { listener: h.l };
    let client_open = [Event::Connected { conn: ca }, Event::Readable { conn: ca }];
    let server_open = [listener, Event::Readable { conn: cb }];
    let ex = app_events(log_x, x);
    let ey = app_events(log_y, y);
    let (open_x, open_y) = if client_first {
        (&client_open, &server_open)
    } else {
        (&server_open, &client_open)
    };
    assert_eq!(&ex[..2], open_x);
    assert_eq!(&ey[..2], open_y);
    assert_eq!(
        &ex[2..],
        &[
            Event::PeerClosed { conn: x },
            Event::Closed {
                conn: x,
                reason: CloseReason::Normal
            }
        ]
    );
    assert_eq!(
        &ey[2..],
        &[
            Event::PeerClosed { conn: y },
            Event::Closed {
                conn: y,
                reason: CloseReason::Normal
            }
        ]
    );

    // On the wire: one FIN each way (an ideal link needs no retransmission), no RST.
    assert_eq!(h.sent_with(sx, FIN), 1);
    assert_eq!(h.sent_with(sy, FIN), 1);
    assert_eq!(h.sent_with(sx, RST) + h.sent_with(sy, RST), 0);
    assert_eq!(h.sent_with(h.p.a, SYN), 1);
}

#[test]
fn active_close_by_client() {
    one_sided_close(true);
}

#[test]
fn active_close_by_server() {
    one_sided_close(false);
}

#[test]
fn simultaneous_close() {
    let mut h = Harness::new(3);
    let (ca, cb) = (h.ca, h.cb);
    // Same virtual instant: no step between the two calls.
    let t = h.p.now();
    h.p.sa().close(ca);
    h.p.sb().close(cb);
    assert_eq!(h.p.now(), t);
    h.run(5, "both in TIME-WAIT", |h| {
        entered(&h.log_a, ca, TcpState::TimeWait).is_some()
            && entered(&h.log_b, cb, TcpState::TimeWait).is_some()
    });
    // RFC 9293 figure 13: FIN-WAIT-1 -> CLOSING -> TIME-WAIT on both sides.
    let expected = [
        TcpState::Established,
        TcpState::FinWait1,
        TcpState::Closing,
        TcpState::TimeWait,
    ];
    assert_eq!(&states(&h.log_a, ca)[1..], &expected);
    assert_eq!(&states(&h.log_b, cb)[1..], &expected);
    let tw_a = entered(&h.log_a, ca, TcpState::TimeWait).unwrap();
    let tw_b = entered(&h.log_b, cb, TcpState::TimeWait).unwrap();
    assert_eq!(tw_a, tw_b, "symmetric link, symmetric close");
    assert_eq!(
        (h.p.sa().connection_count(), h.p.sb().connection_count()),
        (1, 1)
    );

    h.idle(2 * MSL + Duration::from_millis(1));
    assert_eq!(closed_at(&h.log_a, ca).unwrap() - tw_a, 2 * MSL);
    assert_eq!(closed_at(&h.log_b, cb).unwrap() - tw_b, 2 * MSL);
    assert_eq!(
        (h.p.sa().connection_count(), h.p.sb().connection_count()),
        (0, 0)
    );
    assert_eq!(
        app_events(&h.log_a, ca),
        [
            Event::Connected { conn: ca },
            Event::PeerClosed { conn: ca },
            Event::Closed {
                conn: ca,
                reason: CloseReason::Normal
            }
        ]
    );
    assert_eq!(
        app_events(&h.log_b, cb),
        [
            Event::Incoming { listener: h.l },
            Event::PeerClosed { conn: cb },
            Event::Closed {
                conn: cb,
                reason: CloseReason::Normal
            }
        ]
    );
    assert_eq!(h.sent_with(h.p.a, FIN), 1);
    assert_eq!(h.sent_with(h.p.b, FIN), 1);
    assert_eq!(h.sent_with(h.p.a, RST) + h.sent_with(h.p.b, RST), 0);
}

#[test]
fn half_close_then_peer_sends_a_mebibyte() {
    let mut h = Harness::new(4);
    let (ca, cb) = (h.ca, h.cb);
    const REQUEST: u64 = 10_000;
    const ANSWER: u64 = 1 << 20;
    let mut req = Sender::new(REQUEST, 41);
    let mut req_rx = Receiver::new(41);
    h.run(10, "request sent and shut down", |h| {
        req.pump(h.p.sa(), ca).unwrap();
        req_rx.pump(h.p.sb(), cb).unwrap();
        req_rx.eof
    });
    assert_eq!(req_rx.received, REQUEST);
    h.run(5, "FIN acknowledged", |h| {
        h.p.sa().info(ca).unwrap().state == TcpState::FinWait2
    });
    assert_eq!(
        h.p.sa().send(ca, b"more"),
        Err(SendError::Closed),
        "no sending after shutdown"
    );
    assert_eq!(h.p.sa().shutdown(ca), Err(StateError::AlreadyShutdown));
    assert_eq!(h.p.sa().info(ca).unwrap().state, TcpState::FinWait2);
    assert_eq!(h.p.sb().info(cb).unwrap().state, TcpState::CloseWait);

    // The server answers with 1 MiB after the client's FIN, then closes.
    let mut ans = Sender::new(ANSWER, 42);
    ans.shutdown_at_end = false;
    let mut ans_rx = Receiver::new(42);
    let mut server_closed = false;
    let mut fin_wait_2_reads = 0u32;
    h.run(60, "answer delivered", |h| {
        if !server_closed {
            ans.pump(h.p.sb(), cb).unwrap();
            if ans.all_sent() {
                h.p.sb().close(cb);
                server_closed = true;
            }
        }
        let before = ans_rx.received;
        ans_rx.pump(h.p.sa(), ca).unwrap();
        if ans_rx.received > before && !ans_rx.eof {
            let st = h.p.sa().info(ca).unwrap().state;
            assert_eq!(
                st,
                TcpState::FinWait2,
                "the half-closed client keeps receiving"
            );
            fin_wait_2_reads += 1;
        }
        ans_rx.eof
    });
    assert_eq!(ans_rx.received, ANSWER);
    assert!(
        fin_wait_2_reads > 10,
        "data flowed for a while in FIN-WAIT-2"
    );
    assert_eq!(h.p.sa().info(ca).unwrap().state, TcpState::TimeWait);
    h.run(5, "server freed", |h| h.p.sb().connection_count() == 0);

    let expected_a = [
        TcpState::SynSent,
        TcpState::Established,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::TimeWait,
    ];
    assert_eq!(states(&h.log_a, ca), expected_a);
    let expected_b = [
        TcpState::SynReceived,
        TcpState::Established,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Closed,
    ];
    assert_eq!(states(&h.log_b, cb), expected_b);
    let ev_b = app_events(&h.log_b, cb);
    assert_eq!(ev_b.first(), Some(&Event::Incoming { listener: h.l }));
    assert_eq!(
        ev_b.last(),
        Some(&Event::Closed {
            conn: cb,
            reason: CloseReason::Normal
        })
    );
    let peer_closed_b = ev_b
        .iter()
        .position(|e| *e == Event::PeerClosed { conn: cb })
        .unwrap();
    assert!(ev_b[1..peer_closed_b]
        .iter()
        .all(|e| *e == Event::Readable { conn: cb }));
    let ev_a = app_events(&h.log_a, ca);
    assert_eq!(ev_a.first(), Some(&Event::Connected { conn: ca }));
    assert_eq!(ev_a.last(), Some(&Event::PeerClosed { conn: ca }));

    // The client kept its id: after TIME-WAIT it reads as closed, normally, until released.
    h.idle(2 * MSL + Duration::from_millis(1));
    assert_eq!(
        app_events(&h.log_a, ca).last(),
        Some(&Event::Closed {
            conn: ca,
            reason: CloseReason::Normal
        })
    );
    let info = h.p.sa().info(ca).expect("still held by the application");
    assert_eq!(info.state, TcpState::Closed);
    assert_eq!(h.p.sa().recv(ca, &mut [0u8; 8]), Ok(0));
    assert_eq!(h.p.sa().connection_count(), 1);
    h.p.sa().close(ca);
    assert_eq!(h.p.sa().connection_count(), 0);
    assert!(h.p.sa().info(ca).is_none());
    assert_eq!(h.sent_with(h.p.a, RST) + h.sent_with(h.p.b, RST), 0);
}

#[test]
fn abort_resets_the_peer_and_the_error_is_sticky() {
    let mut h = Harness::new(5);
    let (ca, cb) = (h.ca, h.cb);
    // Some data in flight from the client, unread at the server, when the client aborts.
    assert_eq!(h.p.sa().send(ca, &[7u8; 3000]).unwrap(), 3000);
    let wire_before = h.wire.borrow().len();
    h.p.sa().abort(ca);
    assert!(h.p.sa().info(ca).is_none(), "the id is stale after abort");
    assert_eq!(h.p.sa().send(ca, b"x"), Err(SendError::InvalidConnection));
    assert_eq!(
        h.p.sa().recv(ca, &mut [0u8; 4]),
        Err(RecvError::InvalidConnection)
    );

    h.run(5, "server sees the reset", |h| {
        closed_at(&h.log_b, cb).is_some()
    });
    assert_eq!(
        app_events(&h.log_b, cb),
        [
            Event::Incoming { listener: h.l },
            Event::Closed {
                conn: cb,
                reason: CloseReason::Reset
            }
        ]
    );
    assert_eq!(
        app_events(&h.log_a, ca),
        [
            Event::Connected { conn: ca },
            Event::Closed {
                conn: ca,
                reason: CloseReason::Aborted
            }
        ]
    );
    let s = h.p.sb();
    for _ in 0..3 {
        assert_eq!(s.recv(cb, &mut [0u8; 16]), Err(RecvError::Reset), "sticky");
        assert_eq!(s.send(cb, b"late"), Err(SendError::Reset), "sticky");
    }
    assert_eq!(s.shutdown(cb), Err(StateError::Failed));
    assert_eq!(s.info(cb).unwrap().state, TcpState::Closed);
    assert_eq!(s.stats().estab_resets, 1);
    assert_eq!(states(&h.log_b, cb).last(), Some(&TcpState::Closed));
    assert_eq!(states(&h.log_a, ca).last(), Some(&TcpState::Closed));
    assert!(!states(&h.log_a, ca).contains(&TcpState::TimeWait));
    // The tombstone stays until the application releases it; the client is already gone.
    assert_eq!(h.p.sa().connection_count(), 0);
    assert_eq!(h.p.sb().connection_count(), 1);
    h.p.sb().close(cb);
    assert_eq!(h.p.sb().connection_count(), 0);
    // The first thing the client sent after abort() is the RST (a later one may answer a
    // segment the server had in flight for the connection that no longer exists).
    let first_after = h.wire.borrow()[wire_before..]
        .iter()
        .find(|(_, n, _)| *n == h.p.a)
        .map(|w| w.2);
    assert_eq!(first_after, Some(RST));
    assert_eq!(
        h.sent_with(h.p.a, FIN) + h.sent_with(h.p.b, FIN) + h.sent_with(h.p.b, RST),
        0
    );
    // Nothing left running: no retransmission of the aborted data, no timers.
    let sent_before = h.wire.borrow().len();
    h.idle(Duration::from_secs(10));
    assert_eq!(h.wire.borrow().len(), sent_before);
    assert_eq!(h.p.sa().poll_timeout(), None);
    assert_eq!(h.p.sb().poll_timeout(), None);
}

#[test]
fn close_with_unread_data_sends_rst() {
    let mut h = Harness::new(6);
    let (ca, cb) = (h.ca, h.cb);
    assert_eq!(h.p.sb().send(cb, &[9u8; 1000]).unwrap(), 1000);
    h.run(5, "client has unread data", |h| {
        h.p.sa().info(ca).unwrap().recv_queued == 1000
    });
    // RFC 2525 §2.17: closing with unread data resets instead of sending FIN.
    h.p.sa().close(ca);
    h.run(5, "server sees the reset", |h| {
        closed_at(&h.log_b, cb).is_some()
    });
    assert_eq!(
        app_events(&h.log_a, ca),
        [
            Event::Connected { conn: ca },
            Event::Readable { conn: ca },
            Event::Closed {
                conn: ca,
                reason: CloseReason::Aborted
            }
        ]
    );
    assert_eq!(
        app_events(&h.log_b, cb),
        [
            Event::Incoming { listener: h.l },
            Event::Closed {
                conn: cb,
                reason: CloseReason::Reset
            }
        ]
    );
    assert_eq!(h.p.sb().recv(cb, &mut [0u8; 16]), Err(RecvError::Reset));
    assert_eq!(h.p.sb().recv(cb, &mut [0u8; 16]), Err(RecvError::Reset));
    assert!(h.sent_with(h.p.a, RST) >= 1);
    assert_eq!(h.sent_with(h.p.a, FIN), 0, "no FIN, a RST");
    assert_eq!(h.p.sa().connection_count(), 0);
    h.p.sb().close(cb);
    assert_eq!(h.p.sb().connection_count(), 0);
    assert!(!states(&h.log_a, ca).contains(&TcpState::TimeWait));
    assert!(!states(&h.log_b, cb).contains(&TcpState::TimeWait));
}
