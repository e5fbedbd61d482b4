//! [`Net`]: the handle shared by the driver, listeners and streams.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use atomic_waker::AtomicWaker;
use sanstcp::link::{Interface, LinkConfig};
use sanstcp::{CloseReason, ConnId, ConnInfo, Instant, ListenerId, Stack, Stats};

use crate::device::Device;
use crate::driver::Driver;

/// What a stream task waits for on one connection.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    pub read: Option<Waker>,
    pub write: Option<Waker>,
    /// The active open completed (or the connection came from `accept`).
    pub connected: bool,
    /// The connection ended, and why.
    pub closed: Option<CloseReason>,
}

/// Everything behind the lock.
#[derive(Debug)]
pub(crate) struct Inner {
    pub stack: Stack,
    /// The link layer, when the device carries Ethernet frames.
    pub iface: Option<Interface>,
    pub conns: HashMap<ConnId, Slot>,
    pub listeners: HashMap<ListenerId, Vec<Waker>>,
    /// Why the driver stopped, once it has.
    pub failed: Option<(io::ErrorKind, String)>,
}

impl Inner {
    /// The error every call returns after the driver stopped.
    pub fn check(&self) -> io::Result<()> {
        match &self.failed {
            Some((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
            None => Ok(()),
        }
    }

    /// The earliest deadline of the stack (and of the link layer).
    pub fn deadline(&self) -> Option<Instant> {
        match &self.iface {
            Some(i) => i.poll_timeout(&self.stack),
            None => self.stack.poll_timeout(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// The driver's task: application calls that give the stack work wake it.
    pub driver: AtomicWaker,
    /// `sanstcp::Instant::ZERO` on the stack's clock.
    epoch: std::time::Instant,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the stack as consistent as any call leaves it
        // (the core never panics half-way through by design): keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Now, on the stack's clock.
    pub fn now(&self) -> Instant {
        let ns = self.epoch.elapsed().as_nanos();
        Instant::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    /// A stack deadline on the wall clock.
    pub fn wall(&self, at: Instant) -> std::time::Instant {
        self.epoch
            .checked_add(Duration::from_nanos(at.as_nanos()))
            .unwrap_or_else(|| self.epoch + Duration::from_secs(86_400 * 365))
    }
}

/// A handle on one stack run by a [`Driver`]: cheap to clone, `Send + Sync`. Listeners
/// ([`crate::TcpListener::bind`]) and streams ([`crate::TcpStream::connect`]) are made from
/// it. Every call locks the stack briefly; the packets a call causes go out when the driver
/// next runs (the call wakes it).
#[derive(Debug, Clone)]
pub struct Net {
    pub(crate) shared: Arc<Shared>,
}

impl Net {
    /// Puts `stack` on a device that carries bare IP packets (such as a
    /// [`crate::MemoryDevice`]). Spawn the returned [`Driver`] on any executor: nothing moves
    /// until it runs.
    pub fn new<D: Device>(stack: Stack, device: D) -> (Net, Driver<D>) {
        Net::build(stack, None, device)
    }

    /// Puts `stack` on a device that carries Ethernet frames (such as an
    /// [`crate::AsyncTap`]), with ARP and NDP configured by `link`. The stack's addresses
    /// are announced when the driver starts.
    pub fn ethernet<D: Device>(stack: Stack, link: LinkConfig, device: D) -> (Net, Driver<D>) {
        let mut iface = Interface::new(link);
        iface.announce(&stack);
        Net::build(stack, Some(iface), device)
    }

    fn build<D: Device>(stack: Stack, iface: Option<Interface>, device: D) -> (Net, Driver<D>) {
        let tx_len = match &iface {
            Some(i) => i.frame_buffer_len(&stack),
            None => stack.config().mtu,
        };
        let net = Net {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    stack,
                    iface,
                    conns: HashMap::new(),
                    listeners: HashMap::new(),
                    failed: None,
                }),
                driver: AtomicWaker::new(),
                epoch: std::time::Instant::now(),
            }),
        };
        let driver = Driver::new(net.shared.clone(), device, tx_len);
        (net, driver)
    }

    /// Now, on the stack's clock (nanoseconds since the handle was made).
    pub fn now(&self) -> Instant {
        self.shared.now()
    }

    /// Runs `f` on the stack, for calls this crate does not wrap (`set_keepalive`, ...).
    /// Packets it causes go out when the driver next runs, which this wakes.
    pub fn with_stack<R>(&self, f: impl FnOnce(&mut Stack) -> R) -> R {
        let r = f(&mut self.shared.lock().stack);
        self.shared.driver.wake();
        r
    }

    /// The stack's counters.
    pub fn stats(&self) -> Stats {
        self.shared.lock().stack.stats().clone()
    }

    /// Connections the stack holds in any state (TIME-WAIT and not yet released included).
    pub fn connection_count(&self) -> usize {
        self.shared.lock().stack.connection_count()
    }

    /// A snapshot of a connection, `None` when stale.
    pub fn info(&self, conn: ConnId) -> Option<ConnInfo> {
        self.shared.lock().stack.info(conn)
    }

    /// The stack's addresses.
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.shared.lock().stack.config().addresses.clone()
    }

    /// Whether the driver has stopped (after a device error); every call then fails.
    pub fn is_stopped(&self) -> bool {
        self.shared.lock().failed.is_some()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // The last handle going away lets the driver finish once the stack is idle.
        self.shared.driver.wake();
    }
}

/// Stores `waker` unless the same task's waker is already there.
pub(crate) fn store(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

/// The error a connection that ended with `reason` reports.
pub(crate) fn reason_error(reason: CloseReason) -> io::Error {
    let (kind, msg) = match reason {
        CloseReason::Normal => (io::ErrorKind::NotConnected, "the connection is closed"),
        CloseReason::Reset => (
            io::ErrorKind::ConnectionReset,
            "the connection was reset by the peer",
        ),
        CloseReason::TimedOut => (io::ErrorKind::TimedOut, "the connection timed out"),
        CloseReason::Refused => (
            io::ErrorKind::ConnectionRefused,
            "the connection was refused",
        ),
        CloseReason::Aborted => (
            io::ErrorKind::ConnectionAborted,
            "the connection was aborted",
        ),
    };
    io::Error::new(kind, msg)
}
