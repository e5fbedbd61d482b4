//! # sanstcp C ABI
//!
//! `libsanstcp.so` / `libsanstcp.a` and `include/sanstcp.h` (generated from this crate by
//! cbindgen). The functions mirror the Rust API of the core one to one with the `stcp_`
//! prefix; see the header for the contract of each.
//!
//! Conventions, kept by every export:
//! * opaque handles (`stcp_stack *`, `stcp_link *`), created by `*_new` and released by
//!   `*_free`; connection and listener ids are the core's generational ids as `uint64_t`;
//! * time is `uint64_t now_ns`, nanoseconds since an epoch the caller picks;
//! * every pointer is checked for NULL and every length against `PTRDIFF_MAX` and the buffer it
//!   must fill; failures are negative `STCP_ERR_*` codes (append-only);
//! * every export runs behind a panic boundary: a caught panic returns `STCP_ERR_PANIC` and
//!   poisons the object it happened on;
//! * no callbacks: the library never calls into the application.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![allow(non_camel_case_types)]

#[cfg(test)]
mod abi_tests;
mod addr;
mod config;
mod error;
mod stack;
mod tap;
mod types;

use core::ffi::{c_char, c_int, CStr};
use core::panic::AssertUnwindSafe;
use core::ptr::NonNull;
use std::panic::catch_unwind;

pub use addr::{stcp_addr_format, stcp_addr_parse};
pub use config::*;
pub use error::*;
pub use stack::*;
pub use tap::*;
pub use types::*;

/// The library version (`"MAJOR.MINOR.PATCH"`), a static NUL-terminated string.
#[no_mangle]
pub extern "C" fn stcp_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    static_str(|| VERSION)
}

/// How an export reports an error code through its return type.
pub(crate) trait ErrorReturn {
    /// The return value for `code` (a negative `STCP_ERR_*`).
    fn from_code(code: c_int) -> Self;
}

impl ErrorReturn for c_int {
    fn from_code(code: c_int) -> c_int {
        code
    }
}

impl ErrorReturn for isize {
    fn from_code(code: c_int) -> isize {
        code as isize
    }
}

/// Deadlines: an error reads as "no deadline".
impl ErrorReturn for u64 {
    fn from_code(_: c_int) -> u64 {
        u64::MAX
    }
}

/// Handles: an error reads as NULL.
impl<T> ErrorReturn for *mut T {
    fn from_code(_: c_int) -> *mut T {
        core::ptr::null_mut()
    }
}

/// Runs `f`, which returns a static string, behind the panic boundary.
pub(crate) fn static_str(f: impl FnOnce() -> &'static CStr) -> *const c_char {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or(c"internal error")
        .as_ptr()
}

/// Runs `f` behind the panic boundary: its error code, or `STCP_ERR_PANIC` if it panicked.
pub(crate) fn guard<T: ErrorReturn>(f: impl FnOnce() -> Result<T, c_int>) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(code)) => T::from_code(code),
        Err(_) => T::from_code(STCP_ERR_PANIC),
    }
}

/// A length as a non-negative return value.
pub(crate) fn isize_len(n: usize) -> Result<isize, c_int> {
    isize::try_from(n).map_err(|_| STCP_ERR_INVALID)
}

/// A non-NULL pointer for a result written at the end of a call (checked before the call has
/// any effect, so that a NULL output never loses a connection or an event).
pub(crate) struct NonNullMut<T>(NonNull<T>);

impl<T> NonNullMut<T> {
    pub(crate) fn new(p: *mut T) -> Result<NonNullMut<T>, c_int> {
        NonNull::new(p).map(NonNullMut).ok_or(STCP_ERR_NULL)
    }

    /// Writes `v` without reading or dropping the old value (which may be uninitialized).
    ///
    /// # Safety
    /// The pointer must be valid for writes of `T` and aligned.
    pub(crate) unsafe fn write(&self, v: T) {
        // SAFETY: the caller guarantees validity and alignment; the pointer is not NULL.
        unsafe { self.0.as_ptr().write(v) }
    }
}

/// A read-only byte buffer from C: NULL is accepted only with length 0.
///
/// # Safety
/// When not NULL, `p` must point to `len` readable bytes that nothing writes during the call.
pub(crate) unsafe fn in_slice<'a>(p: *const u8, len: usize) -> Result<&'a [u8], c_int> {
    if len > isize::MAX as usize {
        return Err(STCP_ERR_INVALID);
    }
    if p.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(STCP_ERR_NULL)
        };
    }
    // SAFETY: not NULL, `len` fits `isize`, and the caller guarantees `len` readable bytes
    // not written during the call; u8 has no alignment requirement.
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// A writable byte buffer from C. NULL is an error whatever the length.
///
/// # Safety
/// When not NULL, `p` must point to `len` writable bytes that nothing else accesses during
/// the call.
pub(crate) unsafe fn out_slice<'a>(p: *mut u8, len: usize) -> Result<&'a mut [u8], c_int> {
    if p.is_null() {
        return Err(STCP_ERR_NULL);
    }
    if len > isize::MAX as usize {
        return Err(STCP_ERR_INVALID);
    }
    // The library only writes these bytes, but a slice claims they are initialized: clear
    // them first so that an uninitialized C buffer never becomes a `&mut [u8]`.
    // SAFETY: the caller guarantees `len` writable bytes; `write_bytes` does not read them.
    unsafe { core::ptr::write_bytes(p, 0, len) };
    // SAFETY: not NULL, `len` fits `isize`, the bytes are now initialized, and the caller
    // guarantees exclusive access during the call; u8 has no alignment requirement.
    Ok(unsafe { core::slice::from_raw_parts_mut(p, len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_panic_boundary_turns_a_panic_into_an_error_code() {
        let r: c_int = guard(|| -> Result<c_int, c_int> { panic!("boom") });
        assert_eq!(r, STCP_ERR_PANIC);
        let r: isize = guard(|| -> Result<isize, c_int> { panic!("boom") });
        assert_eq!(r, STCP_ERR_PANIC as isize);
        let r: u64 = guard(|| -> Result<u64, c_int> { panic!("boom") });
        assert_eq!(r, u64::MAX);
        let r: *mut u8 = guard(|| -> Result<*mut u8, c_int> { panic!("boom") });
        assert!(r.is_null());
        let r: c_int = guard(|| Err(STCP_ERR_INVALID));
        assert_eq!(r, STCP_ERR_INVALID);
    }

    #[test]
    fn version_is_the_crate_version() {
        // SAFETY: a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(stcp_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn buffers_check_null_and_length() {
        // SAFETY: NULL with length 0 is the empty slice; the others fail before any access.
        unsafe {
            assert_eq!(in_slice(core::ptr::null(), 0), Ok(&[][..]));
            assert_eq!(in_slice(core::ptr::null(), 1), Err(STCP_ERR_NULL));
            let b = [1u8];
            assert_eq!(in_slice(b.as_ptr(), usize::MAX), Err(STCP_ERR_INVALID));
            assert_eq!(
                out_slice(core::ptr::null_mut(), 0).err(),
                Some(STCP_ERR_NULL)
            );
            let mut m = [1u8];
            assert_eq!(
                out_slice(m.as_mut_ptr(), usize::MAX).err(),
                Some(STCP_ERR_INVALID)
            );
        }
    }
}
