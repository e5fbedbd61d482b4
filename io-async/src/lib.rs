//! # sanstcp-async
//!
//! The [`sanstcp`] stack for async Rust, on the `async-io` reactor (the one under smol) and
//! runtime-agnostic: streams implement the `futures-io` traits, so the same code runs under
//! smol, under `futures::executor`, and under tokio through `tokio_util::compat`.
//!
//! - [`Net`] is a handle on one stack (`Clone + Send + Sync`); [`Net::new`] puts a stack on
//!   a device that carries IP packets, [`Net::ethernet`] on one that carries Ethernet frames
//!   (ARP and NDP through `sanstcp::link`). Both return the [`Driver`], a future to spawn:
//!   it waits for the device and for an `async_io::Timer` set to the stack's next deadline,
//!   feeds the stack, writes what it sends, and wakes the tasks its events concern, doing a
//!   bounded amount of work per poll ([`driver::BUDGET`]).
//! - [`TcpListener::bind`] / [`TcpListener::accept`] and [`TcpStream::connect`]; a
//!   [`TcpStream`] reads and writes like any async socket, splits into halves, and reports
//!   resets and timeouts as `ConnectionReset` and `TimedOut`.
//! - Devices: [`AsyncTap`] (a Linux TAP device) and [`MemoryLink`] (two stacks in one
//!   program, no privileges needed).
//!
//! Time is real: the stack's clock is a monotonic `std::time::Instant` taken when the
//! [`Net`] is made.
//!
//! ```
//! use futures_lite::{AsyncReadExt, AsyncWriteExt};
//! use sanstcp::{Stack, StackConfig};
//! use sanstcp_async::{MemoryLink, Net, TcpListener, TcpStream};
//!
//! let (da, db) = MemoryLink::pair();
//! let stack = |ip: &str, seed| {
//!     Stack::new(StackConfig::new(vec![ip.parse().unwrap()], [seed as u8; 16], seed)).unwrap()
//! };
//! let (client, client_driver) = Net::new(stack("10.0.0.1", 1), da);
//! let (server, server_driver) = Net::new(stack("10.0.0.2", 2), db);
//! smol::block_on(async {
//!     smol::spawn(client_driver).detach();
//!     smol::spawn(server_driver).detach();
//!     let listener = TcpListener::bind(&server, "10.0.0.2:7".parse().unwrap())?;
//!     let mut c = TcpStream::connect(&client, "10.0.0.2:7".parse().unwrap()).await?;
//!     let (mut s, _peer) = listener.accept().await?;
//!     c.write_all(b"hello").await?;
//!     c.close().await?; // FIN
//!     let mut got = Vec::new();
//!     s.read_to_end(&mut got).await?;
//!     assert_eq!(got, b"hello");
//!     std::io::Result::Ok(())
//! })
//! .unwrap();
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod device;
pub mod driver;
mod net;
mod stream;
pub mod tap;

pub use device::{AsyncTap, Device, MemoryDevice, MemoryLink};
pub use driver::{Driver, DriverStats};
pub use net::Net;
pub use stream::{Accept, Connect, ReadHalf, TcpListener, TcpStream, WriteHalf};
