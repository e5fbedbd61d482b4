//! Many connections at once through one listener: every one carries its own payload both
//! ways and closes, and nothing is left behind once TIME-WAIT has passed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use sanstcp::sim::LinkConfig;
use sanstcp::{CloseReason, ConnId, ConnectOptions, Event, ListenOptions, ListenerId, Stack};

const CONNS: u32 = 1000;
const MSL: Duration = Duration::from_secs(5);

/// Length of what client `i` sends after its 4-byte index.
fn client_len(i: u32) -> usize {
    100 + (i as usize * 37) % 3000
}

/// Length of what the server answers to client `i`.
fn server_len(i: u32) -> usize {
    50 + (i as usize * 53) % 4000
}

fn client_stream(i: u32) -> u64 {
    10_000 + u64::from(i)
}

fn server_stream(i: u32) -> u64 {
    20_000 + u64::from(i)
}

/// One end of one connection, as the application sees it.
#[derive(Default)]
struct End {
    /// The client index, once known (the server learns it from the first 4 bytes).
    index: Option<u32>,
    out: Vec<u8>,
    sent: usize,
    shut: bool,
    /// Received bytes after the 4-byte index (server) or all of them (client).
    header: Vec<u8>,
    received: usize,
    eof: bool,
    released: bool,
}

impl End {
    /// Sends what is left of `out`, then shuts down writing.
    fn push(&mut self, s: &mut Stack, c: ConnId) {
        while self.sent < self.out.len() {
            match s.send(c, &self.out[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(sanstcp::SendError::WouldBlock) => return,
                Err(e) => panic!("send on {c:?}: {e}"),
            }
        }
        if !self.shut && !self.out.is_empty() {
            s.shutdown(c).unwrap();
            self.shut = true;
        }
    }

    /// Reads what is there, checking it: the client checks the server's answer, the server
    /// learns the index from the first 4 bytes and checks the rest.
    fn pull(&mut self, s: &mut Stack, c: ConnId, server: bool) {
        let mut buf = [0u8; 4096];
        loop {
            match s.recv(c, &mut buf) {
                Ok(0) => {
                    self.eof = true;
                    return;
                }
                Ok(n) => {
                    let mut data = &buf[..n];
                    if server && self.index.is_none() {
                        let take = (4 - self.header.len()).min(data.len());
                        self.header.extend_from_slice(&data[..take]);
                        data = &data[take..];
                        if self.header.len() == 4 {
                            let i = u32::from_le_bytes(self.header[..4].try_into().unwrap());
                            assert!(i < CONNS, "bad index {i}");
                            self.index = Some(i);
                            self.out = (0..server_len(i) as u64)
                                .map(|k| pattern(server_stream(i), k))
                                .collect();
                        }
                    }
                    let i = self.index.unwrap_or(u32::MAX);
                    let stream = if server {
                        client_stream(i)
                    } else {
                        server_stream(i)
                    };
                    for (k, b) in data.iter().enumerate() {
                        let pos = (self.received + k) as u64;
                        assert_eq!(
                            *b,
                            pattern(stream, pos),
                            "connection {i}: byte {pos} differs (server side: {server})"
                        );
                    }
                    self.received += data.len();
                }
                Err(sanstcp::RecvError::WouldBlock) => return,
                Err(e) => panic!("recv on {c:?}: {e}"),
            }
        }
    }

    /// Both directions are finished: release the connection to the stack.
    fn maybe_release(&mut self, s: &mut Stack, c: ConnId) {
        if self.eof && self.shut && !self.released {
            s.close(c);
            self.released = true;
        }
    }
}

struct World {
    p: Pair,
    listener: ListenerId,
    clients: BTreeMap<ConnId, End>,
    servers: BTreeMap<ConnId, End>,
    client_closed: BTreeMap<ConnId, CloseReason>,
    server_closed: BTreeMap<ConnId, CloseReason>,
}

impl World {
    fn handle_client_events(&mut self) {
        let sa = self.p.sim.node_mut::<Stack>(self.p.a);
        for _ in 0..1_000_000 {
            let Some(e) = sa.poll_event() else { break };
            match e {
                Event::Connected { conn } | Event::Writable { conn } => {
                    let end = self
                        .clients
                        .get_mut(&conn)
                        .expect("event for an unknown client connection");
                    end.push(sa, conn);
                    end.maybe_release(sa, conn);
                }
                Event::Readable { conn } | Event::PeerClosed { conn } => {
                    let end = self
                        .clients
                        .get_mut(&conn)
                        .expect("event for an unknown client connection");
                    if !end.released {
                        end.pull(sa, conn, false);
                        end.maybe_release(sa, conn);
                    }
                }
                Event::Closed { conn, reason } => {
                    assert!(
                        self.client_closed.insert(conn, reason).is_none(),
                        "two Closed events for {conn:?}"
                    );
                }
                other => panic!("unexpected client event {other:?}"),
            }
        }
    }

    fn handle_server_events(&mut self) {
        let sb = self.p.sim.node_mut::<Stack>(self.p.b);
        for _ in 0..1_000_000 {
            let Some(e) = sb.poll_event() else { break };
            let conn = match e {
                Event::Incoming { listener } => {
                    assert_eq!(listener, self.listener);
                    while let Some(c) = sb.accept(self.listener) {
                        assert!(
                            self.servers.insert(c, End::default()).is_none(),
                            "accepted {c:?} twice"
                        );
                        // Data (even a FIN) may have come with the handshake's last ACK,
                        // before the connection reached the accept queue.
                        let end = self.servers.get_mut(&c).unwrap();
                        end.pull(sb, c, true);
                        end.push(sb, c);
                        end.maybe_release(sb, c);
                    }
                    continue;
                }
                Event::Readable { conn }
                | Event::PeerClosed { conn }
                | Event::Writable { conn } => conn,
                Event::Closed { conn, reason } => {
                    assert!(
                        self.server_closed.insert(conn, reason).is_none(),
                        "two Closed events for {conn:?}"
                    );
                    continue;
                }
                other => panic!("unexpected server event {other:?}"),
            };
            // Events for a connection still in the accept queue are caught up on at accept.
            if let Some(end) = self.servers.get_mut(&conn) {
                if !end.released {
                    end.pull(sb, conn, true);
                    end.push(sb, conn);
                    end.maybe_release(sb, conn);
                }
            }
        }
    }

    fn all_released(&self) -> bool {
        self.clients.values().all(|e| e.released)
            && self.servers.len() == CONNS as usize
            && self.servers.values().all(|e| e.released)
    }
}

#[test]
fn thousand_connections_through_one_listener() {
    let mut a_cfg = config(A_IP, 1);
    let mut b_cfg = config(B_IP, 2);
    a_cfg.msl = MSL;
    b_cfg.msl = MSL;
    let link = LinkConfig::ideal()
        .with_delay(Duration::from_millis(2))
        .with_bandwidth(1_000_000_000)
        .with_loss(0.01)
        .with_duplicate(0.005)
        .with_reorder(0.02, Duration::from_millis(1));
    let p = Pair::new(5, a_cfg, b_cfg, link);
    let mut w = World {
        p,
        listener: ListenerId::from_raw(0),
        clients: BTreeMap::new(),
        servers: BTreeMap::new(),
        client_closed: BTreeMap::new(),
        server_closed: BTreeMap::new(),
    };
    let server = SocketAddr::new(ip(B_IP), 80);
    let opts = ListenOptions {
        backlog: 2 * CONNS as usize,
        syn_backlog: 2 * CONNS as usize,
    };
    w.listener = w.p.sb().listen(server, opts).unwrap();

    let now = w.p.now();
    let mut ports = BTreeSet::new();
    for i in 0..CONNS {
        let sa = w.p.sa();
        let c = sa.connect(now, server, ConnectOptions::default()).unwrap();
        assert!(
            ports.insert(sa.info(c).unwrap().local.port()),
            "port reused"
        );
        let mut out = i.to_le_bytes().to_vec();
        out.extend((0..client_len(i) as u64).map(|k| pattern(client_stream(i), k)));
        w.clients.insert(
            c,
            End {
                index: Some(i),
                out,
                ..End::default()
            },
        );
    }
    assert_eq!(w.p.sa().connection_count(), CONNS as usize);

    // Run until every connection has been released by both applications.
    let limit = w.p.now() + Duration::from_secs(120);
    let mut done = false;
    for _ in 0..10_000_000u32 {
        w.handle_client_events();
        w.handle_server_events();
        if w.all_released() {
            done = true;
            break;
        }
        if !w.p.sim.step(limit) {
            break;
        }
    }
    let finished_at = w.p.now();
    let unfinished = w.clients.values().filter(|e| !e.released).count();
    assert!(
        done,
        "by {finished_at}: {unfinished} client connections not finished, {} accepted",
        w.servers.len()
    );

    // Every byte both ways, per connection.
    for end in w.clients.values() {
        let i = end.index.unwrap();
        assert_eq!(end.sent, end.out.len());
        assert_eq!(
            end.received,
            server_len(i),
            "client {i} got the whole answer"
        );
    }
    let mut seen = BTreeSet::new();
    for end in w.servers.values() {
        let i = end.index.expect("server learned the index");
        assert!(seen.insert(i), "client {i} seen twice");
        assert_eq!(end.received, client_len(i), "server got all of client {i}");
        assert_eq!(end.sent, server_len(i));
    }
    assert_eq!(seen.len(), CONNS as usize);

    // The clients closed first: they hold TIME-WAIT; the servers are gone already (or about
    // to be, once their last FIN is acknowledged).
    let a_left = w.p.sa().connection_count();
    // Each client sent its FIN first, so each holds TIME-WAIT (or CLOSING on the way there).
    assert_eq!(
        a_left, CONNS as usize,
        "the active closers must be in TIME-WAIT"
    );

    // After 2·MSL (plus the FIN retransmissions a lossy link may need), nothing is left.
    let deadline = w.p.now() + 2 * MSL + Duration::from_secs(30);
    w.p.run(60, |p| {
        (p.sa().connection_count() == 0 && p.sb().connection_count() == 0) || p.now() > deadline
    });
    w.handle_client_events();
    w.handle_server_events();
    assert_eq!(
        w.p.sa().connection_count(),
        0,
        "client stack leaks connections"
    );
    assert_eq!(
        w.p.sb().connection_count(),
        0,
        "server stack leaks connections"
    );
    assert_eq!(
        w.p.sa().poll_timeout(),
        None,
        "no timer left on the client stack"
    );
    assert_eq!(
        w.p.sb().poll_timeout(),
        None,
        "no timer left on the server stack"
    );

    // Exactly one Closed{Normal} per connection on each side.
    assert_eq!(w.client_closed.len(), CONNS as usize);
    assert_eq!(w.server_closed.len(), CONNS as usize);
    assert!(
        w.client_closed.values().all(|r| *r == CloseReason::Normal),
        "client: {:?}",
        w.client_closed
            .values()
            .filter(|r| **r != CloseReason::Normal)
            .collect::<Vec<_>>()
    );
    assert!(w.server_closed.values().all(|r| *r == CloseReason::Normal));
    // Every id is stale now.
    let c0 = *w.clients.keys().next().unwrap();
    assert!(w.p.sa().info(c0).is_none());
    assert_eq!(
        w.p.sa().send(c0, b"x"),
        Err(sanstcp::SendError::InvalidConnection)
    );

    let (sa, sb) = (w.p.sa().stats().clone(), w.p.sb().stats().clone());
    assert_eq!(sa.active_opens, u64::from(CONNS));
    assert_eq!(sb.passive_opens, u64::from(CONNS));
    // Late duplicates may meet a finished server connection and draw a RST, which the
    // client ignores in TIME-WAIT (RFC 1337); no established connection was reset.
    assert_eq!(
        sa.estab_resets + sb.estab_resets,
        0,
        "no connection was reset"
    );
    eprintln!(
        "{CONNS} connections done at {finished_at}, clients in TIME-WAIT then: {a_left}; \
         retransmitted segments A {} B {}, RTOs A {} B {}, RSTs A->B {} B->A {}",
        sa.retransmitted_segments,
        sb.retransmitted_segments,
        sa.rto_expirations,
        sb.rto_expirations,
        sa.resets_out,
        sb.resets_out
    );
}
