//! The driver: one future per stack that moves packets between the device and the stack,
//! runs its timers, and wakes the tasks its events concern.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use async_io::Timer;
use sanstcp::{Event, Instant};

use crate::device::Device;
use crate::net::{Inner, Shared};

/// Packets read from the device, and packets written to it, per poll of the driver at most.
/// Past either, the driver yields to the executor (and asks to run again at once), so that a
/// busy stack does not starve the tasks that share its thread.
pub const BUDGET: usize = 64;

/// Counters of a [`Driver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DriverStats {
    /// Times the driver was polled.
    pub polls: u64,
    /// Polls that used up a budget and yielded.
    pub yields: u64,
    /// Packets read from the device.
    pub packets_in: u64,
    /// Packets written to the device.
    pub packets_out: u64,
    /// Writes the device refused with `WouldBlock` (the packet was kept and sent later).
    pub writes_blocked: u64,
    /// Packets lost because the device refused them with another error.
    pub write_errors: u64,
}

/// The future that runs one stack: spawn it (`smol::spawn`, `tokio::spawn`, ...) or poll it
/// alongside the application. Each poll:
///
/// 1. writes the packet the device refused last time, if any;
/// 2. reads up to [`BUDGET`] packets and hands them to the stack;
/// 3. runs the stack's due timers;
/// 4. writes up to [`BUDGET`] packets the stack has to send;
/// 5. turns the stack's events into wake-ups of the tasks waiting on those connections;
/// 6. waits for the device (readable, or writable while a packet waits), for an
///    `async_io::Timer` set to the stack's next deadline, and for application calls.
///
/// It completes with `Ok(())` once every [`crate::Net`] handle (and so every listener and
/// stream) is gone and the stack holds no connection, or with the device's error; after an
/// error every call on the handles fails with it. Dropping the driver stops the stack: the
/// handles then wait forever.
#[derive(Debug)]
pub struct Driver<D> {
    shared: Arc<Shared>,
    device: D,
    timer: Timer,
    timer_at: Option<std::time::Instant>,
    rx: Vec<u8>,
    tx: Vec<u8>,
    /// A packet the device would not take; it goes before anything else.
    pending: Option<Vec<u8>>,
    wake: Vec<Waker>,
    stats: DriverStats,
}

impl<D: Device> Driver<D> {
    pub(crate) fn new(shared: Arc<Shared>, device: D, tx_len: usize) -> Driver<D> {
        Driver {
            shared,
            device,
            timer: Timer::never(),
            timer_at: None,
            rx: vec![0u8; tx_len + 64],
            tx: vec![0u8; tx_len],
            pending: None,
            wake: Vec::new(),
            stats: DriverStats::default(),
        }
    }

    /// The driver's counters.
    pub fn stats(&self) -> DriverStats {
        self.stats
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// One turn; `Ok(true)` when a budget ran out and the driver should run again at once.
    fn turn(&mut self, inner: &mut Inner) -> io::Result<bool> {
        let mut more = false;
        let now = self.shared.now();

        if let Some(packet) = self.pending.take() {
            if !self.write(&packet)? {
                self.pending = Some(packet);
            }
        }

        let mut read = 0;
        loop {
            if read == BUDGET {
                more = true;
                break;
            }
            let iface = &mut inner.iface;
            let stack = &mut inner.stack;
            let mut handle = |packet: &[u8]| match iface {
                Some(iface) => {
                    iface.handle_frame(now, stack, packet);
                }
                None => {
                    stack.handle_packet(now, packet);
                }
            };
            match self.device.recv_with(&mut self.rx, &mut handle) {
                Ok(()) => read += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.stats.packets_in += read as u64;

        if inner.deadline().is_some_and(|d| d <= now) {
            match &mut inner.iface {
                Some(iface) => iface.handle_timeout(now, &mut inner.stack),
                None => inner.stack.handle_timeout(now),
            }
        }

        let mut written = 0;
        while self.pending.is_none() {
            if written == BUDGET {
                more = true;
                break;
            }
            let len = match &mut inner.iface {
                Some(iface) => iface.poll_frame(now, &mut inner.stack, &mut self.tx),
                None => inner.stack.poll_transmit(now, &mut self.tx).map(|t| t.len),
            };
            let Some(len) = len else { break };
            if !self.write_tx(len)? {
                self.pending = Some(self.tx[..len].to_vec());
            }
            written += 1;
        }

        while let Some(ev) = inner.stack.poll_event() {
            self.dispatch(inner, ev);
        }
        Ok(more)
    }

    /// One write: `Ok(true)` written (or lost to an error that is not fatal), `Ok(false)`
    /// the device would block.
    fn write(&mut self, packet: &[u8]) -> io::Result<bool> {
        loop {
            match self.device.send(packet) {
                Ok(()) => {
                    self.stats.packets_out += 1;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stats.writes_blocked += 1;
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // EIO while the link is down, EINVAL for a frame the kernel refuses:
                    // the packet is lost, as on a real wire; TCP retransmits.
                    self.stats.write_errors += 1;
                    return Ok(true);
                }
            }
        }
    }

    /// Writes `self.tx[..len]` (which the device may swap for another buffer), like
    /// [`Driver::write`].
    fn write_tx(&mut self, len: usize) -> io::Result<bool> {
        loop {
            match self.device.send_from(&mut self.tx, len) {
                Ok(()) => {
                    self.stats.packets_out += 1;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stats.writes_blocked += 1;
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.stats.write_errors += 1;
                    return Ok(true);
                }
            }
        }
    }

    /// Records an event in the waker tables and collects the tasks to wake.
    fn dispatch(&mut self, inner: &mut Inner, ev: Event) {
        let wake = &mut self.wake;
        let mut conn = |c, read: bool, write: bool, f: &dyn Fn(&mut crate::net::Slot)| {
            if let Some(slot) = inner.conns.get_mut(&c) {
                f(slot);
                if read {
                    wake.extend(slot.read.take());
                }
                if write {
                    wake.extend(slot.write.take());
                }
            }
        };
        match ev {
            Event::Connected { conn: c } => conn(c, false, true, &|s| s.connected = true),
            Event::Readable { conn: c } | Event::PeerClosed { conn: c } => {
                conn(c, true, false, &|_| {})
            }
            Event::Writable { conn: c } => conn(c, false, true, &|_| {}),
            Event::Closed { conn: c, reason } => conn(c, true, true, &|s| s.closed = Some(reason)),
            Event::Incoming { listener } => {
                if let Some(waiting) = inner.listeners.get_mut(&listener) {
                    wake.append(waiting);
                }
            }
            Event::StateChanged { .. } => {}
        }
    }

    /// Stops after a device error: every waiting task learns it.
    fn fail(&mut self, inner: &mut Inner, e: &io::Error) {
        inner.failed = Some((e.kind(), format!("the sanstcp driver stopped: {e}")));
        for slot in inner.conns.values_mut() {
            self.wake.extend(slot.read.take());
            self.wake.extend(slot.write.take());
        }
        for waiting in inner.listeners.values_mut() {
            self.wake.append(waiting);
        }
    }

    /// Sets the timer to the stack's deadline and polls it; true when it already fired.
    fn poll_timer(&mut self, deadline: Option<Instant>, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = deadline else {
            if self.timer_at.take().is_some() {
                self.timer = Timer::never();
            }
            return false;
        };
        let at = self.shared.wall(deadline);
        // Re-arming the reactor's timer costs a wake-up of the reactor: only move it earlier.
        // One that fires before the (later) deadline just gets set again.
        if self.timer_at.is_none_or(|t| at < t) {
            self.timer.set_at(at);
            self.timer_at = Some(at);
        }
        match Pin::new(&mut self.timer).poll(cx) {
            Poll::Ready(_) => {
                self.timer_at = None;
                true
            }
            Poll::Pending => false,
        }
    }
}

// The driver never pins its fields.
impl<D> Unpin for Driver<D> {}

impl<D: Device> Future for Driver<D> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.stats.polls += 1;
        this.shared.driver.register(cx.waker());
        let shared = this.shared.clone();
        let mut inner = shared.lock();
        if let Err(e) = inner.check() {
            return Poll::Ready(Err(e));
        }
        let result = this.turn(&mut inner);
        let deadline = inner.deadline();
        let idle = inner.stack.connection_count() == 0 && this.pending.is_none();
        if let Err(e) = &result {
            this.fail(&mut inner, e);
        }
        drop(inner);
        for w in this.wake.drain(..) {
            w.wake();
        }
        let more = match result {
            Ok(more) => more,
            Err(e) => return Poll::Ready(Err(e)),
        };
        // Only the driver holds the state: nobody can use the stack any more.
        if idle && Arc::strong_count(&this.shared) == 1 {
            return Poll::Ready(Ok(()));
        }
        if more {
            this.stats.yields += 1;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let mut again = this.poll_timer(deadline, cx);
        match this.device.poll_readable(cx) {
            Poll::Ready(Ok(())) => again = true,
            Poll::Ready(Err(e)) => {
                let mut inner = shared.lock();
                this.fail(&mut inner, &e);
                drop(inner);
                for w in this.wake.drain(..) {
                    w.wake();
                }
                return Poll::Ready(Err(e));
            }
            Poll::Pending => {}
        }
        if this.pending.is_some() && this.device.poll_writable(cx).is_ready() {
            again = true;
        }
        if again {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}
