//! C ABI for sanstcp: not built yet (see the bindings/c issue).
#![forbid(unsafe_code)]
