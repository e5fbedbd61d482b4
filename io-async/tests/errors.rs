//! Failures surface as the matching `io::ErrorKind`; backpressure bounds memory; dropping or
//! aborting a stream mid-transfer resets it cleanly and releases both ends.

mod common;

use std::io::ErrorKind;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{config, eventually, pair, pair_with, pattern, server_addr, CLIENT, SERVER};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use sanstcp_async::{MemoryLink, TcpListener, TcpStream};

const LIMIT: Duration = Duration::from_secs(20);

/// Runs `f` on a fresh smol executor (so that a test's tasks end with it).
fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(f))
}

/// Writes until the write fails; returns the error.
async fn write_until_error(w: &mut (impl futures_lite::AsyncWrite + Unpin)) -> std::io::Error {
    let chunk = pattern(3, 64 * 1024);
    let start = std::time::Instant::now();
    loop {
        assert!(start.elapsed() < LIMIT, "writes kept succeeding");
        if let Err(e) = w.write_all(&chunk).await {
            return e;
        }
    }
}

#[test]
fn peer_reset_is_connection_reset() {
    let ((client, cd), (server, sd)) = pair();
    run(async {
        smol::spawn(cd).detach();
        smol::spawn(sd).detach();
        let listener = TcpListener::bind(&server, server_addr(80)).unwrap();
        let mut c = TcpStream::connect(&client, server_addr(80)).await.unwrap();
        let (s, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, c.local_addr().unwrap());
        c.write_all(b"hello").await.unwrap();
        s.abort();
        let mut buf = [0u8; 16];
        let e = c.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
        // Sticky: writes say the same.
        let e = c.write(b"more").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
        drop(c);
        eventually(LIMIT, "both stacks to release", || {
            client.connection_count() == 0 && server.connection_count() == 0
        })
        .await;
    });
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    let ((client, cd), (_server, sd)) = pair();
    run(async {
        smol::spawn(cd).detach();
        smol::spawn(sd).detach();
        let e = TcpStream::connect(&client, server_addr(81))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
    });
}

/// Short timers so that giving up takes milliseconds.
fn impatient(ip: &str, seed: u64) -> sanstcp::StackConfig {
    let mut c = config(ip, seed);
    c.rto_initial = Duration::from_millis(20);
    c.rto_min = Duration::from_millis(10);
    c.rto_max = Duration::from_millis(40);
    c.max_retries = 3;
    c.syn_retries = 2;
    c
}

#[test]
fn unanswered_connect_times_out() {
    let ((client, cd), (_server, sd)) = pair_with(
        impatient(CLIENT, 1),
        config(SERVER, 2),
        MemoryLink::default(),
    );
    drop(sd); // nobody answers: the server's end of the link is gone
    run(async {
        smol::spawn(cd).detach();
        let e = TcpStream::connect(&client, server_addr(80))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    });
}

#[test]
fn silent_peer_times_out_an_established_connection() {
    let ((client, cd), (server, sd)) = pair_with(
        impatient(CLIENT, 1),
        config(SERVER, 2),
        MemoryLink::default(),
    );
    run(async {
        smol::spawn(cd).detach();
        let server_driver = smol::spawn(sd);
        let listener = TcpListener::bind(&server, server_addr(80)).unwrap();
        let mut c = TcpStream::connect(&client, server_addr(80)).await.unwrap();
        let (_s, _) = listener.accept().await.unwrap();
        // The server's stack stops: its driver (and its end of the link) is gone.
        drop(server_driver);
        let e = write_until_error(&mut c).await;
        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
        let mut buf = [0u8; 16];
        let e = c.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    });
}

#[test]
fn a_fast_writer_is_held_back_by_a_slow_reader() {
    const TOTAL: usize = 8 << 20;
    const LINK_PACKETS: usize = 64;
    let link = MemoryLink {
        capacity: LINK_PACKETS,
    };
    let ((client, cd), (server, sd)) = pair_with(config(CLIENT, 1), config(SERVER, 2), link);
    let buffers = config(CLIENT, 1).send_buffer + config(SERVER, 2).recv_buffer;
    // Send and receive buffers, both directions of the link full, one write in hand.
    let bound = buffers + 2 * LINK_PACKETS * 1500 + 64 * 1024;
    let written = Arc::new(AtomicUsize::new(0));
    let read = Arc::new(AtomicUsize::new(0));
    let mut peak = 0;
    run(async {
        smol::spawn(cd).detach();
        smol::spawn(sd).detach();
        let listener = TcpListener::bind(&server, server_addr(80)).unwrap();
        let mut c = TcpStream::connect(&client, server_addr(80)).await.unwrap();
        let (mut s, _) = listener.accept().await.unwrap();
        let w = written.clone();
        let writer = smol::spawn(async move {
            let chunk = pattern(5, 64 * 1024);
            let mut sent = 0;
            while sent < TOTAL {
                let len = chunk.len().min(TOTAL - sent);
                let n = c.write(&chunk[..len]).await.unwrap();
                sent += n;
                w.fetch_add(n, Ordering::SeqCst);
            }
            c.close().await.unwrap();
            c
        });
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // A slow reader: a little at a time, with pauses.
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            let r = read.fetch_add(n, Ordering::SeqCst) + n;
            let queued = written.load(Ordering::SeqCst) - r;
            peak = peak.max(queued);
            assert!(queued <= bound, "{queued} bytes queued, bound {bound}");
            async_io::Timer::after(Duration::from_micros(200)).await;
        }
        assert_eq!(read.load(Ordering::SeqCst), TOTAL);
        drop(writer.await);
    });
    assert!(
        peak > buffers / 2,
        "the writer never ran ahead ({peak} bytes): backpressure was not exercised"
    );
    eprintln!("backpressure: at most {peak} bytes between writer and reader (bound {bound})");
}

#[test]
fn dropping_the_reader_mid_transfer_resets_the_writer() {
    let ((client, cd), (server, sd)) = pair();
    run(async {
        smol::spawn(cd).detach();
        smol::spawn(sd).detach();
        let listener = TcpListener::bind(&server, server_addr(80)).unwrap();
        let mut c = TcpStream::connect(&client, server_addr(80)).await.unwrap();
        let (mut s, _) = listener.accept().await.unwrap();
        let writer = smol::spawn(async move {
            let e = write_until_error(&mut c).await;
            (c, e)
        });
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        while got < 1 << 20 {
            got += s.read(&mut buf).await.unwrap();
        }
        drop(s); // unread data is waiting: the close turns into a reset
        let (c, e) = writer.await;
        assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
        drop(c);
        eventually(LIMIT, "both stacks to release", || {
            client.connection_count() == 0 && server.connection_count() == 0
        })
        .await;
    });
}

#[test]
fn aborting_the_writer_mid_transfer_resets_the_reader() {
    let ((client, cd), (server, sd)) = pair();
    run(async {
        smol::spawn(cd).detach();
        smol::spawn(sd).detach();
        let listener = TcpListener::bind(&server, server_addr(80)).unwrap();
        let c = TcpStream::connect(&client, server_addr(80)).await.unwrap();
        let (mut s, _) = listener.accept().await.unwrap();
        let (r, mut w) = c.split();
        w.write_all(&pattern(9, 100_000)).await.unwrap();
        drop(r);
        // Dropping the write half sends FIN after the data; then the stream is released.
        drop(w);
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, pattern(9, 100_000));
        drop(s);

        let mut c = TcpStream::connect(&client, server_addr(80)).await.unwrap();
        let (mut s, _) = listener.accept().await.unwrap();
        c.write_all(&pattern(9, 300_000)).await.unwrap();
        c.abort();
        let mut buf = vec![0u8; 64 * 1024];
        let e = loop {
            match s.read(&mut buf).await {
                Ok(0) => panic!("a clean end of stream after an abort"),
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
        drop(s);
        eventually(LIMIT, "both stacks to release", || {
            // The first connection's active closer (the client) sits in TIME-WAIT.
            client.connection_count() <= 1 && server.connection_count() == 0
        })
        .await;
    });
}
