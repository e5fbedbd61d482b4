//! smoltcp as a [`sanstcp::sim::Node`]: one `Interface` (`Medium::Ip`) with its sockets, fed
//! packets and time the same way a sanstcp `Stack` is.
//!
//! Packets move without extra copies where smoltcp allows it: an arriving packet is handed to
//! `poll_ingress_single` straight from the caller's slice, and `poll_transmit` runs
//! `poll_egress` with a device whose first transmit token writes into the caller's buffer.
//! Anything else smoltcp emits in the same call (replies generated while processing input,
//! segments of further sockets in one egress pass) waits in a small queue of reused buffers.
//! Checksums are computed and verified in software (the default `ChecksumCapabilities`).

use std::any::Any;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use sanstcp::sim::Node;
use sanstcp::Instant;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint};

/// sanstcp time (ns) to smoltcp time (µs, truncated).
pub fn to_smol(now: Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros((now.as_nanos() / 1000) as i64)
}

/// smoltcp time (µs) to sanstcp time.
pub fn from_smol(t: smoltcp::time::Instant) -> Instant {
    Instant::from_micros(t.total_micros().max(0) as u64)
}

/// Packets waiting to leave, plus spare buffers to build the next ones in.
#[derive(Default)]
struct TxQueue {
    packets: VecDeque<Vec<u8>>,
    spare: Vec<Vec<u8>>,
}

impl TxQueue {
    fn push_with<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.resize(len, 0);
        let r = f(&mut buf);
        self.packets.push_back(buf);
        r
    }

    /// Copies the oldest queued packet into `out`; returns its length.
    fn pop_into(&mut self, out: &mut [u8]) -> Option<usize> {
        let p = self.packets.pop_front()?;
        let n = p.len();
        let r = out.get_mut(..n).map(|dst| dst.copy_from_slice(&p));
        if self.spare.len() < 64 {
            self.spare.push(p);
        }
        // A packet larger than the simulator's buffer is reported with its length, which the
        // simulator counts as malformed.
        Some(if r.is_some() { n } else { out.len() + 1 })
    }
}

fn capabilities(mtu: usize) -> DeviceCapabilities {
    let mut caps = DeviceCapabilities::default();
    caps.medium = Medium::Ip;
    caps.max_transmission_unit = mtu;
    caps.max_burst_size = None;
    caps
}

/// Receive side of the device: yields at most one packet (a borrowed slice); replies go to
/// the queue.
struct IngressDevice<'p, 'q> {
    packet: Option<&'p [u8]>,
    queue: &'q mut TxQueue,
    mtu: usize,
}

struct SliceRx<'p>(&'p [u8]);

impl RxToken for SliceRx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

struct QueueTx<'q>(&'q mut TxQueue);

impl TxToken for QueueTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        self.0.push_with(len, f)
    }
}

impl<'p> Device for IngressDevice<'p, '_> {
    type RxToken<'a>
        = SliceRx<'p>
    where
        Self: 'a;
    type TxToken<'a>
        = QueueTx<'a>
    where
        Self: 'a;

    fn receive(
        &mut self,
        _now: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let p = self.packet.take()?;
        Some((SliceRx(p), QueueTx(self.queue)))
    }

    fn transmit(&mut self, _now: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        Some(QueueTx(self.queue))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        capabilities(self.mtu)
    }
}

/// Transmit side of the device: the first packet goes straight into `out`, later ones to the
/// queue. Receives nothing.
struct EgressDevice<'o, 'q> {
    out: &'o mut [u8],
    written: Option<usize>,
    queue: &'q mut TxQueue,
    mtu: usize,
}

enum EgressTx<'a> {
    Direct {
        out: &'a mut [u8],
        written: &'a mut Option<usize>,
        queue: &'a mut TxQueue,
    },
    Queue(&'a mut TxQueue),
}

impl TxToken for EgressTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        match self {
            EgressTx::Direct {
                out,
                written,
                queue,
            } => match out.get_mut(..len) {
                Some(dst) => {
                    *written = Some(len);
                    f(dst)
                }
                None => queue.push_with(len, f),
            },
            EgressTx::Queue(q) => q.push_with(len, f),
        }
    }
}

/// Never constructed: the egress device receives nothing.
enum NoRx {}

impl RxToken for NoRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, _f: F) -> R {
        match self {}
    }
}

impl Device for EgressDevice<'_, '_> {
    type RxToken<'a>
        = NoRx
    where
        Self: 'a;
    type TxToken<'a>
        = EgressTx<'a>
    where
        Self: 'a;

    fn receive(
        &mut self,
        _now: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        None
    }

    fn transmit(&mut self, _now: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        // The first token writes into `out`; every later one is queued.
        if self.written.is_none() {
            Some(EgressTx::Direct {
                out: self.out,
                written: &mut self.written,
                queue: self.queue,
            })
        } else {
            Some(EgressTx::Queue(self.queue))
        }
    }

    fn capabilities(&self) -> DeviceCapabilities {
        capabilities(self.mtu)
    }
}

/// One smoltcp interface with its sockets, usable as a simulator node.
pub struct SmoltcpNode {
    iface: Interface,
    sockets: SocketSet<'static>,
    queue: TxQueue,
    address: Ipv4Addr,
    mtu: usize,
    /// The latest time any call passed in.
    now: Instant,
    /// When `poll_transmit` must run again; recomputed from `poll_at` whenever an egress pass
    /// produced nothing.
    next: Option<Instant>,
    /// Times `poll_at` asked for a poll at or before the instant at which an egress pass had
    /// just produced nothing (smoltcp would spin); the deadline is then pushed 1 µs on.
    pub stuck_polls: u64,
}

impl SmoltcpNode {
    /// An interface owning `address/prefix` with an IP MTU of `mtu`; `seed` feeds smoltcp's
    /// random numbers (ISNs).
    pub fn new(address: Ipv4Addr, prefix: u8, mtu: usize, seed: u64) -> SmoltcpNode {
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = seed;
        let mut queue = TxQueue::default();
        let mut dev = IngressDevice {
            packet: None,
            queue: &mut queue,
            mtu,
        };
        let mut iface = Interface::new(config, &mut dev, to_smol(Instant::ZERO));
        iface.update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(IpAddress::Ipv4(address), prefix))
                .expect("one address fits");
        });
        SmoltcpNode {
            iface,
            sockets: SocketSet::new(Vec::new()),
            queue,
            address,
            mtu,
            now: Instant::ZERO,
            next: None,
            stuck_polls: 0,
        }
    }

    /// Adds a TCP socket with the given buffer sizes and congestion control.
    pub fn add_tcp(
        &mut self,
        rx_buffer: usize,
        tx_buffer: usize,
        cc: tcp::CongestionControl,
    ) -> SocketHandle {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0u8; rx_buffer]),
            tcp::SocketBuffer::new(vec![0u8; tx_buffer]),
        );
        s.set_congestion_control(cc);
        self.sockets.add(s)
    }

    /// Starts listening on `port` with socket `h`.
    pub fn listen(&mut self, h: SocketHandle, port: u16) {
        self.tcp(h).listen(port).expect("listen");
    }

    /// Opens a connection from `local_port` to `remote` with socket `h`.
    pub fn connect(&mut self, h: SocketHandle, remote: SocketAddr, local_port: u16) {
        let IpAddr::V4(v4) = remote.ip() else {
            panic!("IPv4 only");
        };
        let endpoint = IpEndpoint::new(IpAddress::Ipv4(v4), remote.port());
        let cx = self.iface.context();
        self.sockets
            .get_mut::<tcp::Socket>(h)
            .connect(cx, endpoint, local_port)
            .expect("connect");
    }

    /// Socket `h`, for the application. Whoever drives the node calls `poll_transmit` after
    /// using it (the simulator does after any mutable borrow), which also renews the deadline.
    pub fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }

    /// Socket `h`, read-only.
    pub fn tcp_ref(&self, h: SocketHandle) -> &tcp::Socket<'static> {
        self.sockets.get::<tcp::Socket>(h)
    }
}

impl Node for SmoltcpNode {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.now = self.now.max(now);
        let mut dev = IngressDevice {
            packet: Some(packet),
            queue: &mut self.queue,
            mtu: self.mtu,
        };
        self.iface
            .poll_ingress_single(to_smol(self.now), &mut dev, &mut self.sockets);
        // The packet may have opened the window or asked for an ACK: egress runs at the next
        // poll_transmit, which also recomputes the deadline.
        self.next = Some(self.now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        // smoltcp's timers act during egress; poll_transmit follows.
        self.now = self.now.max(now);
        self.next = Some(self.now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.now = self.now.max(now);
        if let Some(n) = self.queue.pop_into(buf) {
            return Some(n);
        }
        let ts = to_smol(self.now);
        let mut dev = EgressDevice {
            out: buf,
            written: None,
            queue: &mut self.queue,
            mtu: self.mtu,
        };
        self.iface.poll_egress(ts, &mut dev, &mut self.sockets);
        if let Some(n) = dev.written {
            return Some(n);
        }
        // Nothing went out directly; a queued packet cannot exist without a direct one before
        // it, but take one if it does.
        if let Some(n) = self.queue.pop_into(buf) {
            return Some(n);
        }
        let at = self.iface.poll_at(ts, &self.sockets).map(from_smol);
        self.next = match at {
            Some(t) if t <= self.now => {
                self.stuck_polls += 1;
                Some(Instant::from_micros(self.now.as_nanos() / 1000 + 1))
            }
            other => other,
        };
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }

    fn addresses(&self) -> Vec<IpAddr> {
        vec![IpAddr::V4(self.address)]
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
