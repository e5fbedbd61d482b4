//! Reading Python buffers (`bytes`, `bytearray`, `memoryview`, ...) in place.
//!
//! The buffer protocol (`PyObject_GetBuffer`) joined the stable ABI only in Python 3.11, so
//! pyo3 does not offer it to an `abi3-py39` module. The function and the `Py_buffer` layout
//! have been the same in every CPython 3 release, and on Unix an extension module resolves
//! the symbol from the running interpreter, so we declare them here. On Windows (where an abi3
//! module links `python3.dll`, which lacks the symbol before 3.11) anything but `bytes` is
//! copied through `bytes(obj)` instead.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Calls `f` with the contents of `obj`, which must be a contiguous byte buffer.
pub(crate) fn with_bytes<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(f(b.as_bytes()));
    }
    with_buffer(obj, f)
}

#[cfg(windows)]
fn with_buffer<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    let copy = obj.py().get_type::<PyBytes>().call1((obj,))?;
    let b = copy.cast::<PyBytes>()?;
    Ok(f(b.as_bytes()))
}

#[cfg(not(windows))]
#[allow(unsafe_code)]
fn with_buffer<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    use std::ffi::{c_char, c_int, c_void};
    use std::mem::MaybeUninit;

    use pyo3::ffi::{PyObject, Py_ssize_t};

    /// CPython's `Py_buffer` (Include/pybuffer.h; unchanged since Python 3.3).
    #[repr(C)]
    struct PyBuffer {
        buf: *mut c_void,
        obj: *mut PyObject,
        len: Py_ssize_t,
        itemsize: Py_ssize_t,
        readonly: c_int,
        ndim: c_int,
        format: *mut c_char,
        shape: *mut Py_ssize_t,
        strides: *mut Py_ssize_t,
        suboffsets: *mut Py_ssize_t,
        internal: *mut c_void,
    }

    extern "C" {
        fn PyObject_GetBuffer(obj: *mut PyObject, view: *mut PyBuffer, flags: c_int) -> c_int;
        fn PyBuffer_Release(view: *mut PyBuffer);
    }

    /// `PyBUF_SIMPLE`: a contiguous run of unsigned bytes, no shape or strides.
    const PYBUF_SIMPLE: c_int = 0;

    /// Releases the buffer when dropped, also when `f` panics.
    struct Guard(MaybeUninit<PyBuffer>);
    impl Drop for Guard {
        fn drop(&mut self) {
            // SAFETY: the guard only exists after PyObject_GetBuffer filled the view, and we
            // hold the GIL (the `Bound` we were given proves it) for the whole call.
            unsafe { PyBuffer_Release(self.0.as_mut_ptr()) }
        }
    }

    let mut view = MaybeUninit::<PyBuffer>::uninit();
    // SAFETY: `obj` is a live object and we hold the GIL; on success CPython fills `view`.
    let rc = unsafe { PyObject_GetBuffer(obj.as_ptr(), view.as_mut_ptr(), PYBUF_SIMPLE) };
    if rc != 0 {
        return Err(PyErr::take(obj.py()).unwrap_or_else(|| {
            pyo3::exceptions::PyTypeError::new_err("expected a bytes-like object")
        }));
    }
    let guard = Guard(view);
    // SAFETY: the view was filled (rc == 0); PyBUF_SIMPLE guarantees `len` contiguous bytes
    // at `buf`, which stay valid and unresized (the exporter is locked) until the release.
    // `f` runs Rust code only, so no Python code can mutate the buffer meanwhile.
    let bytes = unsafe {
        let v = &*guard.0.as_ptr();
        if v.len <= 0 || v.buf.is_null() {
            &[][..]
        } else {
            std::slice::from_raw_parts(v.buf as *const u8, v.len as usize)
        }
    };
    let r = f(bytes);
    drop(guard);
    Ok(r)
}
