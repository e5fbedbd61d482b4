//! The event loop: a [`Stack`] and its [`Interface`] on a [`TapDevice`], driven by mio.
//!
//! One call to [`Driver::poll`] is one turn of the loop:
//!
//! 1. write what the stack has to send ([`Interface::poll_frame`]), keeping the frame the
//!    device would not take (it goes first next time, when the device is writable again);
//! 2. sleep in mio until the device is readable, the earliest deadline of the stack, the
//!    interface and the fault injector's timer queue, or the caller's timeout;
//! 3. read frames until the device would block (at most [`DriverConfig::read_budget`] per
//!    turn, so that output and timers are never starved) and feed each through the fault
//!    injector and [`Interface::handle_frame`] into the stack;
//! 4. run due timers, write again, and hand the stack's events to the caller.
//!
//! Application calls ([`Driver::connect`], [`Driver::write`], ...) act on the stack at
//! once; the packets they cause go out at the start of the next `poll`.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use mio::{Events, Interest, Poll, Token};
use sanstcp::link::{Interface, LinkConfig, LinkStats};
use sanstcp::{
    ConnId, ConnInfo, ConnectOptions, Event, Instant, ListenOptions, ListenerId, Stack, Stats,
};

use crate::device::TapDevice;
use crate::fault::{Direction, FaultConfig, FaultStats, Faults};
use crate::offload::{
    transport_checksum_ok, Coalescer, Offload, OffloadConfig, OffloadStats, Vouched, VNET_HDR_LEN,
};
use crate::pcap::PcapWriter;

const DEVICE: Token = Token(0);

/// Largest read from a device with `IFF_VNET_HDR`: a 64 KiB TCP super-frame, its headers and
/// the `virtio_net_hdr`.
const OFFLOAD_READ_LEN: usize = 65_536 + 256;

/// Options of a [`Driver`].
#[derive(Debug)]
pub struct DriverConfig {
    /// Faults to inject in both directions (none by default).
    pub faults: FaultConfig,
    /// Where to record every frame the stack receives (after fault injection) and sends
    /// (before it).
    pub pcap: Option<PcapWriter>,
    /// Frames read per turn of the loop before output and timers get their turn.
    pub read_budget: usize,
    /// Announce the stack's addresses when the driver starts (gratuitous ARP, unsolicited
    /// Neighbor Advertisements).
    pub announce: bool,
    /// With `IFF_VNET_HDR` (and no fault injection): frames taken from the interface per
    /// batch, in which consecutive TCP segments are merged into super-frames for the
    /// kernel's segmentation offload ([`Coalescer`]).
    pub tx_batch: usize,
    /// Receive checksum offload: the driver verifies checksums in the stack's place, and
    /// skips the frames the kernel vouches for (with `IFF_VNET_HDR`: see
    /// [`Vouched`]), as a NIC's receive checksum offload does. It takes effect only for a
    /// stack built with `StackConfig::verify_checksums` off (one that verifies checks every
    /// frame anyway); the driver then checks the TCP and ICMPv6 checksums such a stack skips
    /// ([`transport_checksum_ok`]), drops the frames that fail and counts them in
    /// [`DriverStats::bad_checksums`]. With fault injection, which may corrupt a frame after
    /// the kernel vouched for it, every frame is checked, after the faults.
    pub checksum_offload: bool,
}

impl Default for DriverConfig {
    fn default() -> DriverConfig {
        DriverConfig {
            faults: FaultConfig::default(),
            pcap: None,
            read_budget: 256,
            announce: true,
            tx_batch: 64,
            checksum_offload: false,
        }
    }
}

/// Counters of the device side of a [`Driver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DriverStats {
    /// Reads from the device that returned a frame.
    pub frames_read: u64,
    /// Bytes of those reads (without `virtio_net_hdr`).
    pub bytes_read: u64,
    /// Frames written to the device.
    pub frames_written: u64,
    /// Bytes written (without `virtio_net_hdr`).
    pub bytes_written: u64,
    /// Writes the device refused with `WouldBlock` (the frame was kept and sent later).
    pub writes_blocked: u64,
    /// Frames dropped because the device refused them with an error other than
    /// `WouldBlock` (for example while the interface is down), or because a frame the fault
    /// injector held back came due while the device was full.
    pub write_errors: u64,
    /// Turns of the loop ([`Driver::poll`] calls).
    pub turns: u64,
    /// Super-frames (of two segments or more) handed to the device for segmentation
    /// offload (see [`DriverConfig::tx_batch`]).
    pub super_frames: u64,
    /// Segments the stack sent that went into those super-frames.
    pub frames_coalesced: u64,
    /// Frames dropped because their checksum was wrong, when the driver verifies checksums
    /// ([`DriverConfig::checksum_offload`]).
    pub bad_checksums: u64,
}

/// Everything a frame passes through between the device and the stack.
#[derive(Debug)]
struct Path {
    stack: Stack,
    iface: Interface,
    faults: Option<Faults>,
    pcap: Option<PcapWriter>,
    pcap_failed: bool,
    /// The driver verifies checksums (see [`DriverConfig::checksum_offload`]).
    verify: bool,
    /// Frames dropped for a bad checksum.
    bad_checksums: u64,
}

impl Path {
    /// A frame from the device: fault injection, then the stack.
    fn inbound(&mut self, now: Instant, frame: &mut [u8], vouched: Vouched) {
        let copies = match &mut self.faults {
            Some(f) => f.apply(Direction::Inbound, now, frame),
            None => 1,
        };
        for _ in 0..copies {
            self.deliver(now, frame, vouched);
        }
    }

    /// Hands a frame to the interface (and the capture), after checking its checksum when
    /// the driver verifies checksums and nobody vouches for the frame as it is now (a fault
    /// may have corrupted it since the kernel did).
    fn deliver(&mut self, now: Instant, frame: &[u8], vouched: Vouched) {
        self.record(frame);
        let trusted = vouched.0 && self.faults.is_none();
        if self.verify && !trusted && !transport_checksum_ok(frame) {
            self.bad_checksums += 1;
            tracing::trace!(len = frame.len(), "frame in: bad checksum");
            return;
        }
        let result = self.iface.handle_frame(now, &mut self.stack, frame);
        tracing::trace!(len = frame.len(), ?result, "frame in");
    }

    fn record(&mut self, frame: &[u8]) {
        if let Some(pcap) = &mut self.pcap {
            if let Err(e) = pcap.record(SystemTime::now(), frame) {
                if !self.pcap_failed {
                    tracing::error!("cannot write the pcap file, capture stopped: {e}");
                    self.pcap_failed = true;
                }
                self.pcap = None;
            }
        }
    }
}

/// A sans-IO stack on a TAP device, run by a mio event loop. See the module documentation.
#[derive(Debug)]
pub struct Driver {
    poll: Poll,
    events: Events,
    device: TapDevice,
    path: Path,
    offload: Option<Offload>,
    epoch: std::time::Instant,
    rx: Vec<u8>,
    tx: Vec<u8>,
    /// Writes the device would not take, as they go to the device (with the
    /// `virtio_net_hdr` when enabled); they go before anything else.
    pending: VecDeque<Vec<u8>>,
    /// Merges outgoing TCP segments into super-frames (with `IFF_VNET_HDR`, without faults).
    coalescer: Option<Coalescer>,
    tx_batch: usize,
    /// The device may have frames to read (mio is edge-triggered: true from a readable event
    /// until a read would block).
    readable: bool,
    read_budget: usize,
    stats: DriverStats,
    write_error_logged: bool,
}

impl Driver {
    /// Puts `stack` on `device` with a link layer configured by `link`, and registers the
    /// device with a new mio poll.
    pub fn new(
        device: TapDevice,
        stack: Stack,
        link: LinkConfig,
        config: DriverConfig,
    ) -> io::Result<Driver> {
        let poll = Poll::new()?;
        let mut device = device;
        poll.registry()
            .register(&mut device, DEVICE, Interest::READABLE | Interest::WRITABLE)?;
        let mut iface = Interface::new(link);
        if config.announce {
            iface.announce(&stack);
        }
        let tx = vec![0u8; iface.frame_buffer_len(&stack)];
        let rx_len = if device.vnet_hdr() {
            OFFLOAD_READ_LEN
        } else {
            // Room for the largest frame the MTU allows plus VLAN tags and slack; larger
            // frames are truncated by the kernel and then dropped by the parsers.
            tx.len() + 64
        };
        let faults = config
            .faults
            .is_active()
            .then(|| Faults::new(config.faults));
        let verify = config.checksum_offload && !stack.config().verify_checksums;
        // Without faults, frames go to the stack as the kernel made them: super-frames whole,
        // and (when the driver verifies checksums) partial checksums left alone. The fault
        // injector stands for a wire, on which segments travel one by one with their
        // checksums.
        let offload = device.vnet_hdr().then(|| {
            Offload::with_config(OffloadConfig {
                whole_super_frames: faults.is_none(),
                keep_partial_checksums: verify && faults.is_none(),
            })
        });
        // The fault injector works on single frames (and corrupts them after their
        // checksums were computed); merging would hide that, so it turns coalescing off.
        let coalescer = (device.vnet_hdr() && faults.is_none()).then(Coalescer::new);
        Ok(Driver {
            poll,
            events: Events::with_capacity(16),
            device,
            path: Path {
                stack,
                iface,
                faults,
                pcap: config.pcap,
                pcap_failed: false,
                verify,
                bad_checksums: 0,
            },
            offload,
            epoch: std::time::Instant::now(),
            rx: vec![0u8; rx_len],
            tx,
            pending: VecDeque::new(),
            coalescer,
            tx_batch: config.tx_batch.max(1),
            readable: true,
            read_budget: config.read_budget.max(1),
            stats: DriverStats::default(),
            write_error_logged: false,
        })
    }

    /// The current time on the stack's clock (nanoseconds since the driver started).
    pub fn now(&self) -> Instant {
        let ns = self.epoch.elapsed().as_nanos();
        Instant::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    /// The stack, for calls this type does not wrap.
    pub fn stack(&self) -> &Stack {
        &self.path.stack
    }

    /// The stack, mutably. Packets that calls on it produce go out on the next [`Driver::poll`].
    pub fn stack_mut(&mut self) -> &mut Stack {
        &mut self.path.stack
    }

    /// The link layer (neighbor cache, counters).
    pub fn interface(&self) -> &Interface {
        &self.path.iface
    }

    /// The device.
    pub fn device(&self) -> &TapDevice {
        &self.device
    }

    /// Device-side counters.
    pub fn stats(&self) -> &DriverStats {
        &self.stats
    }

    /// The stack's counters.
    pub fn stack_stats(&self) -> &Stats {
        self.path.stack.stats()
    }

    /// The link layer's counters.
    pub fn link_stats(&self) -> &LinkStats {
        self.path.iface.stats()
    }

    /// Fault-injection counters of one direction, when faults are configured.
    pub fn fault_stats(&self, direction: Direction) -> Option<FaultStats> {
        self.path.faults.as_ref().map(|f| *f.stats(direction))
    }

    /// Offload counters, when the device uses `IFF_VNET_HDR`.
    pub fn offload_stats(&self) -> Option<OffloadStats> {
        self.offload.as_ref().map(|o| *o.stats())
    }

    // ---- the application API ------------------------------------------------------------

    /// Listens on `local` (an unspecified address listens on all of the stack's addresses of
    /// that family) with the default backlog.
    pub fn listen(&mut self, local: SocketAddr) -> io::Result<ListenerId> {
        Ok(self.path.stack.listen(local, ListenOptions::default())?)
    }

    /// Listens with explicit options.
    pub fn listen_with(
        &mut self,
        local: SocketAddr,
        opts: ListenOptions,
    ) -> io::Result<ListenerId> {
        Ok(self.path.stack.listen(local, opts)?)
    }

    /// Takes the next established connection of a listener (after [`Event::Incoming`]).
    pub fn accept(&mut self, listener: ListenerId) -> Option<ConnId> {
        self.path.stack.accept(listener)
    }

    /// Opens a connection to `remote`; [`Event::Connected`] follows (or [`Event::Closed`]).
    pub fn connect(&mut self, remote: SocketAddr) -> io::Result<ConnId> {
        self.connect_with(remote, ConnectOptions::default())
    }

    /// Opens a connection with explicit options.
    pub fn connect_with(&mut self, remote: SocketAddr, opts: ConnectOptions) -> io::Result<ConnId> {
        let now = self.now();
        Ok(self.path.stack.connect(now, remote, opts)?)
    }

    /// Reads received data: `Ok(0)` is end of stream, `WouldBlock` means wait for
    /// [`Event::Readable`].
    pub fn read(&mut self, conn: ConnId, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.path.stack.recv(conn, buf)?)
    }

    /// Queues data to send and returns how much was taken; fewer bytes than offered (or
    /// `WouldBlock`) means wait for [`Event::Writable`].
    pub fn write(&mut self, conn: ConnId, data: &[u8]) -> io::Result<usize> {
        Ok(self.path.stack.send(conn, data)?)
    }

    /// Half-closes: a FIN follows the queued data; reading goes on.
    pub fn shutdown(&mut self, conn: ConnId) -> io::Result<()> {
        Ok(self.path.stack.shutdown(conn)?)
    }

    /// Closes gracefully and releases the id (the stack finishes the close on its own).
    pub fn close(&mut self, conn: ConnId) {
        self.path.stack.close(conn);
    }

    /// Resets the connection and releases the id.
    pub fn abort(&mut self, conn: ConnId) {
        self.path.stack.abort(conn);
    }

    /// A snapshot of a connection (state, sequence numbers, windows, RTT), `None` when stale.
    pub fn info(&self, conn: ConnId) -> Option<ConnInfo> {
        self.path.stack.info(conn)
    }

    // ---- the loop -------------------------------------------------------------------------

    /// One turn of the event loop (see the module documentation): returns after at most
    /// `timeout` (`None`: only when something happened), with the stack's events appended
    /// to `events`. A signal interrupting the wait is not an error: the call returns early.
    pub fn poll(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()> {
        self.stats.turns += 1;
        self.flush()?;
        let before = events.len();
        self.drain_events(events);

        let now = self.now();
        let mut wait = timeout;
        if let Some(deadline) = self.deadline() {
            let until = deadline.saturating_duration_since(now);
            wait = Some(wait.map_or(until, |w| w.min(until)));
        }
        if events.len() > before || self.readable {
            wait = Some(Duration::ZERO);
        }
        match self.poll.poll(&mut self.events, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        for ev in self.events.iter() {
            if ev.token() == DEVICE && (ev.is_readable() || ev.is_read_closed()) {
                self.readable = true;
            }
        }
        self.read_frames()?;
        self.run_timers();
        self.stats.bad_checksums = self.path.bad_checksums;
        self.flush()?;
        self.drain_events(events);
        Ok(())
    }

    /// The earliest deadline: the stack's and the interface's timers, the next held frame.
    fn deadline(&self) -> Option<Instant> {
        let link = self.path.iface.poll_timeout(&self.path.stack);
        let held = self.path.faults.as_ref().and_then(Faults::next_due);
        match (link, held) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn drain_events(&mut self, events: &mut Vec<Event>) {
        while let Some(ev) = self.path.stack.poll_event() {
            tracing::trace!(?ev, "event");
            events.push(ev);
        }
    }

    /// Reads up to the budget of frames, or until the device would block.
    fn read_frames(&mut self) -> io::Result<()> {
        let mut budget = self.read_budget;
        while self.readable && budget > 0 {
            let n = match self.device.recv(&mut self.rx) {
                Ok(0) => {
                    // A TAP device never reads empty; a socket standing in for one does when
                    // its peer is gone.
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{}: the device was closed", self.device.name()),
                    ));
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            budget -= 1;
            let now = self.now();
            self.stats.frames_read += 1;
            let path = &mut self.path;
            match &mut self.offload {
                Some(offload) => {
                    self.stats.bytes_read += n.saturating_sub(VNET_HDR_LEN) as u64;
                    let split = offload.split(&mut self.rx[..n], |f, v| path.inbound(now, f, v));
                    if let Err(e) = split {
                        tracing::debug!(
                            len = n,
                            "dropped a frame the offload layer cannot undo: {e:?}"
                        );
                    }
                }
                None => {
                    self.stats.bytes_read += n as u64;
                    path.inbound(now, &mut self.rx[..n], Vouched(false));
                }
            }
        }
        Ok(())
    }

    /// Releases the fault injector's due held frames (inbound ones to the stack, outbound
    /// ones to the device) and runs the stack's and the interface's due timers.
    fn run_timers(&mut self) {
        let now = self.now();
        let mut released = Vec::new();
        if let Some(faults) = &mut self.path.faults {
            while let Some(item) = faults.pop_due(now) {
                released.push(item);
            }
        }
        for (direction, frame) in released {
            match direction {
                Direction::Inbound => self.path.deliver(now, &frame, Vouched(false)),
                Direction::Outbound => self.write_frame(frame),
            }
        }
        let due = self
            .path
            .iface
            .poll_timeout(&self.path.stack)
            .is_some_and(|d| d <= now);
        if due {
            self.path.iface.handle_timeout(now, &mut self.path.stack);
        }
    }

    /// Writes the pending writes, then everything the stack has to send, until the device
    /// would block.
    fn flush(&mut self) -> io::Result<()> {
        while let Some(raw) = self.pending.pop_front() {
            if !self.try_write_raw(&raw)? {
                self.pending.push_front(raw);
                return Ok(());
            }
        }
        if self.coalescer.is_some() {
            return self.flush_coalesced();
        }
        let now = self.now();
        loop {
            let Some(len) = self
                .path
                .iface
                .poll_frame(now, &mut self.path.stack, &mut self.tx)
            else {
                return Ok(());
            };
            self.path.record(&self.tx[..len]);
            tracing::trace!(len, "frame out");
            let copies = match &mut self.path.faults {
                Some(f) => f.apply(Direction::Outbound, now, &mut self.tx[..len]),
                None => 1,
            };
            for _ in 0..copies {
                let frame = std::mem::take(&mut self.tx);
                let written = self.try_write(&frame[..len]);
                self.tx = frame;
                if !written? {
                    // The device is full: keep this frame (a second copy of a duplicate
                    // is simply lost) and stop pulling from the stack.
                    let raw = self.raw_frame(&self.tx[..len]);
                    self.pending.push_back(raw);
                    return Ok(());
                }
            }
        }
    }

    /// [`Driver::flush`] with segmentation offload: takes up to `tx_batch` frames from the
    /// interface at a time, merging runs of TCP segments into super-frames, and writes each
    /// batch as it closes. What the device would not take is kept whole in `pending`.
    fn flush_coalesced(&mut self) -> io::Result<()> {
        let now = self.now();
        loop {
            let mut taken = 0;
            let mut more = true;
            while taken < self.tx_batch {
                let Some(len) = self
                    .path
                    .iface
                    .poll_frame(now, &mut self.path.stack, &mut self.tx)
                else {
                    more = false;
                    break;
                };
                taken += 1;
                self.path.record(&self.tx[..len]);
                tracing::trace!(len, "frame out");
                if self.push_out(len) {
                    continue;
                }
                // It does not merge: what was collected goes out first.
                let written = self.write_batch()?;
                let started = self.push_out(len);
                debug_assert!(started, "an empty coalescer takes any frame");
                if !written {
                    // The device is full: keep this frame too, and stop pulling.
                    self.write_batch()?;
                    return Ok(());
                }
            }
            if !self.write_batch()? || !more {
                return Ok(());
            }
        }
    }

    /// Offers `tx[..len]` to the coalescer.
    fn push_out(&mut self, len: usize) -> bool {
        match &mut self.coalescer {
            Some(c) => c.push(&self.tx[..len]),
            None => false,
        }
    }

    /// Writes what the coalescer collected; `Ok(false)`: the device would block, and the
    /// write waits in `pending` (as does every write after one that blocked).
    fn write_batch(&mut self) -> io::Result<bool> {
        let Some(c) = &mut self.coalescer else {
            return Ok(true);
        };
        let segments = c.len() as u64;
        let Some(raw) = c.finish() else {
            return Ok(true);
        };
        if segments > 1 {
            self.stats.super_frames += 1;
            self.stats.frames_coalesced += segments;
        }
        if !self.pending.is_empty() || !self.try_write_raw(&raw)? {
            self.pending.push_back(raw);
            return Ok(false);
        }
        if let Some(c) = &mut self.coalescer {
            c.recycle(raw);
        }
        Ok(true)
    }

    /// `frame` as it goes to the device: behind an all-zero `virtio_net_hdr` when enabled.
    fn raw_frame(&self, frame: &[u8]) -> Vec<u8> {
        let hdr = if self.device.vnet_hdr() {
            VNET_HDR_LEN
        } else {
            0
        };
        let mut raw = vec![0u8; hdr];
        raw.extend_from_slice(frame);
        raw
    }

    /// Writes a frame released from the fault injector's queue; while another frame waits
    /// for the device, it is dropped (as by a full queue) and counted in `write_errors`.
    fn write_frame(&mut self, frame: Vec<u8>) {
        if !self.pending.is_empty() {
            self.stats.write_errors += 1;
            return;
        }
        match self.try_write(&frame) {
            Ok(true) => {}
            Ok(false) => {
                let raw = self.raw_frame(&frame);
                self.pending.push_back(raw);
            }
            Err(e) => tracing::warn!("write to {}: {e}", self.device.name()),
        }
    }

    /// One write of a plain frame (see [`Driver::write_once`]).
    fn try_write(&mut self, frame: &[u8]) -> io::Result<bool> {
        self.write_once(frame.len(), |d| d.send(frame))
    }

    /// One write of bytes as they go to the device (see [`Driver::raw_frame`]).
    fn try_write_raw(&mut self, raw: &[u8]) -> io::Result<bool> {
        let hdr = if self.device.vnet_hdr() {
            VNET_HDR_LEN
        } else {
            0
        };
        self.write_once(raw.len().saturating_sub(hdr), |d| d.send_raw(raw))
    }

    /// Runs `send` on the device (one write of a frame of `len` bytes): `Ok(true)` written (or dropped
    /// after an error that is not fatal), `Ok(false)` the device would block.
    fn write_once(
        &mut self,
        len: usize,
        send: impl Fn(&TapDevice) -> io::Result<()>,
    ) -> io::Result<bool> {
        loop {
            match send(&self.device) {
                Ok(()) => {
                    self.stats.frames_written += 1;
                    self.stats.bytes_written += len as u64;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stats.writes_blocked += 1;
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EIO while the link is down, EINVAL for a frame the kernel refuses:
                    // the frame is lost, as on a real wire; TCP retransmits.
                    self.stats.write_errors += 1;
                    if !self.write_error_logged {
                        tracing::warn!(
                            "write to {} failed, frame dropped: {e}",
                            self.device.name()
                        );
                        self.write_error_logged = true;
                    }
                    return Ok(true);
                }
            }
        }
    }

    /// Flushes the capture file, if any.
    pub fn flush_pcap(&mut self) -> io::Result<()> {
        match &mut self.path.pcap {
            Some(p) => p.flush(),
            None => Ok(()),
        }
    }

    /// Frames recorded in the capture file so far.
    pub fn pcap_records(&self) -> Option<u64> {
        self.path.pcap.as_ref().map(PcapWriter::records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sanstcp::wire::EthernetAddress;
    use sanstcp::{DropReason, StackConfig};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixDatagram;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// Two "devices" joined back to back: a datagram socket pair carries one frame per
    /// message. Small send buffers make writes block during bursts, which exercises the
    /// pending-frame path.
    fn wire(vnet: bool) -> (TapDevice, TapDevice) {
        let (a, b) = UnixDatagram::pair().unwrap();
        for s in [&a, &b] {
            s.set_nonblocking(true).unwrap();
            // With `virtio_net_hdr`s, room for one 64 KiB super-frame (and a little more).
            let size: libc::c_int = if vnet { 160 * 1024 } else { 16 * 1024 };
            // SAFETY: the descriptor is an open socket owned by `s`; SO_SNDBUF reads one
            // `int` through the pointer, which points at a live local of that size.
            let rc = unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_SNDBUF,
                    (&size as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            assert_eq!(rc, 0, "setsockopt SO_SNDBUF");
        }
        (
            TapDevice::from_fd(a.into(), "wire-a", vnet),
            TapDevice::from_fd(b.into(), "wire-b", vnet),
        )
    }

    /// A driver on `dev`; with `checksum_offload`, the driver verifies checksums in place
    /// of the stack (built with `verify_checksums` off).
    fn driver(
        dev: TapDevice,
        addr: &str,
        mac: u8,
        faults: FaultConfig,
        checksum_offload: bool,
    ) -> Driver {
        let ip: std::net::IpAddr = addr.parse().unwrap();
        let mut cfg = StackConfig::new(vec![ip], [mac; 16], u64::from(mac));
        cfg.send_buffer = 128 * 1024;
        cfg.recv_buffer = 128 * 1024;
        cfg.verify_checksums = !checksum_offload;
        let mut link = LinkConfig::new(EthernetAddress([2, 0, 0, 0, 0, mac]));
        link.prefixes = vec![(ip, if ip.is_ipv4() { 24 } else { 64 })];
        let config = DriverConfig {
            faults,
            checksum_offload,
            ..DriverConfig::default()
        };
        Driver::new(dev, Stack::new(cfg).unwrap(), link, config).unwrap()
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 131 + i / 977) as u8).collect()
    }

    /// What one side of an echo run ends with.
    struct Outcome {
        driver: DriverStats,
        stack: Stats,
        offload: Option<OffloadStats>,
    }

    impl Outcome {
        fn of(net: &Driver) -> Outcome {
            Outcome {
                driver: *net.stats(),
                stack: net.stack_stats().clone(),
                offload: net.offload_stats(),
            }
        }
    }

    /// An echo server on `net` for one connection; returns the bytes echoed. After its close
    /// it keeps the loop running (retransmitting what the wire lost) until `client_done`.
    fn echo_server(
        mut net: Driver,
        port: u16,
        deadline: std::time::Instant,
        client_done: &AtomicBool,
    ) -> (u64, Outcome) {
        let local = SocketAddr::new(net.stack().config().addresses[0], port);
        let listener = net.listen(local).unwrap();
        let mut events = Vec::new();
        let mut conn = None;
        let mut pending: Vec<u8> = Vec::new();
        let mut eof = false;
        let mut echoed = 0u64;
        let mut buf = vec![0u8; 16 * 1024];
        while std::time::Instant::now() < deadline {
            net.poll(&mut events, Some(Duration::from_millis(5)))
                .unwrap();
            events.clear();
            if conn.is_none() {
                conn = net.accept(listener);
            }
            let Some(c) = conn else { continue };
            loop {
                while !pending.is_empty() {
                    match net.write(c, &pending) {
                        Ok(n) if n > 0 => {
                            pending.drain(..n);
                            echoed += n as u64;
                        }
                        _ => break,
                    }
                }
                if !pending.is_empty() {
                    break;
                }
                if eof {
                    net.close(c);
                    // Let the FIN and the last ACKs out.
                    while !client_done.load(Ordering::SeqCst)
                        && std::time::Instant::now() < deadline
                    {
                        net.poll(&mut events, Some(Duration::from_millis(5)))
                            .unwrap();
                    }
                    return (echoed, Outcome::of(&net));
                }
                match net.read(c, &mut buf) {
                    Ok(0) => eof = true,
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
        }
        panic!(
            "the echo server ran out of time after echoing {echoed} bytes {:?} {:?} {:?}",
            conn.and_then(|c| net.info(c)),
            net.stats(),
            net.offload_stats()
        );
    }

    fn echo_through_the_wire(
        client_addr: &str,
        server_addr: &str,
        faults: FaultConfig,
        len: usize,
        vnet: bool,
        checksum_offload: bool,
    ) -> (Outcome, Outcome) {
        let (da, db) = wire(vnet);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let server_net = driver(db, server_addr, 2, faults, checksum_offload);
        let client_done = Arc::new(AtomicBool::new(false));
        let done = client_done.clone();
        let server = std::thread::spawn(move || echo_server(server_net, 7, deadline, &done));
        let mut net = driver(da, client_addr, 1, FaultConfig::default(), checksum_offload);
        let remote = SocketAddr::new(server_addr.parse().unwrap(), 7);
        let c = net.connect(remote).unwrap();
        let data = pattern(len);
        let (mut sent, mut got) = (0, Vec::with_capacity(len));
        let mut buf = vec![0u8; 16 * 1024];
        let mut events = Vec::new();
        let mut shut = false;
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "sent {sent}, got {} {:?} {:?}",
                got.len(),
                net.info(c),
                net.stats()
            );
            net.poll(&mut events, Some(Duration::from_millis(5)))
                .unwrap();
            events.clear();
            if sent < len {
                if let Ok(n) = net.write(c, &data[sent..]) {
                    sent += n;
                }
            } else if !shut && net.shutdown(c).is_ok() {
                shut = true;
            }
            match net.read(c, &mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        client_done.store(true, Ordering::SeqCst);
        assert!(got == data, "echo differs: {} of {len} bytes", got.len());
        let (echoed, server) = server.join().unwrap();
        assert_eq!(echoed, len as u64);
        let blocked = net.stats().writes_blocked + server.driver.writes_blocked;
        assert_eq!(net.stats().write_errors, 0);
        if !faults.is_active() {
            // (With super-frames, too few writes go out for a small buffer to fill.)
            assert!(
                blocked > 0 || vnet,
                "the pending-frame path was not exercised"
            );
        } else {
            let s = net.stack_stats();
            assert!(s.retransmitted_segments > 0, "{s:?}");
        }
        (Outcome::of(&net), server)
    }

    #[test]
    fn two_drivers_back_to_back_ipv4() {
        echo_through_the_wire(
            "10.0.0.1",
            "10.0.0.2",
            FaultConfig::default(),
            1 << 20,
            false,
            false,
        );
    }

    /// With `virtio_net_hdr`s both ways, each side merges its segments into super-frames and
    /// the other hands them to its stack whole (each one segment larger than the MSS); the
    /// echo stays byte-exact.
    #[test]
    fn two_drivers_back_to_back_with_offload() {
        for (client, server) in [("10.0.0.1", "10.0.0.2"), ("fd00::1", "fd00::2")] {
            let (a, b) =
                echo_through_the_wire(client, server, FaultConfig::default(), 4 << 20, true, false);
            for s in [a, b] {
                let (d, o) = (s.driver, s.offload.unwrap());
                assert!(d.super_frames > 0, "{d:?}");
                assert!(d.frames_coalesced >= 2 * d.super_frames, "{d:?}");
                // What the peer merged arrived whole, with its checksum completed for the
                // stack, which verifies it.
                assert!(o.whole > 0 && o.whole == o.super_frames, "{o:?}");
                assert_eq!(
                    (o.segments, o.checksums_trusted, o.errors),
                    (0, 0, 0),
                    "{o:?}"
                );
                assert!(o.checksums_completed >= o.whole, "{o:?}");
                assert_eq!(s.stack.dropped(DropReason::BadChecksum), 0);
                // Fewer segments reached the stack than the peer's stack sent.
                assert!(s.stack.segments_in < s.stack.segments_out, "{:?}", s.stack);
            }
        }
    }

    /// Receive checksum offload: the stacks do not verify checksums, the drivers do, except
    /// for the super-frames the peer's kernel stand-in (its coalescer) marks as partial.
    #[test]
    fn two_drivers_back_to_back_with_checksum_offload() {
        for (client, server) in [("10.0.0.1", "10.0.0.2"), ("fd00::1", "fd00::2")] {
            let (a, b) =
                echo_through_the_wire(client, server, FaultConfig::default(), 4 << 20, true, true);
            for s in [a, b] {
                let (d, o) = (s.driver, s.offload.unwrap());
                assert!(o.whole > 0 && o.whole == o.super_frames, "{o:?}");
                // Super-frames keep their partial checksum; single frames carry a full one
                // behind an all-zero header and are verified by the driver.
                assert_eq!(o.checksums_trusted, o.whole, "{o:?}");
                assert_eq!((o.checksums_completed, o.errors), (0, 0), "{o:?}");
                assert_eq!(d.bad_checksums, 0, "{d:?}");
                assert!(d.frames_read > o.whole, "{d:?} {o:?}");
            }
        }
    }

    fn lossy() -> FaultConfig {
        FaultConfig {
            loss: 0.01,
            reorder: 0.1,
            delay: Duration::from_millis(3),
            duplicate: 0.01,
            corrupt: 0.002,
            seed: 9,
        }
    }

    #[test]
    fn two_drivers_back_to_back_ipv6_through_faults() {
        let (_, server) =
            echo_through_the_wire("fd00::1", "fd00::2", lossy(), 1 << 20, false, false);
        assert!(
            server.stack.dropped(DropReason::BadChecksum) > 0,
            "{:?}",
            server.stack
        );
        assert_eq!(server.driver.bad_checksums, 0);
    }

    /// With checksum offload and faults, the driver checks every frame after the faults:
    /// the corrupted ones are its drops, not the stack's, and the echo stays byte-exact.
    #[test]
    fn checksum_offload_catches_corruption_after_the_kernel() {
        let corrupt = FaultConfig {
            corrupt: 0.05,
            seed: 5,
            ..FaultConfig::default()
        };
        for vnet in [false, true] {
            // (Small enough for both buffers of the server to hold.)
            let (_, server) =
                echo_through_the_wire("fd00::1", "fd00::2", corrupt, 200 << 10, vnet, true);
            assert!(server.driver.bad_checksums > 0, "{:?}", server.driver);
            assert_eq!(server.stack.dropped(DropReason::BadChecksum), 0);
            if let Some(o) = server.offload {
                // On the "wire" of the fault injector, segments travel one by one, with
                // their checksums.
                assert_eq!((o.whole, o.checksums_trusted), (0, 0), "{o:?}");
            }
        }
    }
}
