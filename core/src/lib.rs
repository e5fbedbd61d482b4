//! # sanstcp
//!
//! A TCP/IP stack whose protocol core does no I/O and reads no clock: packets and the current
//! time go in ([`Stack::handle_packet`], [`Stack::handle_timeout`]); packets, deadlines and
//! events come out ([`Stack::poll_transmit`], [`Stack::poll_timeout`], [`Stack::poll_event`]).
//! The same configuration (secret, seed), inputs and times always give the same outputs.
//!
//! ```
//! use sanstcp::{Stack, StackConfig, ListenOptions, Instant};
//! let cfg = StackConfig::new(vec!["10.0.0.1".parse().unwrap()], [7; 16], 1);
//! let mut stack = Stack::new(cfg).unwrap();
//! let listener = stack.listen("10.0.0.1:80".parse().unwrap(), ListenOptions::default()).unwrap();
//! let mut buf = [0u8; 1500];
//! assert!(stack.poll_transmit(Instant::ZERO, &mut buf).is_none());
//! assert!(stack.accept(listener).is_none());
//! ```
//!
//! Modules: [`wire`] parses and emits packets; [`tcp`] is one connection; [`Stack`] holds the
//! connection table, listeners and the poll API; [`link`] adds Ethernet, ARP and NDP for
//! adapters on a TAP device; `sim` (feature `sim`) is a deterministic network simulator.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod config;
mod error;
mod event;
pub mod hash;
pub mod link;
#[cfg(feature = "sim")]
pub mod sim;
mod stack;
mod stats;
pub mod tcp;
mod time;
pub mod wire;

pub use config::{CongestionAlgorithm, ConnectOptions, ListenOptions, StackConfig, SynCookieMode};
pub use error::{ConfigError, ConnectError, ListenError, RecvError, SendError, StateError};
pub use event::{CloseReason, ConnId, Event, ListenerId};
pub use stack::{Stack, Transmit};
pub use stats::{DropReason, Input, Stats};
pub use tcp::{ConnInfo, TcpState};
pub use time::Instant;
