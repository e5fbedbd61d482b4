//! Socket addresses: `struct sockaddr_in` / `sockaddr_in6` / `sockaddr_storage` in and out,
//! plus text parsing and formatting helpers for C programs.

use core::ffi::{c_char, c_int, CStr};
use core::mem::{offset_of, size_of};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use core::ptr;
use std::io::Write;

use libc::{
    sa_family_t, sockaddr, sockaddr_in, sockaddr_in6, sockaddr_storage, AF_INET, AF_INET6,
    AF_UNSPEC,
};

use crate::error::*;
use crate::{guard, isize_len, out_slice, NonNullMut};

/// Reads a field of type `T` at byte offset `off` from `base` (unaligned).
///
/// # Safety
/// `base + off .. base + off + size_of::<T>()` must be readable and initialized.
unsafe fn field<T: Copy>(base: *const u8, off: usize) -> T {
    // SAFETY: the caller guarantees that these bytes are readable and initialized; the read is
    // unaligned, so the pointer's alignment does not matter.
    unsafe { ptr::read_unaligned(base.add(off).cast::<T>()) }
}

/// The address family of a `sockaddr` of `len` bytes.
///
/// # Safety
/// `p` must be NULL or point to `len` readable bytes.
pub(crate) unsafe fn family_of(p: *const sockaddr, len: usize) -> Result<c_int, c_int> {
    if p.is_null() {
        return Err(STCP_ERR_NULL);
    }
    let off = offset_of!(sockaddr, sa_family);
    if len < off + size_of::<sa_family_t>() {
        return Err(STCP_ERR_BAD_ADDRESS);
    }
    // SAFETY: `p` is not NULL and the caller guarantees `len` readable bytes, which cover the
    // family field (checked just above).
    let family: sa_family_t = unsafe { field(p.cast(), off) };
    Ok(c_int::from(family))
}

/// Converts a C socket address (`AF_INET` or `AF_INET6`) of `len` bytes. Only the family,
/// port, address, flow info and scope id fields are read, so padding may be uninitialized.
///
/// # Safety
/// `p` must be NULL or point to `len` readable bytes.
pub(crate) unsafe fn socket_addr(p: *const sockaddr, len: usize) -> Result<SocketAddr, c_int> {
    // SAFETY: same contract as ours.
    let family = unsafe { family_of(p, len) }?;
    let base = p.cast::<u8>();
    match family {
        AF_INET => {
            if len < size_of::<sockaddr_in>() {
                return Err(STCP_ERR_BAD_ADDRESS);
            }
            // SAFETY: `len` covers a whole `sockaddr_in`, and these fields lie inside it.
            let (port, addr) = unsafe {
                (
                    field::<u16>(base, offset_of!(sockaddr_in, sin_port)),
                    field::<[u8; 4]>(base, offset_of!(sockaddr_in, sin_addr)),
                )
            };
            Ok(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(addr),
                u16::from_be(port),
            )))
        }
        AF_INET6 => {
            if len < size_of::<sockaddr_in6>() {
                return Err(STCP_ERR_BAD_ADDRESS);
            }
            // SAFETY: `len` covers a whole `sockaddr_in6`, and these fields lie inside it.
            let (port, flow, addr, scope) = unsafe {
                (
                    field::<u16>(base, offset_of!(sockaddr_in6, sin6_port)),
                    field::<u32>(base, offset_of!(sockaddr_in6, sin6_flowinfo)),
                    field::<[u8; 16]>(base, offset_of!(sockaddr_in6, sin6_addr)),
                    field::<u32>(base, offset_of!(sockaddr_in6, sin6_scope_id)),
                )
            };
            let v6 = SocketAddrV6::new(
                Ipv6Addr::from(addr),
                u16::from_be(port),
                u32::from_be(flow),
                scope,
            );
            Ok(SocketAddr::V6(v6))
        }
        _ => Err(STCP_ERR_BAD_ADDRESS),
    }
}

/// Like [`socket_addr`] for a `sockaddr_storage`; `AF_UNSPEC` (a zeroed storage) is `None`.
pub(crate) fn storage_addr(s: &sockaddr_storage) -> Result<Option<SocketAddr>, c_int> {
    if c_int::from(s.ss_family) == AF_UNSPEC {
        return Ok(None);
    }
    let p = (s as *const sockaddr_storage).cast::<sockaddr>();
    // SAFETY: `p` points to a whole, initialized `sockaddr_storage` (we hold a reference).
    unsafe { socket_addr(p, size_of::<sockaddr_storage>()) }.map(Some)
}

/// The length of the `sockaddr_in` / `sockaddr_in6` that [`sockaddr_from`] writes.
pub(crate) fn sockaddr_len(a: &SocketAddr) -> usize {
    match a {
        SocketAddr::V4(_) => size_of::<sockaddr_in>(),
        SocketAddr::V6(_) => size_of::<sockaddr_in6>(),
    }
}

/// A zeroed `sockaddr_storage` holding `a` as a `sockaddr_in` or `sockaddr_in6`.
pub(crate) fn sockaddr_from(a: SocketAddr) -> sockaddr_storage {
    // SAFETY: `sockaddr_storage` is a plain C struct of integers: all zeros is a valid value
    // (and is AF_UNSPEC).
    let mut out: sockaddr_storage = unsafe { core::mem::zeroed() };
    let base = (&mut out as *mut sockaddr_storage).cast::<u8>();
    match a {
        SocketAddr::V4(v4) => {
            // SAFETY: a `sockaddr_in` fits in a `sockaddr_storage` (that is its purpose), all
            // offsets come from `offset_of!`, and the writes are unaligned.
            unsafe {
                write_field(
                    base,
                    offset_of!(sockaddr_in, sin_family),
                    AF_INET as sa_family_t,
                );
                write_field(base, offset_of!(sockaddr_in, sin_port), v4.port().to_be());
                write_field(base, offset_of!(sockaddr_in, sin_addr), v4.ip().octets());
            }
        }
        SocketAddr::V6(v6) => {
            // SAFETY: as above, for `sockaddr_in6`.
            unsafe {
                write_field(
                    base,
                    offset_of!(sockaddr_in6, sin6_family),
                    AF_INET6 as sa_family_t,
                );
                write_field(base, offset_of!(sockaddr_in6, sin6_port), v6.port().to_be());
                write_field(
                    base,
                    offset_of!(sockaddr_in6, sin6_flowinfo),
                    v6.flowinfo().to_be(),
                );
                write_field(base, offset_of!(sockaddr_in6, sin6_addr), v6.ip().octets());
                write_field(base, offset_of!(sockaddr_in6, sin6_scope_id), v6.scope_id());
            }
        }
    }
    out
}

/// Writes `v` at byte offset `off` from `base` (unaligned).
///
/// # Safety
/// `base + off .. base + off + size_of::<T>()` must be writable.
unsafe fn write_field<T>(base: *mut u8, off: usize, v: T) {
    // SAFETY: the caller guarantees the bytes are writable; the write is unaligned.
    unsafe { ptr::write_unaligned(base.add(off).cast::<T>(), v) }
}

/// Parses `text` as a socket address or a bare IP address.
fn parse(text: &str) -> Option<SocketAddr> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Some(a);
    }
    let ip = text.parse::<IpAddr>().ok().or_else(|| {
        // "[::1]" without a port.
        text.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
    })?;
    Some(SocketAddr::new(ip, 0))
}

/// Parses a NUL-terminated address: `"10.0.0.1:80"`, `"[fe80::1%2]:80"`, or a bare IP
/// address (`"10.0.0.1"`, `"::1"`, port 0), into `*out` as a `sockaddr_in` or
/// `sockaddr_in6` (the rest zeroed). When `out_len` is not NULL, it receives the length of
/// that structure, ready to pass to `stcp_listen` / `stcp_connect`.
///
/// Returns `STCP_OK`, `STCP_ERR_NULL` (`text` or `out` NULL) or `STCP_ERR_INVALID` (not an
/// address).
///
/// # Safety
/// `text` must be a NUL-terminated string; `out` and `out_len` (when not NULL) must be valid
/// for writes.
#[no_mangle]
pub unsafe extern "C" fn stcp_addr_parse(
    text: *const c_char,
    out: *mut sockaddr_storage,
    out_len: *mut usize,
) -> c_int {
    guard(|| {
        if text.is_null() {
            return Err(STCP_ERR_NULL);
        }
        let out = NonNullMut::new(out)?;
        // SAFETY: the caller guarantees a NUL-terminated string.
        let text = unsafe { CStr::from_ptr(text) };
        let addr = text.to_str().ok().and_then(parse).ok_or(STCP_ERR_INVALID)?;
        // SAFETY: the caller guarantees `out` is valid for writes.
        unsafe { out.write(sockaddr_from(addr)) };
        if !out_len.is_null() {
            // SAFETY: not NULL, and the caller guarantees it is valid for writes.
            unsafe { out_len.write(sockaddr_len(&addr)) };
        }
        Ok(STCP_OK)
    })
}

/// Formats a socket address (`AF_INET` or `AF_INET6`, `len` bytes) as NUL-terminated text,
/// `"10.0.0.1:80"` or `"[::1]:80"`, into `buf` of `cap` bytes.
///
/// Returns the text's length (without the NUL), `STCP_ERR_NULL`, `STCP_ERR_BAD_ADDRESS`, or
/// `STCP_ERR_BUFFER_TOO_SMALL` (`cap` must exceed the length; 64 bytes always suffice).
///
/// # Safety
/// `addr` must point to `len` readable bytes; `buf` to `cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn stcp_addr_format(
    addr: *const sockaddr,
    len: usize,
    buf: *mut c_char,
    cap: usize,
) -> isize {
    guard(|| {
        // SAFETY: the caller's contract is the one `socket_addr` needs.
        let a = unsafe { socket_addr(addr, len) }?;
        // SAFETY: the caller guarantees `cap` writable bytes at `buf`.
        let out = unsafe { out_slice(buf.cast::<u8>(), cap) }?;
        let mut text = Vec::with_capacity(64);
        write!(text, "{a}").map_err(|_| STCP_ERR_OTHER)?;
        if text.len() >= out.len() {
            return Err(STCP_ERR_BUFFER_TOO_SMALL);
        }
        out[..text.len()].copy_from_slice(&text);
        out[text.len()] = 0;
        isize_len(text.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `stcp_addr_parse` on a Rust string; NULL `out` when `out` is None.
    fn parse_c(text: &CStr, out: Option<&mut sockaddr_storage>, len: Option<&mut usize>) -> c_int {
        let out = out.map_or(ptr::null_mut(), |o| o as *mut sockaddr_storage);
        let len = len.map_or(ptr::null_mut(), |l| l as *mut usize);
        // SAFETY: `text` is NUL-terminated; `out` and `len` are NULL or valid for writes.
        unsafe { stcp_addr_parse(text.as_ptr(), out, len) }
    }

    /// `stcp_addr_format` into a buffer of `cap` bytes (at most 64).
    fn format_c(s: &sockaddr_storage, len: usize, cap: usize) -> (isize, String) {
        let mut buf = [0 as c_char; 64];
        assert!(cap <= buf.len());
        let p = (s as *const sockaddr_storage).cast::<sockaddr>();
        // SAFETY: `p` points to a whole sockaddr_storage (`len` is at most its size) and `buf`
        // to at least `cap` writable bytes.
        let n = unsafe { stcp_addr_format(p, len, buf.as_mut_ptr(), cap) };
        let text = if n >= 0 {
            // SAFETY: on success the text is NUL-terminated inside `buf`.
            unsafe { CStr::from_ptr(buf.as_ptr()) }
                .to_string_lossy()
                .into_owned()
        } else {
            String::new()
        };
        (n, text)
    }

    #[test]
    fn round_trips() {
        for text in ["10.0.0.1:80", "[::1]:443", "[fe80::1%2]:7", "0.0.0.0:0"] {
            let a: SocketAddr = text.parse().unwrap();
            let s = sockaddr_from(a);
            assert_eq!(storage_addr(&s).unwrap(), Some(a));
            let mut len = 0usize;
            let mut s2: sockaddr_storage = sockaddr_from("1.1.1.1:1".parse().unwrap());
            let c = std::ffi::CString::new(text).unwrap();
            assert_eq!(parse_c(&c, Some(&mut s2), Some(&mut len)), STCP_OK);
            assert_eq!(len, sockaddr_len(&a));
            assert_eq!(storage_addr(&s2).unwrap(), Some(a));
            assert_eq!(
                format_c(&s2, len, 64),
                (text.len() as isize, text.to_string())
            );
            // Too small by one (no room for the NUL).
            let (n, _) = format_c(&s2, len, text.len());
            assert_eq!(n, STCP_ERR_BUFFER_TOO_SMALL as isize);
        }
        let mut s = sockaddr_from("1.1.1.1:1".parse().unwrap());
        assert_eq!(parse_c(c"10.1.2.3", Some(&mut s), None), STCP_OK);
        assert_eq!(
            storage_addr(&s).unwrap(),
            Some("10.1.2.3:0".parse().unwrap())
        );
        assert_eq!(parse_c(c"[::2]", Some(&mut s), None), STCP_OK);
        assert_eq!(storage_addr(&s).unwrap(), Some("[::2]:0".parse().unwrap()));
        assert_eq!(parse_c(c"nope", Some(&mut s), None), STCP_ERR_INVALID);
        assert_eq!(parse_c(c"1.2.3.4", None, None), STCP_ERR_NULL);
        // SAFETY: NULL `text` is checked before any access.
        let r = unsafe { stcp_addr_parse(ptr::null(), &mut s, ptr::null_mut()) };
        assert_eq!(r, STCP_ERR_NULL);
    }

    #[test]
    fn rejects_short_and_foreign_addresses() {
        let s = sockaddr_from("10.0.0.1:80".parse().unwrap());
        let s6 = sockaddr_from("[::1]:80".parse().unwrap());
        let (n, _) = format_c(&s, size_of::<sockaddr_in>() - 1, 64);
        assert_eq!(n, STCP_ERR_BAD_ADDRESS as isize);
        let (n, _) = format_c(&s, 1, 64);
        assert_eq!(n, STCP_ERR_BAD_ADDRESS as isize);
        let (n, _) = format_c(&s6, size_of::<sockaddr_in>(), 64);
        assert_eq!(n, STCP_ERR_BAD_ADDRESS as isize);
        // SAFETY: NULL is checked before any access.
        let r = unsafe { socket_addr(ptr::null(), 16) };
        assert_eq!(r, Err(STCP_ERR_NULL));
        // SAFETY: all zeros is a valid sockaddr_storage.
        let mut unix: sockaddr_storage = unsafe { core::mem::zeroed() };
        unix.ss_family = libc::AF_UNIX as sa_family_t;
        assert_eq!(storage_addr(&unix), Err(STCP_ERR_BAD_ADDRESS));
    }
}
