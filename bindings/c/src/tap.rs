//! The Ethernet/ARP/NDP shell for TAP devices: `stcp_link`, mirroring
//! `sanstcp::link::Interface`.

use core::ffi::{c_char, c_int};
use core::time::Duration;

use libc::sockaddr_storage;
use sanstcp_core::link::{Interface, LinkConfig, LinkInput};
use sanstcp_core::wire::EthernetAddress;
use sanstcp_core::Instant;

use crate::addr::storage_addr;
use crate::error::*;
use crate::stack::stcp_stack;
use crate::types::{link_drop_reason, stcp_link_counters};
use crate::{guard, in_slice, isize_len, out_slice, ErrorReturn, NonNullMut};

/// Number of entries of `stcp_link_config.prefixes`.
pub const STCP_MAX_PREFIXES: usize = 8;

/// An on-link network: destinations inside it are resolved directly.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stcp_prefix {
    /// The network address (`sockaddr_in` / `sockaddr_in6`; the port is ignored).
    pub addr: sockaddr_storage,
    /// Prefix length in bits (at most 32 for IPv4, 128 for IPv6).
    pub prefix_len: u8,
}

/// Configuration of a link (`stcp_link_new`). Fill it with `stcp_link_config_default`, then
/// set at least `hardware_addr`. Durations are in nanoseconds.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stcp_link_config {
    /// The interface's own MAC address: unicast, not all zeros.
    pub hardware_addr: [u8; 6],
    /// IPv4 default gateway (`sockaddr_in`), the next hop for IPv4 destinations outside
    /// `prefixes`; family `AF_UNSPEC` (zeroed, the default) treats every IPv4 destination as
    /// on-link.
    pub gateway_v4: sockaddr_storage,
    /// IPv6 default router (`sockaddr_in6`); `AF_UNSPEC` treats every IPv6 destination as
    /// on-link (link-local `fe80::/10` always is).
    pub gateway_v6: sockaddr_storage,
    /// On-link networks; only the first `prefix_count` are used.
    pub prefixes: [stcp_prefix; STCP_MAX_PREFIXES],
    /// Number of entries of `prefixes` in use (default 0).
    pub prefix_count: usize,
    /// How long a resolved neighbor is used before it is resolved again (default 60 s).
    pub neighbor_ttl_ns: u64,
    /// Time to wait for an answer to each ARP request or Neighbor Solicitation (default 1 s).
    pub resolve_timeout_ns: u64,
    /// Requests sent for one resolution before giving up (default 3).
    pub resolve_attempts: u32,
    /// Packets parked per unresolved neighbor (default 16).
    pub pending_limit: usize,
    /// Neighbor cache entries (default 1024).
    pub cache_limit: usize,
    /// ARP/NDP frames that may wait for `stcp_link_poll_frame` (default 64).
    pub control_limit: usize,
}

/// The Ethernet, ARP and NDP layer for a TAP device (opaque). It does not own a stack:
/// functions that need one take it as an argument, and the same stack must be passed every
/// time. Create it with `stcp_link_new`, release it with `stcp_link_free`.
pub struct stcp_link {
    iface: Interface,
    poisoned: bool,
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Runs `f` on a link and its stack: NULL or poisoned objects are errors, and a panic in `f`
/// poisons both.
///
/// # Safety
/// `l` and `s` must each be NULL or a live pointer from `stcp_link_new` / `stcp_stack_new`,
/// not used by another thread.
unsafe fn with_link<T: ErrorReturn>(
    l: *mut stcp_link,
    s: *mut stcp_stack,
    f: impl FnOnce(&mut Interface, &mut stcp_stack) -> Result<T, c_int>,
) -> T {
    // SAFETY: the caller guarantees NULL or live, exclusively used objects; they are distinct
    // allocations of distinct types, so the two references do not alias.
    let (Some(link), Some(stack)) = (unsafe { l.as_mut() }, unsafe { s.as_mut() }) else {
        return T::from_code(STCP_ERR_NULL);
    };
    if link.poisoned || stack.poisoned {
        return T::from_code(STCP_ERR_PANIC);
    }
    let mut panicked = true;
    let r = guard(|| {
        let r = f(&mut link.iface, stack);
        panicked = false;
        r
    });
    if panicked {
        link.poisoned = true;
        stack.poisoned = true;
    }
    r
}

/// Fills `*config` with the defaults (a zero MAC address, which must be replaced; no gateways;
/// no prefixes; see each field). Returns `STCP_OK` or `STCP_ERR_NULL`.
///
/// # Safety
/// `config` must be NULL or valid for writes of a `stcp_link_config`.
#[no_mangle]
pub unsafe extern "C" fn stcp_link_config_default(config: *mut stcp_link_config) -> c_int {
    guard(|| {
        let out = NonNullMut::new(config)?;
        let d = LinkConfig::new(EthernetAddress([0; 6]));
        // SAFETY: `sockaddr_storage` is a plain C struct of integers: all zeros is valid
        // (AF_UNSPEC).
        let zero: sockaddr_storage = unsafe { core::mem::zeroed() };
        let c = stcp_link_config {
            hardware_addr: d.hardware_addr.0,
            gateway_v4: zero,
            gateway_v6: zero,
            prefixes: [stcp_prefix {
                addr: zero,
                prefix_len: 0,
            }; STCP_MAX_PREFIXES],
            prefix_count: 0,
            neighbor_ttl_ns: ns(d.neighbor_ttl),
            resolve_timeout_ns: ns(d.resolve_timeout),
            resolve_attempts: d.resolve_attempts,
            pending_limit: d.pending_limit,
            cache_limit: d.cache_limit,
            control_limit: d.control_limit,
        };
        // SAFETY: the caller guarantees `config` is valid for writes.
        unsafe { out.write(c) };
        Ok(STCP_OK)
    })
}

fn link_config(c: &stcp_link_config) -> Result<LinkConfig, c_int> {
    let mac = EthernetAddress(c.hardware_addr);
    if !mac.is_unicast() || c.hardware_addr == [0; 6] {
        return Err(STCP_ERR_INVALID);
    }
    let mut cfg = LinkConfig::new(mac);
    cfg.gateway_v4 = match storage_addr(&c.gateway_v4)?.map(|a| a.ip()) {
        None => None,
        Some(core::net::IpAddr::V4(a)) => Some(a),
        Some(_) => return Err(STCP_ERR_BAD_ADDRESS),
    };
    cfg.gateway_v6 = match storage_addr(&c.gateway_v6)?.map(|a| a.ip()) {
        None => None,
        Some(core::net::IpAddr::V6(a)) => Some(a),
        Some(_) => return Err(STCP_ERR_BAD_ADDRESS),
    };
    for p in c.prefixes.get(..c.prefix_count).ok_or(STCP_ERR_INVALID)? {
        let ip = storage_addr(&p.addr)?.ok_or(STCP_ERR_BAD_ADDRESS)?.ip();
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if p.prefix_len > max {
            return Err(STCP_ERR_INVALID);
        }
        cfg.prefixes.push((ip, p.prefix_len));
    }
    cfg.neighbor_ttl = Duration::from_nanos(c.neighbor_ttl_ns);
    cfg.resolve_timeout = Duration::from_nanos(c.resolve_timeout_ns);
    cfg.resolve_attempts = c.resolve_attempts;
    cfg.pending_limit = c.pending_limit;
    cfg.cache_limit = c.cache_limit;
    cfg.control_limit = c.control_limit;
    Ok(cfg)
}

/// Checks a link configuration as `stcp_link_new` would: `STCP_OK`, `STCP_ERR_NULL`,
/// `STCP_ERR_INVALID` (multicast or zero MAC, `prefix_count` too large, prefix length too
/// long) or `STCP_ERR_BAD_ADDRESS` (a gateway of the wrong family, a bad prefix address).
///
/// # Safety
/// `config` must be NULL or point to an initialized `stcp_link_config`.
#[no_mangle]
pub unsafe extern "C" fn stcp_link_config_validate(config: *const stcp_link_config) -> c_int {
    guard(|| {
        // SAFETY: the caller guarantees NULL or an initialized, readable config.
        let c = unsafe { config.as_ref() }.ok_or(STCP_ERR_NULL)?;
        link_config(c)?;
        Ok(STCP_OK)
    })
}

/// Creates a link with `config`. Returns NULL when `config` is NULL or invalid
/// (`stcp_link_config_validate` tells why). Free it with `stcp_link_free`.
///
/// # Safety
/// `config` must be NULL or point to an initialized `stcp_link_config`.
#[no_mangle]
pub unsafe extern "C" fn stcp_link_new(config: *const stcp_link_config) -> *mut stcp_link {
    guard(|| {
        // SAFETY: the caller guarantees NULL or an initialized, readable config.
        let c = unsafe { config.as_ref() }.ok_or(STCP_ERR_NULL)?;
        let link = stcp_link {
            iface: Interface::new(link_config(c)?),
            poisoned: false,
        };
        Ok(Box::into_raw(Box::new(link)))
    })
}

/// Frees a link (its neighbor cache and parked packets). NULL is accepted and ignored.
///
/// # Safety
/// `l` must be NULL or a live pointer from `stcp_link_new`, not freed before.
#[no_mangle]
pub unsafe extern "C" fn stcp_link_free(l: *mut stcp_link) {
    if l.is_null() {
        return;
    }
    guard(|| {
        // SAFETY: the caller guarantees `l` came from `Box::into_raw` in `stcp_link_new` and is
        // freed only once.
        drop(unsafe { Box::from_raw(l) });
        Ok(STCP_OK)
    });
}

/// Queues announcements of the stack's addresses, for when the interface comes up: a
/// gratuitous ARP for each IPv4 address, an unsolicited Neighbor Advertisement for each IPv6
/// one. Call `stcp_link_poll_frame` afterwards. Returns `STCP_OK`, `STCP_ERR_NULL` or
/// `STCP_ERR_PANIC`.
///
/// # Safety
/// `l` and `s` must be NULL or live objects.
#[no_mangle]
pub unsafe extern "C" fn stcp_link_announce(l: *mut stcp_link, s: *mut stcp_stack) -> c_int {
    // SAFETY: the caller's contract for `l` and `s`.
    unsafe {
        with_link(l, s, |iface, st| {
            iface.announce(&st.stack);
            Ok(STCP_OK)
        })
    }
}

/// Processes one Ethernet frame from the device (`len` bytes, no FCS): ARP and NDP are
/// answered, IP packets go to the stack. Call `stcp_link_poll_frame` and `stcp_poll_event`
/// afterwards.
///
/// Returns 0 when the frame was processed (an IP packet handed to the stack, whatever the
/// stack did with it, or an ARP/NDP message), a positive `stcp_link_drop_reason` when the link
/// layer dropped it, or `STCP_ERR_NULL`, `STCP_ERR_INVALID`, `STCP_ERR_PANIC`.
///
/// # Safety
/// `l` and `s` must be NULL or live objects; `frame` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn stcp_link_handle_frame(
    l: *mut stcp_link,
    s: *mut stcp_stack,
    now_ns: u64,
    frame: *const u8,
    len: usize,
) -> c_int {
    // SAFETY: the caller's contract for `l` and `s`.
    unsafe {
        with_link(l, s, |iface, st| {
            // SAFETY: the caller guarantees `len` readable bytes at `frame`.
            let frame = in_slice(frame, len)?;
            match iface.handle_frame(Instant::from_nanos(now_ns), &mut st.stack, frame) {
                LinkInput::Dropped(r) => Ok(link_drop_reason(r) as c_int),
                _ => Ok(0),
            }
        })
    }
}

/// The buffer size `stcp_link_poll_frame` needs: the stack's MTU plus the 14-byte Ethernet
/// header. Or `STCP_ERR_NULL` / `STCP_ERR_PANIC`.
///
/// # Safety
/// `l` and `s` must be NULL or live objects.
#[no_mangle]
pub unsafe extern "C" fn stcp_link_frame_buffer_len(
    l: *mut stcp_link,
    s: *mut stcp_stack,
) -> isize {
    // SAFETY: the caller's contract for `l` and `s`.
    unsafe {
        with_link(l, s, |iface, st| {
            isize_len(iface.frame_buffer_len(&st.stack))
        })
    }
}

/// Writes the next frame for the device into `out` (`cap` bytes, at least
/// `stcp_link_frame_buffer_len`) and returns its length, or `STCP_ERR_DONE` when nothing is
/// waiting. Call it until `STCP_ERR_DONE` after every other call (on the link or the stack):
/// it also takes the stack's packets, resolving their next hop.
///
/// Errors: `STCP_ERR_BUFFER_TOO_SMALL` (nothing is lost), `STCP_ERR_NULL`, `STCP_ERR_INVALID`,
/// `STCP_ERR_PANIC`.
///
/// # Safety
/// `l` and `s` must be NULL or live objects; `out` must point to `cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn stcp_link_poll_frame(
    l: *mut stcp_link,
    s: *mut stcp_stack,
    now_ns: u64,
    out: *mut u8,
    cap: usize,
) -> isize {
    // SAFETY: the caller's contract for `l` and `s`.
    unsafe {
        with_link(l, s, |iface, st| {
            let need = iface.frame_buffer_len(&st.stack);
            if out.is_null() {
                return Err(STCP_ERR_NULL);
            }
            if cap < need {
                return Err(STCP_ERR_BUFFER_TOO_SMALL);
            }
            // SAFETY: the caller guarantees `cap` >= `need` writable bytes at `out`.
            let buf = out_slice(out, need)?;
            let n = iface
                .poll_frame(Instant::from_nanos(now_ns), &mut st.stack, buf)
                .ok_or(STCP_ERR_DONE)?;
            isize_len(n)
        })
    }
}

/// The earliest absolute deadline (ns) of the stack and of the link (address-resolution
/// retries), or `UINT64_MAX` when there is none (also for NULL or poisoned objects). Use it
/// instead of `stcp_poll_timeout` when the stack sits behind a link.
///
/// # Safety
/// `l` and `s` must be NULL or live objects.
#[no_mangle]
pub unsafe extern "C" fn stcp_link_poll_timeout(l: *mut stcp_link, s: *mut stcp_stack) -> u64 {
    // SAFETY: the caller's contract for `l` and `s`.
    unsafe {
        with_link(l, s, |iface, st| {
            Ok(iface
                .poll_timeout(&st.stack)
                .map_or(u64::MAX, Instant::as_nanos))
        })
    }
}

/// Runs the stack's timers (as `stcp_handle_timeout`) and the link's (resolution retries and
/// give-ups). Call `stcp_link_poll_frame` afterwards. Returns `STCP_OK`, `STCP_ERR_NULL` or
/// `STCP_ERR_PANIC`.
///
/// # Safety
/// `l` and `s` must be NULL or live objects.
#[no_mangle]
pub unsafe extern "C" fn stcp_link_handle_timeout(
    l: *mut stcp_link,
    s: *mut stcp_stack,
    now_ns: u64,
) -> c_int {
    // SAFETY: the caller's contract for `l` and `s`.
    unsafe {
        with_link(l, s, |iface, st| {
            iface.handle_timeout(Instant::from_nanos(now_ns), &mut st.stack);
            Ok(STCP_OK)
        })
    }
}

/// Writes the link's counters to `*stats`. Returns `STCP_OK`, `STCP_ERR_NULL` or
/// `STCP_ERR_PANIC`.
///
/// # Safety
/// `l` must be NULL or a live link; `stats` must be valid for writes.
#[no_mangle]
pub unsafe extern "C" fn stcp_link_stats(
    l: *mut stcp_link,
    stats: *mut stcp_link_counters,
) -> c_int {
    guard(|| {
        // SAFETY: the caller guarantees NULL or a live, exclusively used link.
        let link = unsafe { l.as_ref() }.ok_or(STCP_ERR_NULL)?;
        if link.poisoned {
            return Err(STCP_ERR_PANIC);
        }
        let out = NonNullMut::new(stats)?;
        // SAFETY: the caller guarantees `stats` is valid for writes.
        unsafe { out.write(stcp_link_counters::from(link.iface.stats())) };
        Ok(STCP_OK)
    })
}

/// The name of a `stcp_link_drop_reason` (`"unresolved"`, ...), or `"unknown"`; static.
#[no_mangle]
pub extern "C" fn stcp_link_drop_reason_name(reason: c_int) -> *const c_char {
    crate::static_str(|| crate::types::link_drop_reason_name(reason))
}
