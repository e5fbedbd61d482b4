//! Python bindings for sanstcp: not built yet (see the bindings/python issue).
#![forbid(unsafe_code)]
