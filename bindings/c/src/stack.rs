//! The stack: `stcp_stack` and the functions that mirror `sanstcp::Stack`.

use core::ffi::{c_char, c_int};
use core::time::Duration;
use std::collections::HashSet;

use libc::sockaddr;
use sanstcp_core::{ConnId, Input, Instant, ListenerId, Stack};

use crate::addr::socket_addr;
use crate::config::{
    connect_options, from_c, listen_options, stcp_config, stcp_connect_options, stcp_listen_options,
};
use crate::error::*;
use crate::types::{drop_reason, stcp_event, stcp_stack_counters, stcp_tcp_info};
use crate::{guard, in_slice, isize_len, out_slice, ErrorReturn, NonNullMut};

/// A TCP/IP stack (opaque). Create it with `stcp_stack_new`, release it with
/// `stcp_stack_free`. Not thread-safe: one thread at a time may call functions on a stack
/// (and on the links that use it); it may move between threads.
pub struct stcp_stack {
    pub(crate) stack: Stack,
    /// Raw ids of the listeners that are open, so that a stale listener id is reported as
    /// such (the core's `accept` answers `None` both for "nothing waiting" and "stale").
    listeners: HashSet<u64>,
    /// Set when a panic was caught during a call: the stack may be inconsistent.
    pub(crate) poisoned: bool,
}

/// Runs `f` on the stack behind `s`: NULL and poisoned stacks are errors, and a panic in `f`
/// poisons the stack.
///
/// # Safety
/// `s` must be NULL or a live pointer from `stcp_stack_new`, not used by another thread.
pub(crate) unsafe fn with_stack<T: ErrorReturn>(
    s: *mut stcp_stack,
    f: impl FnOnce(&mut stcp_stack) -> Result<T, c_int>,
) -> T {
    // SAFETY: the caller guarantees NULL or a live, exclusively used `stcp_stack`.
    let Some(stack) = (unsafe { s.as_mut() }) else {
        return T::from_code(STCP_ERR_NULL);
    };
    if stack.poisoned {
        return T::from_code(STCP_ERR_PANIC);
    }
    let mut panicked = true;
    let r = guard(|| {
        let r = f(stack);
        panicked = false;
        r
    });
    if panicked {
        stack.poisoned = true;
    }
    r
}

/// Creates a stack with `config` (see `stcp_config_default`). Returns NULL when `config` is
/// NULL or invalid; `stcp_config_validate` tells why. Free the stack with `stcp_stack_free`.
///
/// # Safety
/// `config` must be NULL or point to an initialized `stcp_config`.
#[no_mangle]
pub unsafe extern "C" fn stcp_stack_new(config: *const stcp_config) -> *mut stcp_stack {
    guard(|| {
        // SAFETY: the caller guarantees NULL or an initialized, readable `stcp_config`.
        let c = unsafe { config.as_ref() }.ok_or(STCP_ERR_NULL)?;
        let stack = Stack::new(from_c(c)?).map_err(config_error)?;
        let handle = stcp_stack {
            stack,
            listeners: HashSet::new(),
            poisoned: false,
        };
        Ok(Box::into_raw(Box::new(handle)))
    })
}

/// Frees a stack and every connection, listener and buffer it holds (nothing is sent). NULL
/// is accepted and ignored. Free the links that use the stack separately (in any order); the
/// pointer must not be used afterwards.
///
/// # Safety
/// `s` must be NULL or a live pointer from `stcp_stack_new`, not freed before.
#[no_mangle]
pub unsafe extern "C" fn stcp_stack_free(s: *mut stcp_stack) {
    if s.is_null() {
        return;
    }
    guard(|| {
        // SAFETY: the caller guarantees `s` came from `Box::into_raw` in `stcp_stack_new` and
        // is freed only once.
        drop(unsafe { Box::from_raw(s) });
        Ok(STCP_OK)
    });
}

/// Starts listening on `local` (a `sockaddr_in` / `sockaddr_in6` of `local_len` bytes; an
/// unspecified address listens on every local address of that family) with `options` (NULL
/// for the defaults). Writes the listener's id to `*listener_out`.
///
/// Returns `STCP_OK`, `STCP_ERR_NULL`, `STCP_ERR_BAD_ADDRESS`, `STCP_ERR_ADDRESS_NOT_LOCAL`,
/// `STCP_ERR_ADDRESS_IN_USE`, `STCP_ERR_PORT_ZERO`, `STCP_ERR_BAD_BACKLOG` or
/// `STCP_ERR_PANIC`.
///
/// # Safety
/// `s` must be NULL or a live stack; `local` must point to `local_len` readable bytes;
/// `options` must be NULL or point to a `stcp_listen_options`; `listener_out` must be valid
/// for writes.
#[no_mangle]
pub unsafe extern "C" fn stcp_listen(
    s: *mut stcp_stack,
    local: *const sockaddr,
    local_len: usize,
    options: *const stcp_listen_options,
    listener_out: *mut u64,
) -> c_int {
    // SAFETY: the caller's contract for `s`.
    unsafe {
        with_stack(s, |st| {
            let out = NonNullMut::new(listener_out)?;
            // SAFETY: the caller guarantees `local_len` readable bytes at `local`.
            let local = socket_addr(local, local_len)?;
            // SAFETY: the caller guarantees NULL or a readable `stcp_listen_options`.
            let opts = listen_options(options.as_ref());
            let id = st.stack.listen(local, opts).map_err(listen_error)?.to_raw();
            st.listeners.insert(id);
            // SAFETY: the caller guarantees `listener_out` is valid for writes.
            out.write(id);
            Ok(STCP_OK)
        })
    }
}

/// Takes the next established connection from a listener's accept queue and writes its id to
/// `*conn_out`. Returns `STCP_OK`, `STCP_ERR_DONE` (nothing waiting; wait for
/// `STCP_EVENT_INCOMING`), `STCP_ERR_INVALID_LISTENER`, `STCP_ERR_NULL` or `STCP_ERR_PANIC`.
///
/// # Safety
/// `s` must be NULL or a live stack; `conn_out` must be valid for writes.
#[no_mangle]
pub unsafe extern "C" fn stcp_accept(
    s: *mut stcp_stack,
    listener: u64,
    conn_out: *mut u64,
) -> c_int {
    // SAFETY: the caller's contract for `s`.
    unsafe {
        with_stack(s, |st| {
            let out = NonNullMut::new(conn_out)?;
            if !st.listeners.contains(&listener) {
                return Err(STCP_ERR_INVALID_LISTENER);
            }
            let c = st
                .stack
                .accept(ListenerId::from_raw(listener))
                .ok_or(STCP_ERR_DONE)?;
            // SAFETY: the caller guarantees `conn_out` is valid for writes.
            out.write(c.to_raw());
            Ok(STCP_OK)
        })
    }
}

/// Stops a listener; connections still in its queues are reset. The id is stale afterwards.
/// Returns `STCP_OK`, `STCP_ERR_INVALID_LISTENER`, `STCP_ERR_NULL` or `STCP_ERR_PANIC`.
///
/// # Safety
/// `s` must be NULL or a live stack.
#[no_mangle]
pub unsafe extern "C" fn stcp_close_listener(s: *mut stcp_stack, listener: u64) -> c_int {
    // SAFETY: the caller's contract for `s`.
    unsafe {
        with_stack(s, |st| {
            if !st.listeners.remove(&listener)
                || !st.stack.close_listener(ListenerId::from_raw(listener))
            {
                return Err(STCP_ERR_INVALID_LISTENER);
            }
            Ok(STCP_OK)
        })
    }
}

/// Opens a connection to `remote` (a `sockaddr_in` / `sockaddr_in6` of `remote_len` bytes)
/// with `options` (NULL for the defaults) and writes its id to `*conn_out`. The SYN goes out
/// on the next `stcp_poll_transmit`; `STCP_EVENT_CONNECTED` reports the handshake's end.
///
/// Returns `STCP_OK`, `STCP_ERR_NULL`, `STCP_ERR_BAD_ADDRESS`, `STCP_ERR_BAD_REMOTE`,
/// `STCP_ERR_NO_LOCAL_ADDRESS`, `STCP_ERR_ADDRESS_NOT_LOCAL`, `STCP_ERR_ADDRESS_IN_USE`,
/// `STCP_ERR_TOO_MANY_CONNECTIONS` or `STCP_ERR_PANIC`.
///
/// # Safety
/// `s` must be NULL or a live stack; `remote` must point to `remote_len` readable bytes;
/// `options` must be NULL or point to an initialized `stcp_connect_options`; `conn_out` must
/// be valid for writes.
#[no_mangle]
pub unsafe extern "C" fn stcp_connect(
    s: *mut stcp_stack,
    now_ns: u64,
    remote: *const sockaddr,
    remote_len: usize,
    options: *const stcp_connect_options,
    conn_out: *mut u64,
) -> c_int {
    // SAFETY: the caller's contract for `s`.
    unsafe {
        with_stack(s, |st| {
            let out = NonNullMut::new(conn_out)?;
            // SAFETY: the caller guarantees `remote_len` readable bytes at `remote`.
            let remote = socket_addr(remote, remote_len)?;
            // SAFETY: the caller guarantees NULL or an initialized `stcp_connect_options`.
            let opts = connect_options(options.as_ref())?;
            let c = st
                .stack
                .connect(Instant::from_nanos(now_ns), remote, opts)
                .map_err(connect_error)?;
            // SAFETY: the caller guarantees `conn_out` is valid for writes.
            out.write(c.to_raw());
            Ok(STCP_OK)
        })
    }
}

/// Processes one incoming IP packet (IPv4 or IPv6, no link-layer header) of `len` bytes.
/// Never fails on the packet's content: a bad packet is dropped and counted, or answered as
/// the RFCs require (RST, ACK, ICMP echo reply). Call `stcp_poll_transmit` and
/// `stcp_poll_event` afterwards.
///
/// Returns 0 when the packet was accepted, a positive `stcp_drop_reason` when it was dropped,
/// or `STCP_ERR_NULL` (`buf` NULL with `len` > 0), `STCP_ERR_INVALID`, `STCP_ERR_PANIC`.
///
/// # Safety
/// `s` must be NULL or a live stack; `buf` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn stcp_handle_packet(
    s: *mut stcp_stack,
    now_ns: u64,
    buf: *const u8,
    len: usize,
) -> c_int {
    // SAFETY: the caller's contract for `s`.
    unsafe {
        with_stack(s, |st| {
            // SAFETY: the caller guarantees `len` readable bytes at `buf`.
            let packet = in_slice(buf, len)?;
            match st.stack.handle_packet(Instant::from_nanos(now_ns), packet) {
                Input::Accepted => Ok(0),
                Input::Dropped(r) => Ok(drop_reason(r) as c_int),
            }
        })
    }
}

/// Runs every timer due at `now_ns` (retransmissions, delayed ACKs, keep-alive, TIME-WAIT).
/// Call it when the deadline from `stcp_poll_timeout` has passed, then `stcp_poll_transmit`
/// and `stcp_poll_event`. Returns `STCP_OK`, `STCP_ERR_NULL` or `STCP_ERR_PANIC`.
///
/// # Safety
/// `s` must be NULL or a live stack.
#[no_mangle]
pub unsafe extern "C" fn stcp_handle_timeout(s: *mut stcp_stack, now_ns: u64) -> c_int {
    // SAFETY: the caller's contract for `s`.
    unsafe {
        with_stack(s, |st| {
            st.stack.handle_timeout(Instant::from_nanos(now_ns));
            Ok(STCP_OK)
        })
    }
}

/// Writes the next outgoing IP packet into `out` (`cap` bytes, at least the configured MTU)
/// and returns its length, or `STCP_ERR_DONE` when nothing is waiting. Call it until
/// `STCP_ERR_DONE` after every other call.
///
/// Errors: `STCP_ERR_BUFFER_TOO_SMALL` (`cap` < MTU; nothing is lost), `STCP_ERR_NULL`,
/// `STCP_ERR_INVALID`, `STCP_ERR_PANIC`.
///
/// # Safety
/// `s` must be NULL or a live stack; `out` must point to `cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn stcp_poll_transmit(
    s: *mut stcp_stack,
    now_ns: u64,
    out: *mut u8,
    cap: usize,
) -> isize {
    // SAFETY: the caller's contract for `s`.
    unsafe {
        with_stack(s, |st| {
            let mtu = st.stack.config().mtu;
            if out.is_null() {
                return Err(STCP_ERR_NULL);
            }
            if cap < mtu {
                return Err(STCP_ERR_BUFFER_TOO_SMALL);
            }
            // A packet is never longer than the MTU: only that much of the buffer is used.
            // SAFETY: the caller guarantees `cap` >= `mtu` writable bytes at `out`.
            let buf = out_slice(out, mtu)?;
            let t = st
                .stack
                .poll_transmit(Instant::from_nanos(now_ns), buf)
                .ok_or(STCP_ERR_DONE)?;
            isize_len(t.len)
        })
    }
}

/// The earliest absolute deadline (ns) at which `stcp_handle_timeout` has work, or
/// `UINT64_MAX` when there is none (also for a NULL or poisoned stack).
///
/// # Safety
/// `s` must be NULL or a live stack.
#[no_mangle]
pub unsafe extern "C" fn stcp_poll_timeout(s: *mut stcp_stack) -> u64 {
    // SAFETY: the caller's contract for `s`.
    unsafe {
        with_stack(s, |st| {
            Ok(st.stack.poll_timeout().map_or(u64::MAX, Instant::as_nanos))
        })
    }
}

/// Takes the next event into `*event`. Returns `STCP_OK`, `STCP_ERR_DONE` (no event),
/// `STCP_ERR_NULL` or `STCP_ERR_PANIC`.
///
/// # Safety
/// `s` must be NULL or a live stack; `event` must be valid for writes.
#[no_mangle]
pub unsafe extern "C" fn stcp_poll_event(s: *mut stcp_stack, event: *mut stcp_event) -> c_int {
    // SAFETY: the caller's contract for `s`.
    unsafe {
        with_stack(s, |st| {
            let out = NonNullMut::new(event)?;
            let e = st.stack.poll_event().ok_or(STCP_ERR_DONE)?;
            // SAFETY: the caller guarantees `event` is valid for writes.
            out.write(stcp_event::from(e));
            Ok(STCP_OK)
        })
    }
}

/// Queues `len` bytes of `data` for sending and returns how many were taken: fewer than `len`
/// is backpressure (wait for `STCP_EVENT_WRITABLE`). `len` 0 returns 0.
///
/// Errors: `STCP_ERR_WOULD_BLOCK` (buffer full), `STCP_ERR_INVALID_CONNECTION`,
/// `STCP_ERR_CLOSED`, `STCP_ERR_RESET`, `STCP_ERR_TIMED_OUT`, `STCP_ERR_REFUSED`,
/// `STCP_ERR_ABORTED`, `STCP_ERR_NULL`, `STCP_ERR_INVALID`, `STCP_ERR_PANIC`.
///
/// # Safety
/// `s` must be NULL or a live stack; `data` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn stcp_send(
    s: *mut stcp_stack,
    conn: u64,
    data: *const u8,
    len: usize,
) -> isize {
    // SAFETY: the caller's contract for `s`.
    unsafe {
        with_stack(s, |st| {
            // SAFETY: the caller guarantees `len` readable bytes at `data`.
            let data = in_slice(data, len)?;
            let n = st
                .stack
                .send(ConnId::from_raw(conn), data)
                .map_err(send_error)?;
            isize_len(n)
        })
    }
}

/// Reads received data into `buf` (`cap` bytes, at least 1) and returns the count; 0 is end
/// of stream (the peer's FIN, after all data).
///
/// Errors: `STCP_ERR_WOULD_BLOCK` (nothing yet; wait for `STCP_EVENT_READABLE`),
/// `STCP_ERR_INVALID_CONNECTION`, `STCP_ERR_NOT_CONNECTED`, `STCP_ERR_RESET`,
/// `STCP_ERR_TIMED_OUT`, `STCP_ERR_REFUSED`, `STCP_ERR_ABORTED`, `STCP_ERR_BUFFER_TOO_SMALL`
/// (`cap` 0), `STCP_ERR_NULL`, `STCP_ERR_INVALID`, `STCP_ERR_PANIC`.
///
/// # Safety
/// `s` must be NULL or a live stack; `buf` must point to `cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn stcp_recv(
    s: *mut stcp_stack,
    conn: u64,
    buf: *mut u8,
    cap: usize,
) -> isize {
    // SAFETY: the caller's contract for `s`.
    unsafe {
        with_stack(s, |st| {
            if !buf.is_null() && cap == 0 {
                return Err(STCP_ERR_BUFFER_TOO_SMALL);
            }
            // SAFETY: the caller guarantees `cap` writable bytes at `buf`.
            let buf = out_slice(buf, cap)?;
            let n = st
                .stack
                .recv(ConnId::from_raw(conn), buf)
                .map_err(recv_error)?;
            isize_len(n)
        })
    }
}

/// Half-close: a FIN follows the queued data; reading goes on. Returns `STCP_OK`,
/// `STCP_ERR_INVALID_CONNECTION`, `STCP_ERR_ALREADY_SHUTDOWN`, `STCP_ERR_FAILED`,
/// `STCP_ERR_NULL` or `STCP_ERR_PANIC`.
///
/// # Safety
/// `s` must be NULL or a live stack.
#[no_mangle]
pub unsafe extern "C" fn stcp_shutdown(s: *mut stcp_stack, conn: u64) -> c_int {
    // SAFETY: the caller's contract for `s`.
    unsafe {
        with_stack(s, |st| {
            st.stack
                .shutdown(ConnId::from_raw(conn))
                .map_err(state_error)?;
            Ok(STCP_OK)
        })
    }
}

/// Graceful close: the stack sends what is queued, then FIN, and frees the connection when
/// the close completes (unread received data turns this into an abort). The id is stale
/// afterwards, whatever state the connection was in. Returns `STCP_OK`,
/// `STCP_ERR_INVALID_CONNECTION`, `STCP_ERR_NULL` or `STCP_ERR_PANIC`.
///
/// # Safety
/// `s` must be NULL or a live stack.
#[no_mangle]
pub unsafe extern "C" fn stcp_close(s: *mut stcp_stack, conn: u64) -> c_int {
    // SAFETY: the caller's contract for `s`.
    unsafe {
        with_stack(s, |st| {
            let c = ConnId::from_raw(conn);
            st.stack.info(c).ok_or(STCP_ERR_INVALID_CONNECTION)?;
            st.stack.close(c);
            Ok(STCP_OK)
        })
    }
}

/// Resets the connection: a RST goes out, queued data is dropped. The id is stale afterwards.
/// Returns `STCP_OK`, `STCP_ERR_INVALID_CONNECTION`, `STCP_ERR_NULL` or `STCP_ERR_PANIC`.
///
/// # Safety
/// `s` must be NULL or a live stack.
#[no_mangle]
pub unsafe extern "C" fn stcp_abort(s: *mut stcp_stack, conn: u64) -> c_int {
    // SAFETY: the caller's contract for `s`.
    unsafe {
        with_stack(s, |st| {
            let c = ConnId::from_raw(conn);
            st.stack.info(c).ok_or(STCP_ERR_INVALID_CONNECTION)?;
            st.stack.abort(c);
            Ok(STCP_OK)
        })
    }
}

/// Turns Nagle's algorithm off (`nodelay` true, like `TCP_NODELAY`) or on for a connection.
/// Returns `STCP_OK`, `STCP_ERR_INVALID_CONNECTION`, `STCP_ERR_NULL` or `STCP_ERR_PANIC`.
///
/// # Safety
/// `s` must be NULL or a live stack.
#[no_mangle]
pub unsafe extern "C" fn stcp_set_nodelay(s: *mut stcp_stack, conn: u64, nodelay: bool) -> c_int {
    // SAFETY: the caller's contract for `s`.
    unsafe {
        with_stack(s, |st| {
            st.stack
                .set_nodelay(ConnId::from_raw(conn), nodelay)
                .map_err(state_error)?;
            Ok(STCP_OK)
        })
    }
}

/// Turns keep-alive on with an idle time of `idle_ns`, or off with 0. Returns `STCP_OK`,
/// `STCP_ERR_INVALID_CONNECTION`, `STCP_ERR_NULL` or `STCP_ERR_PANIC`.
///
/// # Safety
/// `s` must be NULL or a live stack.
#[no_mangle]
pub unsafe extern "C" fn stcp_set_keepalive(s: *mut stcp_stack, conn: u64, idle_ns: u64) -> c_int {
    // SAFETY: the caller's contract for `s`.
    unsafe {
        with_stack(s, |st| {
            let idle = (idle_ns != 0).then(|| Duration::from_nanos(idle_ns));
            st.stack
                .set_keepalive(ConnId::from_raw(conn), idle)
                .map_err(state_error)?;
            Ok(STCP_OK)
        })
    }
}

/// Writes a snapshot of a connection to `*info`. Returns `STCP_OK`,
/// `STCP_ERR_INVALID_CONNECTION`, `STCP_ERR_NULL` or `STCP_ERR_PANIC`.
///
/// # Safety
/// `s` must be NULL or a live stack; `info` must be valid for writes.
#[no_mangle]
pub unsafe extern "C" fn stcp_conn_info(
    s: *mut stcp_stack,
    conn: u64,
    info: *mut stcp_tcp_info,
) -> c_int {
    // SAFETY: the caller's contract for `s`.
    unsafe {
        with_stack(s, |st| {
            let out = NonNullMut::new(info)?;
            let i = st
                .stack
                .info(ConnId::from_raw(conn))
                .ok_or(STCP_ERR_INVALID_CONNECTION)?;
            // SAFETY: the caller guarantees `info` is valid for writes.
            out.write(stcp_tcp_info::from(&i));
            Ok(STCP_OK)
        })
    }
}

/// Writes the stack's counters to `*stats`. Returns `STCP_OK`, `STCP_ERR_NULL` or
/// `STCP_ERR_PANIC`.
///
/// # Safety
/// `s` must be NULL or a live stack; `stats` must be valid for writes.
#[no_mangle]
pub unsafe extern "C" fn stcp_stats(s: *mut stcp_stack, stats: *mut stcp_stack_counters) -> c_int {
    // SAFETY: the caller's contract for `s`.
    unsafe {
        with_stack(s, |st| {
            let out = NonNullMut::new(stats)?;
            // SAFETY: the caller guarantees `stats` is valid for writes.
            out.write(stcp_stack_counters::from(st.stack.stats()));
            Ok(STCP_OK)
        })
    }
}

/// The number of connections the stack holds, in any state (half-open, TIME-WAIT and closed
/// but not yet released included), or `STCP_ERR_NULL` / `STCP_ERR_PANIC`.
///
/// # Safety
/// `s` must be NULL or a live stack.
#[no_mangle]
pub unsafe extern "C" fn stcp_connection_count(s: *mut stcp_stack) -> isize {
    // SAFETY: the caller's contract for `s`.
    unsafe { with_stack(s, |st| isize_len(st.stack.connection_count())) }
}

/// The MTU the stack was configured with (the buffer size `stcp_poll_transmit` needs), or
/// `STCP_ERR_NULL` / `STCP_ERR_PANIC`.
///
/// # Safety
/// `s` must be NULL or a live stack.
#[no_mangle]
pub unsafe extern "C" fn stcp_mtu(s: *mut stcp_stack) -> isize {
    // SAFETY: the caller's contract for `s`.
    unsafe { with_stack(s, |st| isize_len(st.stack.config().mtu)) }
}

/// The name of a `stcp_drop_reason` (`"bad_checksum"`, ...), or `"unknown"`; static.
#[no_mangle]
pub extern "C" fn stcp_drop_reason_name(reason: c_int) -> *const c_char {
    crate::static_str(|| crate::types::drop_reason_name(reason))
}

/// The RFC name of a `stcp_tcp_state` (`"ESTABLISHED"`, `"SYN-SENT"`, ...), or `"unknown"`;
/// static.
#[no_mangle]
pub extern "C" fn stcp_state_name(state: c_int) -> *const c_char {
    crate::static_str(|| crate::types::state_name(state))
}
