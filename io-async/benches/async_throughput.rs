//! Bulk throughput over the in-process link: the async adapter (two drivers, a writer task
//! and a reader task on one single-threaded executor) against the same transfer driven by
//! the plain sans-IO loop (two stacks handing packets to each other in one loop).
//!
//! `ASYNC_BENCH_BYTES` (bytes, default 512 MiB) sets the transfer, `ASYNC_BENCH_ROUNDS`
//! (default 3) how often each runs; the best round counts. The last line compares them.

use std::net::SocketAddr;
use std::time::{Duration, Instant as WallInstant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use sanstcp::{
    ConnectOptions, Event, Instant, ListenOptions, RecvError, SendError, Stack, StackConfig,
};
use sanstcp_async::{MemoryLink, Net, TcpListener, TcpStream};

const CHUNK: usize = 64 * 1024;

fn config(ip: &str, seed: u64) -> StackConfig {
    StackConfig::new(vec![ip.parse().unwrap()], [seed as u8; 16], seed)
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn server() -> SocketAddr {
    "10.0.0.2:5001".parse().unwrap()
}

/// The plain loop: both stacks in one loop, packets handed over in memory.
fn sans_io(total: u64) -> Duration {
    let mut a = Stack::new(config("10.0.0.1", 1)).unwrap();
    let mut b = Stack::new(config("10.0.0.2", 2)).unwrap();
    let epoch = WallInstant::now();
    let now = || Instant::from_nanos(epoch.elapsed().as_nanos() as u64);
    let l = b.listen(server(), ListenOptions::default()).unwrap();
    let ca = a
        .connect(now(), server(), ConnectOptions::default())
        .unwrap();
    let mut cb = None;
    let data = vec![0x5au8; CHUNK];
    let mut rbuf = vec![0u8; CHUNK];
    let mut pkt = vec![0u8; 1500];
    let (mut sent, mut got) = (0u64, 0u64);
    let start = WallInstant::now();
    while got < total {
        let t = now();
        while sent < total {
            let len = CHUNK.min((total - sent) as usize);
            match a.send(ca, &data[..len]) {
                Ok(n) => sent += n as u64,
                Err(SendError::WouldBlock) | Err(SendError::Closed) => break,
                Err(e) => panic!("send: {e}"),
            }
        }
        while let Some(tx) = a.poll_transmit(t, &mut pkt) {
            b.handle_packet(t, &pkt[..tx.len]);
        }
        while let Some(tx) = b.poll_transmit(t, &mut pkt) {
            a.handle_packet(t, &pkt[..tx.len]);
        }
        if cb.is_none() {
            cb = b.accept(l);
        }
        if let Some(c) = cb {
            loop {
                match b.recv(c, &mut rbuf) {
                    Ok(0) | Err(RecvError::WouldBlock) => break,
                    Ok(n) => got += n as u64,
                    Err(e) => panic!("recv: {e}"),
                }
            }
        }
        for s in [&mut a, &mut b] {
            if s.poll_timeout().is_some_and(|d| d <= t) {
                s.handle_timeout(t);
            }
            while let Some(ev) = s.poll_event() {
                if let Event::Closed { reason, .. } = ev {
                    panic!("closed: {reason:?}");
                }
            }
        }
    }
    start.elapsed()
}

/// The adapter: the same transfer through drivers, streams and a memory link.
fn adapter(total: u64) -> Duration {
    let (da, db) = MemoryLink::pair();
    let (client, cd) = Net::new(Stack::new(config("10.0.0.1", 1)).unwrap(), da);
    let (srv, sd) = Net::new(Stack::new(config("10.0.0.2", 2)).unwrap(), db);
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        ex.spawn(cd).detach();
        ex.spawn(sd).detach();
        let listener = TcpListener::bind(&srv, server()).unwrap();
        let mut c = TcpStream::connect(&client, server()).await.unwrap();
        let (mut s, _) = listener.accept().await.unwrap();
        let start = WallInstant::now();
        let writer = ex.spawn(async move {
            let data = vec![0x5au8; CHUNK];
            let mut sent = 0u64;
            while sent < total {
                let len = CHUNK.min((total - sent) as usize);
                sent += c.write(&data[..len]).await.unwrap() as u64;
            }
            c.close().await.unwrap();
            c
        });
        let mut buf = vec![0u8; CHUNK];
        let mut got = 0u64;
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got += n as u64;
        }
        let elapsed = start.elapsed();
        assert_eq!(got, total);
        drop(writer.await);
        elapsed
    }))
}

fn gbits(bytes: u64, d: Duration) -> f64 {
    bytes as f64 * 8.0 / d.as_secs_f64() / 1e9
}

fn main() {
    let total = env("ASYNC_BENCH_BYTES", 512 << 20);
    let rounds = env("ASYNC_BENCH_ROUNDS", 3).max(1);
    println!(
        "async_throughput: {} MiB over the in-process link, best of {rounds}",
        total >> 20
    );
    let (mut best_async, mut best_sans) = (Duration::MAX, Duration::MAX);
    for round in 1..=rounds {
        let s = sans_io(total);
        let a = adapter(total);
        println!(
            "round {round}: async {:.2} Gbit/s, sans-IO loop {:.2} Gbit/s",
            gbits(total, a),
            gbits(total, s)
        );
        best_async = best_async.min(a);
        best_sans = best_sans.min(s);
    }
    let (a, s) = (gbits(total, best_async), gbits(total, best_sans));
    println!(
        "async: {a:.2} Gbit/s, sans-IO loop {s:.2} Gbit/s, ratio {:.2}",
        a / s
    );
}
