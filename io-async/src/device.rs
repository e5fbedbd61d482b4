//! Devices a [`crate::Driver`] moves packets through: the [`Device`] trait, a TAP device on
//! the async-io reactor ([`AsyncTap`]), and an in-process link ([`MemoryLink`]).

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use async_io::Async;
use sanstcp_mio::device::{TapDevice, TapOptions};

/// Something that moves whole packets (or frames) in and out without blocking, and can tell
/// a task when it is worth trying again.
///
/// A [`crate::Driver`] calls `recv` until it returns `WouldBlock`, then `poll_readable`; it
/// calls `send` until `WouldBlock`, keeps that packet, and waits in `poll_writable`. What a
/// packet is depends on how the [`crate::Net`] was built: IP packets ([`crate::Net::new`])
/// or Ethernet frames ([`crate::Net::ethernet`]).
pub trait Device: Send + 'static {
    /// Reads one packet into `buf` and returns its length; `WouldBlock` when none is waiting.
    /// A packet longer than `buf` may be truncated.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize>;

    /// Reads one packet and hands it to `handle`; `WouldBlock` when none is waiting. The
    /// default reads into `buf` with [`Device::recv`]; a device that holds packets in memory
    /// can hand them over where they are, without the copy.
    fn recv_with(&mut self, buf: &mut [u8], handle: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        let n = self.recv(buf)?;
        handle(&buf[..n]);
        Ok(())
    }

    /// Writes one packet; `WouldBlock` when the device cannot take it now.
    fn send(&mut self, packet: &[u8]) -> io::Result<()>;

    /// Writes the packet in `buf[..len]`, like [`Device::send`]. A device that queues packets
    /// in memory may take `buf` itself and leave another buffer of at least the same length
    /// in its place, instead of copying.
    fn send_from(&mut self, buf: &mut Vec<u8>, len: usize) -> io::Result<()> {
        self.send(&buf[..len])
    }

    /// Ready when `recv` may have a packet; otherwise wakes `cx` when it may.
    fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Ready when `send` may succeed; otherwise wakes `cx` when it may.
    fn poll_writable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

// ---- TAP ------------------------------------------------------------------------------------

/// io-mio's [`TapDevice`] with the `AsFd` that [`Async`] wants.
#[derive(Debug)]
struct TapFd(TapDevice);

impl AsFd for TapFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// A Linux TAP device (`IFF_TAP | IFF_NO_PI`, one Ethernet frame per read or write)
/// registered with the async-io reactor. Use it with [`crate::Net::ethernet`].
#[derive(Debug)]
pub struct AsyncTap {
    io: Async<TapFd>,
}

impl AsyncTap {
    /// Opens (or creates, non-persistent) the TAP device `name` in the current network
    /// namespace. Needs `CAP_NET_ADMIN` (or ownership of a persistent device).
    pub fn open(name: &str) -> io::Result<AsyncTap> {
        AsyncTap::new(TapDevice::open(name, TapOptions::default())?)
    }

    /// Wraps a device opened elsewhere: a [`TapDevice`] (without `vnet_hdr`), or one made
    /// with [`TapDevice::from_fd`] from a datagram socket standing in for a wire.
    pub fn new(device: TapDevice) -> io::Result<AsyncTap> {
        if device.vnet_hdr() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "AsyncTap does not undo IFF_VNET_HDR offload: open the device without it",
            ));
        }
        Ok(AsyncTap {
            io: Async::new(TapFd(device))?,
        })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        self.io.get_ref().0.name()
    }
}

impl Device for AsyncTap {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.io.get_ref().0.recv(buf) {
            // A TAP device never reads empty; a socket standing in for one does when its
            // peer is gone.
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{}: the device was closed", self.name()),
            )),
            r => r,
        }
    }

    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        self.io.get_ref().0.send(packet)
    }

    fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_readable(cx)
    }

    fn poll_writable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_writable(cx)
    }
}

// ---- the in-process link --------------------------------------------------------------------

/// One direction of a [`MemoryLink`]: a bounded packet queue with a waker for each end.
#[derive(Debug)]
struct Queue {
    state: Mutex<QueueState>,
}

#[derive(Debug)]
struct QueueState {
    /// Packets as (buffer, length): buffers keep their full size for reuse.
    packets: VecDeque<(Vec<u8>, usize)>,
    /// Buffers of delivered packets, reused for later ones.
    spare: Vec<Vec<u8>>,
    capacity: usize,
    reader: Option<Waker>,
    writer: Option<Waker>,
    /// The receiving end is gone: packets are dropped, as on a cable into nothing.
    receiver_gone: bool,
}

impl Queue {
    fn new(capacity: usize) -> Arc<Queue> {
        Arc::new(Queue {
            state: Mutex::new(QueueState {
                packets: VecDeque::with_capacity(capacity),
                spare: Vec::new(),
                capacity,
                reader: None,
                writer: None,
                receiver_gone: false,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Joins two [`MemoryDevice`]s back to back: what one sends, the other receives, in order,
/// without loss. Each direction holds at most `capacity` packets; a full queue makes `send`
/// return `WouldBlock` (and the driver wait), like a device's transmit queue. Needs no
/// privileges: two stacks in one program, for tests, examples and benchmarks.
#[derive(Debug, Clone, Copy)]
pub struct MemoryLink {
    /// Packets each direction holds at most (default 1024).
    pub capacity: usize,
}

impl Default for MemoryLink {
    fn default() -> MemoryLink {
        MemoryLink { capacity: 1024 }
    }
}

impl MemoryLink {
    /// Two joined devices with the default capacity.
    pub fn pair() -> (MemoryDevice, MemoryDevice) {
        MemoryLink::default().build()
    }

    /// Two joined devices with this link's settings.
    pub fn build(self) -> (MemoryDevice, MemoryDevice) {
        let capacity = self.capacity.max(1);
        let (ab, ba) = (Queue::new(capacity), Queue::new(capacity));
        (
            MemoryDevice {
                tx: ab.clone(),
                rx: ba.clone(),
            },
            MemoryDevice { tx: ba, rx: ab },
        )
    }
}

/// One end of a [`MemoryLink`]; carries IP packets (use it with [`crate::Net::new`]).
/// When the other end is dropped, what is sent here is lost and nothing arrives.
#[derive(Debug)]
pub struct MemoryDevice {
    tx: Arc<Queue>,
    rx: Arc<Queue>,
}

impl Device for MemoryDevice {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut q = self.rx.lock();
        let Some((packet, len)) = q.packets.pop_front() else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let n = len.min(buf.len());
        buf[..n].copy_from_slice(&packet[..n]);
        if q.spare.len() < q.capacity {
            q.spare.push(packet);
        }
        let writer = q.writer.take();
        drop(q);
        if let Some(w) = writer {
            w.wake();
        }
        Ok(n)
    }

    fn recv_with(&mut self, _buf: &mut [u8], handle: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        let Some((packet, len)) = self.rx.lock().packets.pop_front() else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        handle(&packet[..len]);
        let mut q = self.rx.lock();
        if q.spare.len() < q.capacity {
            q.spare.push(packet);
        }
        let writer = q.writer.take();
        drop(q);
        if let Some(w) = writer {
            w.wake();
        }
        Ok(())
    }

    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        let mut q = self.tx.lock();
        if q.receiver_gone {
            return Ok(());
        }
        if q.packets.len() >= q.capacity {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut buf = q.spare.pop().unwrap_or_default();
        if buf.len() < packet.len() {
            buf.resize(packet.len(), 0);
        }
        buf[..packet.len()].copy_from_slice(packet);
        q.packets.push_back((buf, packet.len()));
        let reader = q.reader.take();
        drop(q);
        if let Some(w) = reader {
            w.wake();
        }
        Ok(())
    }

    fn send_from(&mut self, buf: &mut Vec<u8>, len: usize) -> io::Result<()> {
        let mut q = self.tx.lock();
        if q.receiver_gone {
            return Ok(());
        }
        if q.packets.len() >= q.capacity {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut spare = q.spare.pop().unwrap_or_default();
        if spare.len() < buf.len() {
            spare.resize(buf.len(), 0);
        }
        let packet = std::mem::replace(buf, spare);
        q.packets.push_back((packet, len));
        let reader = q.reader.take();
        drop(q);
        if let Some(w) = reader {
            w.wake();
        }
        Ok(())
    }

    fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut q = self.rx.lock();
        if !q.packets.is_empty() {
            return Poll::Ready(Ok(()));
        }
        q.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_writable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut q = self.tx.lock();
        if q.receiver_gone || q.packets.len() < q.capacity {
            return Poll::Ready(Ok(()));
        }
        q.writer = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for MemoryDevice {
    fn drop(&mut self) {
        let mut q = self.rx.lock();
        q.receiver_gone = true;
        q.packets.clear();
        let writer = q.writer.take();
        drop(q);
        if let Some(w) = writer {
            w.wake();
        }
    }
}
