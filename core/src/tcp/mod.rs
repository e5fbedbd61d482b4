//! One TCP connection, split by concern: sequence arithmetic, byte queues, RTT/RTO, congestion
//! control, input per state, output generation and timers.

pub mod buffer;
pub mod congestion;
pub(crate) mod connection;
pub mod cubic;
pub(crate) mod input;
pub(crate) mod output;
pub mod rack;
pub mod rtt;
pub mod sack;
pub mod seq;
mod state;
pub(crate) mod timers;

pub use seq::SeqNumber;
pub use state::{ConnInfo, TcpState};
