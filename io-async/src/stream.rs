//! [`TcpListener`] and [`TcpStream`] (with its halves) on a [`Net`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use sanstcp::{
    ConnId, ConnInfo, ConnectOptions, ListenOptions, ListenerId, RecvError, SendError, StateError,
};

use crate::net::{reason_error, store, Net, Slot};

// ---- listener -------------------------------------------------------------------------------

/// A listening socket on a [`Net`]. Dropping it stops listening (connections still in its
/// accept queue are reset).
#[derive(Debug)]
pub struct TcpListener {
    net: Net,
    id: ListenerId,
    local: SocketAddr,
}

impl TcpListener {
    /// Listens on `addr` (an unspecified address listens on every address of the stack of
    /// that family) with the default backlog.
    pub fn bind(net: &Net, addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::bind_with(net, addr, ListenOptions::default())
    }

    /// Listens with explicit options (backlog).
    pub fn bind_with(net: &Net, addr: SocketAddr, opts: ListenOptions) -> io::Result<TcpListener> {
        let mut inner = net.shared.lock();
        inner.check()?;
        let id = inner.stack.listen(addr, opts)?;
        inner.listeners.insert(id, Vec::new());
        Ok(TcpListener {
            net: net.clone(),
            id,
            local: addr,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Waits for the next established connection; returns it with the peer's address.
    pub fn accept(&self) -> Accept<'_> {
        Accept { listener: self }
    }

    /// Takes the next established connection, or registers `cx` to be woken when one
    /// arrives.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let mut inner = self.net.shared.lock();
        inner.check()?;
        match inner.stack.accept(self.id) {
            Some(conn) => {
                let remote = inner.stack.info(conn).map(|i| i.remote);
                inner.conns.insert(
                    conn,
                    Slot {
                        connected: true,
                        ..Slot::default()
                    },
                );
                drop(inner);
                // Accepting may let the listener answer further SYNs (its queue has room).
                self.net.shared.driver.wake();
                let stream = TcpStream::new(self.net.clone(), conn);
                let remote = remote.unwrap_or(self.local);
                Poll::Ready(Ok((stream, remote)))
            }
            None => {
                let waiting = inner.listeners.entry(self.id).or_default();
                if !waiting.iter().any(|w| w.will_wake(cx.waker())) {
                    waiting.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let mut inner = self.net.shared.lock();
        inner.stack.close_listener(self.id);
        inner.listeners.remove(&self.id);
        drop(inner);
        self.net.shared.driver.wake();
    }
}

/// The future of [`TcpListener::accept`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Accept<'a> {
    listener: &'a TcpListener,
}

impl Future for Accept<'_> {
    type Output = io::Result<(TcpStream, SocketAddr)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.listener.poll_accept(cx)
    }
}

// ---- connect --------------------------------------------------------------------------------

/// The future of [`TcpStream::connect`]: resolves once the handshake completes, or with
/// the error that ended it (`ConnectionRefused`, `TimedOut`, ...). Dropping it before then
/// aborts the attempt.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Connect {
    /// `Err` when the stack refused the call at once.
    state: Option<io::Result<Arc<Handle>>>,
}

impl Future for Connect {
    type Output = io::Result<TcpStream>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let handle = match self.state.take() {
            None => panic!("Connect polled after it completed"),
            Some(Err(e)) => return Poll::Ready(Err(e)),
            Some(Ok(h)) => h,
        };
        let mut inner = handle.net.shared.lock();
        if let Err(e) = inner.check() {
            drop(inner);
            return Poll::Ready(Err(e));
        }
        let slot = inner.conns.entry(handle.id).or_default();
        if slot.connected {
            drop(inner);
            return Poll::Ready(Ok(TcpStream { handle }));
        }
        if let Some(reason) = slot.closed {
            drop(inner);
            // Dropping the handle releases the connection.
            return Poll::Ready(Err(reason_error(reason)));
        }
        store(&mut slot.write, cx.waker());
        drop(inner);
        self.state = Some(Ok(handle));
        Poll::Pending
    }
}

// ---- the stream -----------------------------------------------------------------------------

/// The connection behind a stream and its halves; the last one gone releases it.
#[derive(Debug)]
struct Handle {
    net: Net,
    id: ConnId,
    /// FIN queued (by `poll_close` or the write half's drop).
    shut: AtomicBool,
    /// Drop aborts instead of closing.
    abort: AtomicBool,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut inner = self.net.shared.lock();
        inner.conns.remove(&self.id);
        if self.abort.load(Ordering::Relaxed) {
            inner.stack.abort(self.id);
        } else {
            inner.stack.close(self.id);
        }
        drop(inner);
        self.net.shared.driver.wake();
    }
}

impl Handle {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut inner = self.net.shared.lock();
        inner.check()?;
        match inner.stack.recv(self.id, buf) {
            Ok(n) => {
                drop(inner);
                // Reading opens the window: the stack may have an update to send.
                if n > 0 {
                    self.net.shared.driver.wake();
                }
                Poll::Ready(Ok(n))
            }
            Err(RecvError::WouldBlock | RecvError::NotConnected) => {
                if let Some(slot) = inner.conns.get_mut(&self.id) {
                    store(&mut slot.read, cx.waker());
                }
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(self.error(e.into(), &inner.conns))),
        }
    }

    fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let mut inner = self.net.shared.lock();
        inner.check()?;
        match inner.stack.send(self.id, data) {
            Ok(n) => {
                drop(inner);
                self.net.shared.driver.wake();
                Poll::Ready(Ok(n))
            }
            Err(SendError::WouldBlock) => {
                if let Some(slot) = inner.conns.get_mut(&self.id) {
                    store(&mut slot.write, cx.waker());
                }
                // Whatever was queued before is what the driver must send to make room.
                drop(inner);
                self.net.shared.driver.wake();
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(self.error(e.into(), &inner.conns))),
        }
    }

    /// Queues the FIN once.
    fn shutdown(&self) -> io::Result<()> {
        if self.shut.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let mut inner = self.net.shared.lock();
        inner.check()?;
        let r = inner.stack.shutdown(self.id);
        let conns = &inner.conns;
        let r = match r {
            Ok(()) | Err(StateError::AlreadyShutdown) => Ok(()),
            Err(e) => Err(self.error(e.into(), conns)),
        };
        drop(inner);
        self.net.shared.driver.wake();
        r
    }

    /// Prefers the reason the connection ended (reset, timeout) to a generic error.
    fn error(&self, e: io::Error, conns: &std::collections::HashMap<ConnId, Slot>) -> io::Error {
        match conns.get(&self.id).and_then(|s| s.closed) {
            Some(reason) if e.kind() == io::ErrorKind::NotConnected => reason_error(reason),
            _ => e,
        }
    }
}

/// A TCP connection on a [`Net`]: [`AsyncRead`] and [`AsyncWrite`] from `futures-io`, so it
/// works with any executor (under tokio through `tokio_util::compat`).
///
/// - Reads return `Ok(0)` at the end of the stream; a connection reset or timed out reports
///   `ConnectionReset` / `TimedOut` (and so on for the other ends) on reads and writes.
/// - Writes take what fits in the send buffer and wait when it is full (backpressure).
/// - `poll_flush` returns at once (data is in the stack's send buffer);
///   `poll_close` sends FIN after the queued data (half-close: reading goes on).
/// - Dropping the stream (the last of it and its halves) closes it like `close(2)` on Linux:
///   queued data still goes out, then FIN, and the stack finishes the close on its own; but
///   if received data was left unread, or data arrives afterwards, the peer gets a reset.
///   [`TcpStream::abort`] resets at once.
#[derive(Debug)]
pub struct TcpStream {
    handle: Arc<Handle>,
}

impl TcpStream {
    fn new(net: Net, id: ConnId) -> TcpStream {
        TcpStream {
            handle: Arc::new(Handle {
                net,
                id,
                shut: AtomicBool::new(false),
                abort: AtomicBool::new(false),
            }),
        }
    }

    /// Opens a connection to `addr`.
    pub fn connect(net: &Net, addr: SocketAddr) -> Connect {
        TcpStream::connect_with(net, addr, ConnectOptions::default())
    }

    /// Opens a connection with explicit options (local address, buffers, `nodelay`).
    pub fn connect_with(net: &Net, addr: SocketAddr, opts: ConnectOptions) -> Connect {
        let mut inner = net.shared.lock();
        let state = inner.check().and_then(|()| {
            let now = net.shared.now();
            let id = inner.stack.connect(now, addr, opts)?;
            inner.conns.insert(id, Slot::default());
            Ok(TcpStream::new(net.clone(), id).handle)
        });
        drop(inner);
        if state.is_ok() {
            net.shared.driver.wake();
        }
        Connect { state: Some(state) }
    }

    /// The stack's id of the connection.
    pub fn id(&self) -> ConnId {
        self.handle.id
    }

    /// The [`Net`] it lives on.
    pub fn net(&self) -> &Net {
        &self.handle.net
    }

    /// A snapshot of the connection (state, addresses, windows, RTT); `None` once released.
    pub fn info(&self) -> Option<ConnInfo> {
        self.handle.net.info(self.handle.id)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.info()
            .map(|i| i.remote)
            .ok_or_else(|| io::ErrorKind::NotConnected.into())
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.info()
            .map(|i| i.local)
            .ok_or_else(|| io::ErrorKind::NotConnected.into())
    }

    /// Turns Nagle's algorithm off (`true`) or on.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let h = &self.handle;
        Ok(h.net.with_stack(|s| s.set_nodelay(h.id, nodelay))?)
    }

    /// Resets the connection now (RST; queued data is dropped).
    pub fn abort(self) {
        self.handle.abort.store(true, Ordering::Relaxed);
    }

    /// Splits into a read half and a write half that can move to different tasks. Dropping
    /// the write half sends FIN; the connection is released when both are gone.
    pub fn split(self) -> (ReadHalf, WriteHalf) {
        (
            ReadHalf {
                handle: self.handle.clone(),
            },
            WriteHalf {
                handle: self.handle,
            },
        )
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.handle.poll_read(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.handle.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.handle.shutdown())
    }
}

/// The read half of a [`TcpStream`] (from [`TcpStream::split`]).
#[derive(Debug)]
pub struct ReadHalf {
    handle: Arc<Handle>,
}

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.handle.poll_read(cx, buf)
    }
}

/// The write half of a [`TcpStream`] (from [`TcpStream::split`]). Dropping it sends FIN.
#[derive(Debug)]
pub struct WriteHalf {
    handle: Arc<Handle>,
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.handle.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.handle.shutdown())
    }
}

impl Drop for WriteHalf {
    fn drop(&mut self) {
        if !self.handle.abort.load(Ordering::Relaxed) {
            let _ = self.handle.shutdown();
        }
    }
}
