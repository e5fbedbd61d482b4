//! # sanstcp-mio
//!
//! The [`sanstcp`] stack on a Linux TAP device, driven by a [mio] event loop:
//!
//! - [`device::TapDevice`] opens `/dev/net/tun` as `IFF_TAP | IFF_NO_PI` (optionally with
//!   `IFF_VNET_HDR` for checksum and segmentation offload, undone by [`offload`]),
//!   non-blocking, registrable with mio;
//! - [`driver::Driver`] is the loop: frames from the device go through `sanstcp::link`
//!   (Ethernet, ARP, NDP) into the stack, what the stack sends goes back to the device, and
//!   the loop sleeps until the next deadline or frame; the application gets the stack's
//!   events and calls `listen` / `accept` / `connect` / `read` / `write` on the driver;
//! - [`fault`] injects seeded loss, reordering, duplication and corruption between the
//!   device and the stack, and [`pcap`] records the frames.
//!
//! An echo server, in short (needs `CAP_NET_ADMIN` and a configured device; the `sanstcp`
//! tool of this crate is the complete version):
//!
//! ```no_run
//! use sanstcp::link::LinkConfig;
//! use sanstcp::wire::EthernetAddress;
//! use sanstcp::{Event, Stack, StackConfig};
//! use sanstcp_mio::device::{TapDevice, TapOptions};
//! use sanstcp_mio::driver::{Driver, DriverConfig};
//!
//! # fn main() -> std::io::Result<()> {
//! let device = TapDevice::open("tap0", TapOptions::default())?;
//! let stack = Stack::new(StackConfig::new(vec!["10.0.0.2".parse().unwrap()], [7; 16], 1))
//!     .map_err(std::io::Error::from)?;
//! let mut link = LinkConfig::new(EthernetAddress([2, 0, 0, 0, 0, 2]));
//! link.prefixes = vec![("10.0.0.0".parse().unwrap(), 24)];
//! let mut net = Driver::new(device, stack, link, DriverConfig::default())?;
//! let listener = net.listen("10.0.0.2:7".parse().unwrap())?;
//! let mut events = Vec::new();
//! let mut buf = vec![0u8; 65536];
//! loop {
//!     net.poll(&mut events, None)?;
//!     for ev in events.drain(..) {
//!         match ev {
//!             Event::Incoming { .. } => while net.accept(listener).is_some() {},
//!             Event::Readable { conn } => {
//!                 // (A real server keeps what `write` did not take, see the tool.)
//!                 while let Ok(n) = net.read(conn, &mut buf) {
//!                     if n == 0 { net.close(conn); break; }
//!                     net.write(conn, &buf[..n])?;
//!                 }
//!             }
//!             Event::Closed { conn, .. } => net.close(conn),
//!             _ => {}
//!         }
//!     }
//! }
//! # }
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod device;
pub mod driver;
pub mod fault;
pub mod offload;
pub mod pcap;
