//! Identifiers and the events the stack reports through [`crate::Stack::poll_event`].

use crate::tcp::TcpState;

/// A connection handle. Generational: once the connection is released, the id is stale and every
/// call with it fails (or returns `None`) instead of reaching another connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl ConnId {
    /// The raw form, for bindings that pass ids across an FFI boundary.
    pub fn to_raw(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }
    /// Rebuilds an id from [`ConnId::to_raw`]. A made-up value is harmless: it is just stale.
    pub fn from_raw(raw: u64) -> ConnId {
        ConnId {
            index: raw as u32,
            generation: (raw >> 32) as u32,
        }
    }
}

/// A listener handle; generational like [`ConnId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl ListenerId {
    /// The raw form, for bindings.
    pub fn to_raw(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }
    /// Rebuilds an id from [`ListenerId::to_raw`].
    pub fn from_raw(raw: u64) -> ListenerId {
        ListenerId {
            index: raw as u32,
            generation: (raw >> 32) as u32,
        }
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Both sides closed and every byte was acknowledged.
    Normal,
    /// The peer reset the connection.
    Reset,
    /// Retransmissions, the handshake, keep-alive or FIN_WAIT_2 ran out of time.
    TimedOut,
    /// The peer refused the connection (RST in answer to our SYN).
    Refused,
    /// This side aborted the connection (or the stack did, e.g. on close with unread data).
    Aborted,
}

/// Something the application should know about. Small and `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// An active open completed: the connection is established.
    Connected {
        /// The connection.
        conn: ConnId,
    },
    /// A listener has a connection waiting in its accept queue.
    Incoming {
        /// The listener to call [`crate::Stack::accept`] on.
        listener: ListenerId,
    },
    /// New data can be read with [`crate::Stack::recv`].
    Readable {
        /// The connection.
        conn: ConnId,
    },
    /// Send-buffer space became free after a `send` was cut short.
    Writable {
        /// The connection.
        conn: ConnId,
    },
    /// The peer sent FIN: after the buffered data, `recv` returns end of stream.
    PeerClosed {
        /// The connection.
        conn: ConnId,
    },
    /// The connection ended. Fatal reasons are sticky: later calls return the matching error.
    Closed {
        /// The connection.
        conn: ConnId,
        /// Why it ended.
        reason: CloseReason,
    },
    /// A state transition; only reported when [`crate::StackConfig::report_state_changes`] is set.
    StateChanged {
        /// The connection.
        conn: ConnId,
        /// The state before.
        from: TcpState,
        /// The state after.
        to: TcpState,
    },
}
