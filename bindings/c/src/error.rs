//! Error codes: negative `int` values, append-only (a code never changes its number or meaning;
//! new codes get the next free number), and their messages.

use core::ffi::{c_char, c_int, CStr};

use sanstcp_core::{ConfigError, ConnectError, ListenError, RecvError, SendError, StateError};

/// Error codes: `STCP_OK` and the negative `STCP_ERR_*` values that functions return as `int`
/// or `ptrdiff_t`. Append-only: a code never changes its number or meaning; new codes get the
/// next free number.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum stcp_error {
    /// Success.
    STCP_OK = 0,
    /// Nothing to return: no packet to send, no event, no connection waiting in the accept queue.
    /// Not a failure; poll again after the next input.
    STCP_ERR_DONE = -1,
    /// A pointer argument that must not be NULL was NULL.
    STCP_ERR_NULL = -2,
    /// An argument is out of range: a length larger than `PTRDIFF_MAX`, a count larger than its
    /// array, an unknown enumeration value, a malformed address string or hardware address.
    STCP_ERR_INVALID = -3,
    /// The output buffer is too small: `stcp_poll_transmit` needs the stack's MTU,
    /// `stcp_link_poll_frame` needs `stcp_link_frame_buffer_len`, `stcp_recv` needs at least one
    /// byte, `stcp_addr_format` needs room for the text and its NUL.
    STCP_ERR_BUFFER_TOO_SMALL = -4,
    /// The library caught an internal panic. The object it happened on is poisoned: every later
    /// call on it returns this code. Free it with `stcp_stack_free` / `stcp_link_free`.
    STCP_ERR_PANIC = -5,
    /// No such connection: the id is stale (the connection was closed, aborted or never accepted)
    /// or was never issued. A stale id never reaches another connection.
    STCP_ERR_INVALID_CONNECTION = -6,
    /// No such listener: the id is stale (`stcp_close_listener` was called) or was never issued.
    STCP_ERR_INVALID_LISTENER = -7,
    /// `stcp_send`: the send buffer is full; wait for `STCP_EVENT_WRITABLE`.
    /// `stcp_recv`: no data yet; wait for `STCP_EVENT_READABLE`.
    STCP_ERR_WOULD_BLOCK = -8,
    /// The connection is closed for sending (this side shut down or closed, or it ended normally).
    STCP_ERR_CLOSED = -9,
    /// The peer reset the connection.
    STCP_ERR_RESET = -10,
    /// The connection timed out (retransmissions, handshake, keep-alive or FIN-WAIT-2).
    STCP_ERR_TIMED_OUT = -11,
    /// The peer refused the connection (RST in answer to the SYN).
    STCP_ERR_REFUSED = -12,
    /// The connection was aborted locally.
    STCP_ERR_ABORTED = -13,
    /// `stcp_recv`: the connection is not yet established and has no data.
    STCP_ERR_NOT_CONNECTED = -14,
    /// `stcp_shutdown`: writing was already shut down.
    STCP_ERR_ALREADY_SHUTDOWN = -15,
    /// `stcp_shutdown`: the connection has ended with an error.
    STCP_ERR_FAILED = -16,
    /// The address is not one of the stack's (and, for `stcp_listen`, not unspecified).
    STCP_ERR_ADDRESS_NOT_LOCAL = -17,
    /// `stcp_listen`: another listener has this address and port. `stcp_connect`: no free local
    /// port for this remote, or the requested 4-tuple is in use.
    STCP_ERR_ADDRESS_IN_USE = -18,
    /// `stcp_listen`: port 0 cannot be listened on.
    STCP_ERR_PORT_ZERO = -19,
    /// `stcp_listen`: the backlog or SYN backlog is zero.
    STCP_ERR_BAD_BACKLOG = -20,
    /// `stcp_connect`: the remote address is unspecified, multicast, broadcast, or its port is 0.
    STCP_ERR_BAD_REMOTE = -21,
    /// `stcp_connect`: the stack has no local address of the remote's family.
    STCP_ERR_NO_LOCAL_ADDRESS = -22,
    /// `stcp_connect`: the stack's connection limit (`max_connections`) is reached.
    STCP_ERR_TOO_MANY_CONNECTIONS = -23,
    /// Configuration: no local address (`address_count` is 0).
    STCP_ERR_NO_ADDRESSES = -24,
    /// Configuration: the MTU is outside 576..=65535 (1280..=65535 with an IPv6 address).
    STCP_ERR_BAD_MTU = -25,
    /// Configuration: a buffer size is zero or larger than 1 GiB.
    STCP_ERR_BAD_BUFFER_SIZE = -26,
    /// Configuration: a limit (connections, retries, initial window, control queue) is zero.
    STCP_ERR_BAD_LIMIT = -27,
    /// Configuration: the ephemeral port range is empty or starts at 0.
    STCP_ERR_BAD_PORT_RANGE = -28,
    /// An address's family is neither `AF_INET` nor `AF_INET6`, or its length is too short for
    /// its family.
    STCP_ERR_BAD_ADDRESS = -29,
    /// An error that this version of the bindings has no code for (the core is newer).
    STCP_ERR_OTHER = -30,
}

// The codes as `int`, for the code of this crate.
pub(crate) const STCP_OK: c_int = stcp_error::STCP_OK as c_int;
pub(crate) const STCP_ERR_DONE: c_int = stcp_error::STCP_ERR_DONE as c_int;
pub(crate) const STCP_ERR_NULL: c_int = stcp_error::STCP_ERR_NULL as c_int;
pub(crate) const STCP_ERR_INVALID: c_int = stcp_error::STCP_ERR_INVALID as c_int;
pub(crate) const STCP_ERR_BUFFER_TOO_SMALL: c_int = stcp_error::STCP_ERR_BUFFER_TOO_SMALL as c_int;
pub(crate) const STCP_ERR_PANIC: c_int = stcp_error::STCP_ERR_PANIC as c_int;
pub(crate) const STCP_ERR_INVALID_CONNECTION: c_int =
    stcp_error::STCP_ERR_INVALID_CONNECTION as c_int;
pub(crate) const STCP_ERR_INVALID_LISTENER: c_int = stcp_error::STCP_ERR_INVALID_LISTENER as c_int;
pub(crate) const STCP_ERR_WOULD_BLOCK: c_int = stcp_error::STCP_ERR_WOULD_BLOCK as c_int;
pub(crate) const STCP_ERR_CLOSED: c_int = stcp_error::STCP_ERR_CLOSED as c_int;
pub(crate) const STCP_ERR_RESET: c_int = stcp_error::STCP_ERR_RESET as c_int;
pub(crate) const STCP_ERR_TIMED_OUT: c_int = stcp_error::STCP_ERR_TIMED_OUT as c_int;
pub(crate) const STCP_ERR_REFUSED: c_int = stcp_error::STCP_ERR_REFUSED as c_int;
pub(crate) const STCP_ERR_ABORTED: c_int = stcp_error::STCP_ERR_ABORTED as c_int;
pub(crate) const STCP_ERR_NOT_CONNECTED: c_int = stcp_error::STCP_ERR_NOT_CONNECTED as c_int;
pub(crate) const STCP_ERR_ALREADY_SHUTDOWN: c_int = stcp_error::STCP_ERR_ALREADY_SHUTDOWN as c_int;
pub(crate) const STCP_ERR_FAILED: c_int = stcp_error::STCP_ERR_FAILED as c_int;
pub(crate) const STCP_ERR_ADDRESS_NOT_LOCAL: c_int =
    stcp_error::STCP_ERR_ADDRESS_NOT_LOCAL as c_int;
pub(crate) const STCP_ERR_ADDRESS_IN_USE: c_int = stcp_error::STCP_ERR_ADDRESS_IN_USE as c_int;
pub(crate) const STCP_ERR_PORT_ZERO: c_int = stcp_error::STCP_ERR_PORT_ZERO as c_int;
pub(crate) const STCP_ERR_BAD_BACKLOG: c_int = stcp_error::STCP_ERR_BAD_BACKLOG as c_int;
pub(crate) const STCP_ERR_BAD_REMOTE: c_int = stcp_error::STCP_ERR_BAD_REMOTE as c_int;
pub(crate) const STCP_ERR_NO_LOCAL_ADDRESS: c_int = stcp_error::STCP_ERR_NO_LOCAL_ADDRESS as c_int;
pub(crate) const STCP_ERR_TOO_MANY_CONNECTIONS: c_int =
    stcp_error::STCP_ERR_TOO_MANY_CONNECTIONS as c_int;
pub(crate) const STCP_ERR_NO_ADDRESSES: c_int = stcp_error::STCP_ERR_NO_ADDRESSES as c_int;
pub(crate) const STCP_ERR_BAD_MTU: c_int = stcp_error::STCP_ERR_BAD_MTU as c_int;
pub(crate) const STCP_ERR_BAD_BUFFER_SIZE: c_int = stcp_error::STCP_ERR_BAD_BUFFER_SIZE as c_int;
pub(crate) const STCP_ERR_BAD_LIMIT: c_int = stcp_error::STCP_ERR_BAD_LIMIT as c_int;
pub(crate) const STCP_ERR_BAD_PORT_RANGE: c_int = stcp_error::STCP_ERR_BAD_PORT_RANGE as c_int;
pub(crate) const STCP_ERR_BAD_ADDRESS: c_int = stcp_error::STCP_ERR_BAD_ADDRESS as c_int;
pub(crate) const STCP_ERR_OTHER: c_int = stcp_error::STCP_ERR_OTHER as c_int;

/// Every code with its message, in order from 0 down.
const MESSAGES: [&CStr; 31] = [
    c"success",
    c"nothing to return (no packet, event or connection waiting)",
    c"a required pointer argument is NULL",
    c"invalid argument",
    c"the output buffer is too small",
    c"internal error (panic caught); the object is poisoned and must be freed",
    c"no such connection (stale or unknown id)",
    c"no such listener (stale or unknown id)",
    c"operation would block",
    c"the connection is closed for sending",
    c"the connection was reset by the peer",
    c"the connection timed out",
    c"the connection was refused",
    c"the connection was aborted",
    c"the connection is not yet established",
    c"the connection is already shut down for writing",
    c"the connection has failed",
    c"the address is not one of this stack's",
    c"the address and port are in use",
    c"cannot listen on port 0",
    c"the backlog must be at least 1",
    c"the remote address or port is not a unicast destination",
    c"no local address of the remote's address family",
    c"the stack's connection limit is reached",
    c"the configuration has no local address",
    c"the MTU is out of range (576..=65535, 1280 with IPv6)",
    c"a buffer size is zero or larger than 1 GiB",
    c"a limit is zero where it must be positive",
    c"the ephemeral port range is empty",
    c"bad socket address (family not AF_INET/AF_INET6, or too short)",
    c"unknown error (newer than these bindings)",
];

/// The message for an error code (`STCP_OK`, `STCP_ERR_*`). Never NULL: an unknown code gets
/// "unknown error code". The string is static; do not free it.
#[no_mangle]
pub extern "C" fn stcp_strerror(code: c_int) -> *const c_char {
    crate::static_str(|| {
        code.checked_neg()
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| MESSAGES.get(i).copied())
            .unwrap_or(c"unknown error code")
    })
}

pub(crate) fn config_error(e: ConfigError) -> c_int {
    match e {
        ConfigError::NoAddresses => STCP_ERR_NO_ADDRESSES,
        ConfigError::BadMtu => STCP_ERR_BAD_MTU,
        ConfigError::BadBufferSize => STCP_ERR_BAD_BUFFER_SIZE,
        ConfigError::BadLimit => STCP_ERR_BAD_LIMIT,
        ConfigError::BadPortRange => STCP_ERR_BAD_PORT_RANGE,
        _ => STCP_ERR_OTHER,
    }
}

pub(crate) fn listen_error(e: ListenError) -> c_int {
    match e {
        ListenError::AddressNotLocal => STCP_ERR_ADDRESS_NOT_LOCAL,
        ListenError::AddressInUse => STCP_ERR_ADDRESS_IN_USE,
        ListenError::PortZero => STCP_ERR_PORT_ZERO,
        ListenError::BadBacklog => STCP_ERR_BAD_BACKLOG,
        _ => STCP_ERR_OTHER,
    }
}

pub(crate) fn connect_error(e: ConnectError) -> c_int {
    match e {
        ConnectError::BadRemote => STCP_ERR_BAD_REMOTE,
        ConnectError::NoLocalAddress => STCP_ERR_NO_LOCAL_ADDRESS,
        ConnectError::AddressNotLocal => STCP_ERR_ADDRESS_NOT_LOCAL,
        ConnectError::AddressInUse => STCP_ERR_ADDRESS_IN_USE,
        ConnectError::TooManyConnections => STCP_ERR_TOO_MANY_CONNECTIONS,
        _ => STCP_ERR_OTHER,
    }
}

pub(crate) fn send_error(e: SendError) -> c_int {
    match e {
        SendError::InvalidConnection => STCP_ERR_INVALID_CONNECTION,
        SendError::WouldBlock => STCP_ERR_WOULD_BLOCK,
        SendError::Closed => STCP_ERR_CLOSED,
        SendError::Reset => STCP_ERR_RESET,
        SendError::TimedOut => STCP_ERR_TIMED_OUT,
        SendError::Refused => STCP_ERR_REFUSED,
        SendError::Aborted => STCP_ERR_ABORTED,
        _ => STCP_ERR_OTHER,
    }
}

pub(crate) fn recv_error(e: RecvError) -> c_int {
    match e {
        RecvError::InvalidConnection => STCP_ERR_INVALID_CONNECTION,
        RecvError::WouldBlock => STCP_ERR_WOULD_BLOCK,
        RecvError::NotConnected => STCP_ERR_NOT_CONNECTED,
        RecvError::Reset => STCP_ERR_RESET,
        RecvError::TimedOut => STCP_ERR_TIMED_OUT,
        RecvError::Refused => STCP_ERR_REFUSED,
        RecvError::Aborted => STCP_ERR_ABORTED,
        _ => STCP_ERR_OTHER,
    }
}

pub(crate) fn state_error(e: StateError) -> c_int {
    match e {
        StateError::InvalidConnection => STCP_ERR_INVALID_CONNECTION,
        StateError::AlreadyShutdown => STCP_ERR_ALREADY_SHUTDOWN,
        StateError::Failed => STCP_ERR_FAILED,
        _ => STCP_ERR_OTHER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_message() {
        for code in STCP_ERR_OTHER..=STCP_OK {
            // SAFETY: stcp_strerror returns a pointer to a static NUL-terminated string.
            let msg = unsafe { CStr::from_ptr(stcp_strerror(code)) };
            assert!(!msg.is_empty());
            assert_ne!(msg, c"unknown error code", "code {code}");
        }
        for code in [1, STCP_ERR_OTHER - 1, c_int::MIN, c_int::MAX] {
            // SAFETY: as above.
            let msg = unsafe { CStr::from_ptr(stcp_strerror(code)) };
            assert_eq!(msg, c"unknown error code");
        }
        let mut seen = std::collections::HashSet::new();
        assert!(
            MESSAGES.iter().all(|m| seen.insert(*m)),
            "messages are distinct"
        );
    }
}
