//! Async adapter for sanstcp: not built yet (see the io-async issue).
#![forbid(unsafe_code)]
