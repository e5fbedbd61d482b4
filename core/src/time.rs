//! Virtual time as the core sees it: the caller passes `now` into every call.

use core::ops::{Add, Sub};
use core::time::Duration;

/// A point in time: nanoseconds since an epoch the caller picks.
///
/// The core never reads a clock; every time-dependent call takes an `Instant`, and deadlines
/// come back as absolute `Instant`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(pub u64);

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant(0);
    /// The latest representable instant; used as "never".
    pub const MAX: Instant = Instant(u64::MAX);

    /// An instant `ns` nanoseconds after the epoch.
    pub const fn from_nanos(ns: u64) -> Instant {
        Instant(ns)
    }
    /// An instant `us` microseconds after the epoch (saturating).
    pub const fn from_micros(us: u64) -> Instant {
        Instant(us.saturating_mul(1_000))
    }
    /// An instant `ms` milliseconds after the epoch (saturating).
    pub const fn from_millis(ms: u64) -> Instant {
        Instant(ms.saturating_mul(1_000_000))
    }
    /// An instant `s` seconds after the epoch (saturating).
    pub const fn from_secs(s: u64) -> Instant {
        Instant(s.saturating_mul(1_000_000_000))
    }
    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Milliseconds since the epoch, truncated.
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }
    /// `self + d`, clamped to [`Instant::MAX`].
    pub fn saturating_add(self, d: Duration) -> Instant {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(ns))
    }
    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl core::fmt::Display for Instant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{}.{:06}s",
            self.0 / 1_000_000_000,
            (self.0 % 1_000_000_000) / 1_000
        )
    }
}

/// A timer's absolute deadline, or none: an [`Instant`] with [`Instant::MAX`] as "not
/// running", in 8 bytes where `Option<Instant>` takes 16 (a connection holds ten of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadline(u64);

impl Deadline {
    /// No deadline.
    pub const NONE: Deadline = Deadline(u64::MAX);

    /// A deadline at `at` ([`Instant::MAX`] is the same as none: it never comes).
    pub const fn at(at: Instant) -> Deadline {
        Deadline(at.0)
    }

    /// The deadline, if one is set.
    pub fn get(self) -> Option<Instant> {
        (self.0 != u64::MAX).then_some(Instant(self.0))
    }

    /// Whether no deadline is set.
    pub fn is_none(self) -> bool {
        self.0 == u64::MAX
    }

    /// Whether a deadline is set and has come by `now`.
    pub fn is_due(self, now: Instant) -> bool {
        self.0 != u64::MAX && self.0 <= now.0
    }

    /// The deadline in nanoseconds, `u64::MAX` when none: for a branch-free minimum.
    pub const fn raw(self) -> u64 {
        self.0
    }
}

impl From<Option<Instant>> for Deadline {
    fn from(d: Option<Instant>) -> Deadline {
        d.map_or(Deadline::NONE, Deadline::at)
    }
}
