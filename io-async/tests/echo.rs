//! 100 concurrent connections each echo 1 MiB over the in-process link, under smol and
//! under tokio (through tokio-util's compat layer), and a smaller run under
//! `futures::executor`.

mod common;

use std::time::{Duration, Instant};

use common::{pair, pattern, server_addr};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use sanstcp_async::{TcpListener, TcpStream};

const CONNECTIONS: usize = 100;
const BYTES: usize = 1 << 20;
const PORT: u16 = 7;

#[test]
fn hundred_connections_echo_one_mib_each_under_smol() {
    let ((client, cd), (server, sd)) = pair();
    let ex = smol::Executor::new();
    let start = Instant::now();
    smol::block_on(ex.run(async {
        ex.spawn(cd).detach();
        ex.spawn(sd).detach();
        let listener = TcpListener::bind(&server, server_addr(PORT)).unwrap();
        ex.spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                smol::spawn(async move {
                    let (r, mut w) = stream.split();
                    futures_lite::io::copy(r, &mut w).await.unwrap();
                    w.close().await.unwrap();
                })
                .detach();
            }
        })
        .detach();
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|i| {
                let client = client.clone();
                ex.spawn(async move {
                    let stream = TcpStream::connect(&client, server_addr(PORT))
                        .await
                        .unwrap();
                    let (mut r, mut w) = stream.split();
                    let data = pattern(i as u64, BYTES);
                    let sent = data.clone();
                    let writer = smol::spawn(async move {
                        w.write_all(&sent).await.unwrap();
                        w.close().await.unwrap();
                    });
                    let mut got = Vec::with_capacity(BYTES);
                    r.read_to_end(&mut got).await.unwrap();
                    writer.await;
                    assert!(
                        got == data,
                        "connection {i}: echo differs ({} bytes)",
                        got.len()
                    );
                })
            })
            .collect();
        for c in clients {
            c.await;
        }
    }));
    eprintln!(
        "smol: {CONNECTIONS} x {} KiB echoed in {:.2?}",
        BYTES / 1024,
        start.elapsed()
    );
}

#[test]
fn hundred_connections_echo_one_mib_each_under_tokio() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio_util::compat::{FuturesAsyncReadCompatExt, FuturesAsyncWriteCompatExt};

    let ((client, cd), (server, sd)) = pair();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let start = Instant::now();
    rt.block_on(async {
        tokio::spawn(cd);
        tokio::spawn(sd);
        let listener = TcpListener::bind(&server, server_addr(PORT)).unwrap();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let (r, w) = stream.split();
                    let (mut r, mut w) = (r.compat(), w.compat_write());
                    tokio::io::copy(&mut r, &mut w).await.unwrap();
                    w.shutdown().await.unwrap();
                });
            }
        });
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(async move {
                    let stream = TcpStream::connect(&client, server_addr(PORT))
                        .await
                        .unwrap();
                    let (r, w) = stream.split();
                    let (mut r, mut w) = (r.compat(), w.compat_write());
                    let data = pattern(i as u64, BYTES);
                    let sent = data.clone();
                    let writer = tokio::spawn(async move {
                        w.write_all(&sent).await.unwrap();
                        w.shutdown().await.unwrap();
                    });
                    let mut got = Vec::with_capacity(BYTES);
                    r.read_to_end(&mut got).await.unwrap();
                    writer.await.unwrap();
                    assert!(
                        got == data,
                        "connection {i}: echo differs ({} bytes)",
                        got.len()
                    );
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
    });
    eprintln!(
        "tokio: {CONNECTIONS} x {} KiB echoed in {:.2?}",
        BYTES / 1024,
        start.elapsed()
    );
}

#[test]
fn echo_under_futures_executor() {
    use futures::executor::LocalPool;
    use futures::task::SpawnExt;

    let ((client, cd), (server, sd)) = pair();
    let mut pool = LocalPool::new();
    let spawner = pool.spawner();
    spawner.spawn(async { cd.await.unwrap() }).unwrap();
    spawner.spawn(async { sd.await.unwrap() }).unwrap();
    let listener = TcpListener::bind(&server, server_addr(PORT)).unwrap();
    spawner
        .spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n]).await.unwrap();
            }
            s.close().await.unwrap();
        })
        .unwrap();
    let got = pool.run_until(async {
        let c = TcpStream::connect(&client, server_addr(PORT))
            .await
            .unwrap();
        let (mut r, mut w) = c.split();
        let data = pattern(7, 4 * BYTES);
        let writer = {
            let data = data.clone();
            async move {
                w.write_all(&data).await.unwrap();
                w.close().await.unwrap();
            }
        };
        let mut got = Vec::new();
        let reader = r.read_to_end(&mut got);
        let (_, n) = futures::join!(writer, reader);
        assert_eq!(n.unwrap(), data.len());
        got == data
    });
    assert!(got, "echo differs");
    // Both sides released everything once the close completes (the active closer's
    // TIME-WAIT aside).
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.connection_count() > 0 {
        assert!(Instant::now() < deadline, "server still holds a connection");
        pool.run_until(async_io::Timer::after(Duration::from_millis(5)));
    }
}
