//! Small per-operation error types. Each converts to a [`std::io::Error`] of the matching kind.

use core::fmt;

use crate::CloseReason;

macro_rules! error_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => ($msg:expr, $kind:ident)),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vm])* $variant),+
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $($name::$variant => $msg),+ })
            }
        }
        #[cfg(feature = "std")]
        impl std::error::Error for $name {}
        #[cfg(feature = "std")]
        impl From<$name> for std::io::Error {
            fn from(e: $name) -> std::io::Error {
                let kind = match e { $($name::$variant => std::io::ErrorKind::$kind),+ };
                std::io::Error::new(kind, e)
            }
        }
    };
}

error_enum! {
    /// [`crate::Stack::new`] refused the configuration.
    ConfigError {
        /// No local address was configured.
        NoAddresses => ("the configuration has no local address", InvalidInput),
        /// The MTU is below the IPv4 minimum of 576 (or 1280 with IPv6 addresses) or above 65535.
        BadMtu => ("the MTU is out of range (576..=65535, 1280 with IPv6)", InvalidInput),
        /// A buffer size is zero or above 1 GiB.
        BadBufferSize => ("a buffer size is zero or larger than 1 GiB", InvalidInput),
        /// A limit (backlog, connections, retries) is zero where it must be positive.
        BadLimit => ("a limit is zero where it must be positive", InvalidInput),
        /// The ephemeral port range is empty.
        BadPortRange => ("the ephemeral port range is empty", InvalidInput),
    }
}

error_enum! {
    /// [`crate::Stack::listen`] failed.
    ListenError {
        /// The address is not one of the stack's (and not unspecified).
        AddressNotLocal => ("the address is not one of this stack's", AddrNotAvailable),
        /// Another listener already has this address and port.
        AddressInUse => ("a listener already uses this address and port", AddrInUse),
        /// Port 0 cannot be listened on.
        PortZero => ("cannot listen on port 0", InvalidInput),
        /// The backlog is zero.
        BadBacklog => ("the backlog must be at least 1", InvalidInput),
    }
}

error_enum! {
    /// [`crate::Stack::connect`] failed.
    ConnectError {
        /// The remote address is unspecified, multicast, broadcast or port 0.
        BadRemote => ("the remote address or port is not a unicast destination", InvalidInput),
        /// No local address of the remote's family.
        NoLocalAddress => ("no local address of the remote's address family", AddrNotAvailable),
        /// The requested local address is not one of the stack's.
        AddressNotLocal => ("the local address is not one of this stack's", AddrNotAvailable),
        /// Every ephemeral port is taken for this remote, or the requested 4-tuple is in use.
        AddressInUse => ("no free local port for this remote (or the 4-tuple is in use)", AddrInUse),
        /// The stack's connection limit is reached.
        TooManyConnections => ("the stack's connection limit is reached", OutOfMemory),
    }
}

error_enum! {
    /// [`crate::Stack::send`] failed.
    SendError {
        /// The id is stale or was never issued.
        InvalidConnection => ("no such connection (stale or unknown id)", NotFound),
        /// The send buffer is full; wait for [`crate::Event::Writable`].
        WouldBlock => ("the send buffer is full", WouldBlock),
        /// This side already shut down writing or closed.
        Closed => ("the connection is closed for sending", BrokenPipe),
        /// The peer reset the connection.
        Reset => ("the connection was reset by the peer", ConnectionReset),
        /// The connection timed out.
        TimedOut => ("the connection timed out", TimedOut),
        /// The peer refused the connection.
        Refused => ("the connection was refused", ConnectionRefused),
        /// The connection was aborted locally.
        Aborted => ("the connection was aborted", ConnectionAborted),
    }
}

error_enum! {
    /// [`crate::Stack::recv`] failed.
    RecvError {
        /// The id is stale or was never issued.
        InvalidConnection => ("no such connection (stale or unknown id)", NotFound),
        /// No data yet; wait for [`crate::Event::Readable`].
        WouldBlock => ("no data is available yet", WouldBlock),
        /// The connection is not yet established and has no data.
        NotConnected => ("the connection is not yet established", NotConnected),
        /// The peer reset the connection.
        Reset => ("the connection was reset by the peer", ConnectionReset),
        /// The connection timed out.
        TimedOut => ("the connection timed out", TimedOut),
        /// The peer refused the connection.
        Refused => ("the connection was refused", ConnectionRefused),
        /// The connection was aborted locally.
        Aborted => ("the connection was aborted", ConnectionAborted),
    }
}

error_enum! {
    /// A state-changing call ([`crate::Stack::shutdown`]) was not possible.
    StateError {
        /// The id is stale or was never issued.
        InvalidConnection => ("no such connection (stale or unknown id)", NotFound),
        /// Writing was already shut down.
        AlreadyShutdown => ("the connection is already shut down for writing", BrokenPipe),
        /// The connection ended with an error.
        Failed => ("the connection has failed", NotConnected),
    }
}

impl SendError {
    /// The sticky error for a connection that ended with `reason`.
    pub(crate) fn from_reason(reason: CloseReason) -> SendError {
        match reason {
            CloseReason::Normal => SendError::Closed,
            CloseReason::Reset => SendError::Reset,
            CloseReason::TimedOut => SendError::TimedOut,
            CloseReason::Refused => SendError::Refused,
            CloseReason::Aborted => SendError::Aborted,
        }
    }
}

impl RecvError {
    /// The sticky error for a connection that ended with `reason` (None for a normal close,
    /// which reads as end of stream).
    pub(crate) fn from_reason(reason: CloseReason) -> Option<RecvError> {
        match reason {
            CloseReason::Normal => None,
            CloseReason::Reset => Some(RecvError::Reset),
            CloseReason::TimedOut => Some(RecvError::TimedOut),
            CloseReason::Refused => Some(RecvError::Refused),
            CloseReason::Aborted => Some(RecvError::Aborted),
        }
    }
}
