//! Configuration structures: the stack's, a listener's and a connection's options.

use core::ffi::c_int;
use core::time::Duration;

use libc::sockaddr_storage;
use sanstcp_core::{CongestionAlgorithm, ConnectOptions, ListenOptions, StackConfig};

use crate::addr::storage_addr;
use crate::error::*;
use crate::types::stcp_congestion;
use crate::{guard, NonNullMut};

/// Number of entries of `stcp_config.addresses`.
pub const STCP_MAX_ADDRESSES: usize = 8;

/// Configuration of a stack, for `stcp_stack_new`. Fill it with `stcp_config_default` first
/// (that also zeroes the padding of every address), then set the addresses, the secret and
/// the seed. Durations are in nanoseconds.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stcp_config {
    /// Key for the keyed hashes: ISNs (RFC 6528), ephemeral ports (RFC 6056), the connection
    /// table. Keep it secret and random; the same secret and seed give the same outputs.
    pub secret: [u8; 16],
    /// Seed for the stack's pseudo-random choices.
    pub seed: u64,
    /// The stack's local IPv4 and IPv6 addresses, as `sockaddr_in` / `sockaddr_in6` in a
    /// `sockaddr_storage` (ports are ignored). Only the first `address_count` are used.
    pub addresses: [sockaddr_storage; STCP_MAX_ADDRESSES],
    /// Number of entries of `addresses` in use (at least 1, at most `STCP_MAX_ADDRESSES`).
    pub address_count: usize,
    /// Link MTU in bytes, IP header included (default 1500; 576..=65535, 1280.. with IPv6).
    pub mtu: usize,
    /// Default send buffer per connection, bytes (default 256 KiB; 1 byte..=1 GiB).
    pub send_buffer: usize,
    /// Default receive buffer per connection, bytes: the largest window advertised (default
    /// 256 KiB; 1 byte..=1 GiB).
    pub recv_buffer: usize,
    /// Out-of-order memory per connection, bytes (default 4 MiB).
    pub reassembly_limit: usize,
    /// Maximum connections in the table, any state (default 2^20).
    pub max_connections: usize,
    /// Maximum segment lifetime; TIME-WAIT lasts twice this (default 30 s).
    pub msl_ns: u64,
    /// How long FIN-WAIT-2 waits for the peer's FIN after this side closed (default 60 s).
    pub fin_wait_2_timeout_ns: u64,
    /// Delayed-ACK time, at most 500 ms; 0 acknowledges every segment (default 40 ms).
    pub delayed_ack_ns: u64,
    /// Initial retransmission timeout (default 1 s).
    pub rto_initial_ns: u64,
    /// Lower bound of the retransmission timeout (default 200 ms).
    pub rto_min_ns: u64,
    /// Upper bound of the retransmission timeout (default 60 s).
    pub rto_max_ns: u64,
    /// Keep-alive idle time for new connections; 0 (the default) turns keep-alive off.
    pub keepalive_ns: u64,
    /// Interval between keep-alive probes (default 75 s).
    pub keepalive_interval_ns: u64,
    /// Retransmissions of one segment before the connection times out (default 12).
    pub max_retries: u32,
    /// Retransmissions of a SYN or SYN-ACK before the attempt times out (default 6).
    pub syn_retries: u32,
    /// Unanswered keep-alive probes before the connection times out (default 9).
    pub keepalive_probes: u32,
    /// Congestion control for new connections: a `stcp_congestion` value (default
    /// `STCP_CC_NEWRENO`).
    pub congestion: u32,
    /// Initial congestion window in segments (default 10).
    pub initial_window: u32,
    /// Challenge ACKs sent per second, stack-wide (default 1000).
    pub challenge_ack_limit: u32,
    /// Control packets (RSTs, challenge ACKs, ICMP replies) that may wait for
    /// `stcp_poll_transmit` (default 1024).
    pub control_queue_limit: usize,
    /// First port of the ephemeral range for active opens (default 49152).
    pub ephemeral_port_min: u16,
    /// Last port of the ephemeral range, inclusive (default 65535).
    pub ephemeral_port_max: u16,
    /// Hop limit / TTL of outgoing packets (default 64).
    pub hop_limit: u8,
    /// Nagle's algorithm for new connections (default true).
    pub nagle: bool,
    /// Offer and accept the Timestamps option (RFC 7323): RTT measurement on every ACK and
    /// PAWS (default true).
    pub timestamps: bool,
    /// Offer and accept SACK (RFC 2018) and use SACK-based loss recovery (RFC 6675)
    /// (default true).
    pub sack: bool,
    /// Verify checksums of incoming packets (default true; turn off only for fuzzing).
    pub verify_checksums: bool,
    /// Report every state transition as `STCP_EVENT_STATE_CHANGED` (default false).
    pub report_state_changes: bool,
}

/// Options for `stcp_listen`. Fill with `stcp_listen_options_default`, or pass NULL for the
/// defaults.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct stcp_listen_options {
    /// Accept-queue depth: established connections waiting for `stcp_accept` (default 128,
    /// at least 1).
    pub backlog: usize,
    /// SYN-queue depth: half-open connections (default 256, at least 1).
    pub syn_backlog: usize,
}

/// Options for `stcp_connect`. A zeroed structure (or NULL) means the defaults.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stcp_connect_options {
    /// Local address and port: family `AF_UNSPEC` (zeroed) lets the stack choose both; an
    /// unspecified address or port 0 lets it choose that part.
    pub local: sockaddr_storage,
    /// Turn Nagle's algorithm off for this connection (`TCP_NODELAY`).
    pub nodelay: bool,
    /// Send-buffer size in bytes; 0 takes the stack's default.
    pub send_buffer: usize,
    /// Receive-buffer size in bytes; 0 takes the stack's default.
    pub recv_buffer: usize,
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The C form of `cfg`, addresses excepted.
fn to_c(cfg: &StackConfig) -> stcp_config {
    stcp_config {
        secret: cfg.secret,
        seed: cfg.seed,
        // SAFETY: `sockaddr_storage` is a plain C struct of integers: all zeros is valid.
        addresses: [unsafe { core::mem::zeroed::<sockaddr_storage>() }; STCP_MAX_ADDRESSES],
        address_count: 0,
        mtu: cfg.mtu,
        send_buffer: cfg.send_buffer,
        recv_buffer: cfg.recv_buffer,
        reassembly_limit: cfg.reassembly_limit,
        max_connections: cfg.max_connections,
        msl_ns: ns(cfg.msl),
        fin_wait_2_timeout_ns: ns(cfg.fin_wait_2_timeout),
        delayed_ack_ns: ns(cfg.delayed_ack),
        rto_initial_ns: ns(cfg.rto_initial),
        rto_min_ns: ns(cfg.rto_min),
        rto_max_ns: ns(cfg.rto_max),
        keepalive_ns: cfg.keepalive.map_or(0, ns),
        keepalive_interval_ns: ns(cfg.keepalive_interval),
        max_retries: cfg.max_retries,
        syn_retries: cfg.syn_retries,
        keepalive_probes: cfg.keepalive_probes,
        congestion: crate::types::congestion(cfg.congestion) as u32,
        initial_window: cfg.initial_window,
        challenge_ack_limit: cfg.challenge_ack_limit,
        control_queue_limit: cfg.control_queue_limit,
        ephemeral_port_min: cfg.ephemeral_ports.0,
        ephemeral_port_max: cfg.ephemeral_ports.1,
        hop_limit: cfg.hop_limit,
        nagle: cfg.nagle,
        timestamps: cfg.timestamps,
        sack: cfg.sack,
        verify_checksums: cfg.verify_checksums,
        report_state_changes: cfg.report_state_changes,
    }
}

/// The core configuration for a C one (not yet validated by the core).
pub(crate) fn from_c(c: &stcp_config) -> Result<StackConfig, c_int> {
    let used = c.addresses.get(..c.address_count).ok_or(STCP_ERR_INVALID)?;
    let mut addresses = Vec::with_capacity(used.len());
    for a in used {
        addresses.push(storage_addr(a)?.ok_or(STCP_ERR_BAD_ADDRESS)?.ip());
    }
    let congestion = match c.congestion {
        x if x == stcp_congestion::STCP_CC_NEWRENO as u32 => CongestionAlgorithm::NewReno,
        x if x == stcp_congestion::STCP_CC_NONE as u32 => CongestionAlgorithm::None,
        _ => return Err(STCP_ERR_INVALID),
    };
    let mut cfg = StackConfig::new(addresses, c.secret, c.seed);
    cfg.mtu = c.mtu;
    cfg.send_buffer = c.send_buffer;
    cfg.recv_buffer = c.recv_buffer;
    cfg.reassembly_limit = c.reassembly_limit;
    cfg.max_connections = c.max_connections;
    cfg.msl = Duration::from_nanos(c.msl_ns);
    cfg.fin_wait_2_timeout = Duration::from_nanos(c.fin_wait_2_timeout_ns);
    cfg.delayed_ack = Duration::from_nanos(c.delayed_ack_ns);
    cfg.rto_initial = Duration::from_nanos(c.rto_initial_ns);
    cfg.rto_min = Duration::from_nanos(c.rto_min_ns);
    cfg.rto_max = Duration::from_nanos(c.rto_max_ns);
    cfg.max_retries = c.max_retries;
    cfg.syn_retries = c.syn_retries;
    cfg.keepalive = (c.keepalive_ns != 0).then(|| Duration::from_nanos(c.keepalive_ns));
    cfg.keepalive_interval = Duration::from_nanos(c.keepalive_interval_ns);
    cfg.keepalive_probes = c.keepalive_probes;
    cfg.nagle = c.nagle;
    cfg.timestamps = c.timestamps;
    cfg.sack = c.sack;
    cfg.congestion = congestion;
    cfg.initial_window = c.initial_window;
    cfg.challenge_ack_limit = c.challenge_ack_limit;
    cfg.hop_limit = c.hop_limit;
    cfg.ephemeral_ports = (c.ephemeral_port_min, c.ephemeral_port_max);
    cfg.verify_checksums = c.verify_checksums;
    cfg.control_queue_limit = c.control_queue_limit;
    cfg.report_state_changes = c.report_state_changes;
    Ok(cfg)
}

/// Fills `*config` with the defaults: no address, an all-zero secret, seed 0, and the default
/// of every field (see each field). Returns `STCP_OK` or `STCP_ERR_NULL`.
///
/// # Safety
/// `config` must be NULL or valid for writes of a `stcp_config`.
#[no_mangle]
pub unsafe extern "C" fn stcp_config_default(config: *mut stcp_config) -> c_int {
    guard(|| {
        let out = NonNullMut::new(config)?;
        let c = to_c(&StackConfig::new(Vec::new(), [0; 16], 0));
        // SAFETY: the caller guarantees `config` is valid for writes.
        unsafe { out.write(c) };
        Ok(STCP_OK)
    })
}

/// Checks a configuration as `stcp_stack_new` would, and tells why it would fail: `STCP_OK`,
/// `STCP_ERR_NULL`, `STCP_ERR_INVALID` (`address_count` too large, unknown `congestion`),
/// `STCP_ERR_BAD_ADDRESS`, `STCP_ERR_NO_ADDRESSES`, `STCP_ERR_BAD_MTU`,
/// `STCP_ERR_BAD_BUFFER_SIZE`, `STCP_ERR_BAD_LIMIT` or `STCP_ERR_BAD_PORT_RANGE`.
///
/// # Safety
/// `config` must be NULL or point to an initialized `stcp_config`.
#[no_mangle]
pub unsafe extern "C" fn stcp_config_validate(config: *const stcp_config) -> c_int {
    guard(|| {
        // SAFETY: the caller guarantees NULL or an initialized, readable `stcp_config`.
        let c = unsafe { config.as_ref() }.ok_or(STCP_ERR_NULL)?;
        from_c(c)?.validate().map_err(config_error)?;
        Ok(STCP_OK)
    })
}

/// Fills `*options` with the listener defaults (backlog 128, SYN backlog 256). Returns
/// `STCP_OK` or `STCP_ERR_NULL`.
///
/// # Safety
/// `options` must be NULL or valid for writes of a `stcp_listen_options`.
#[no_mangle]
pub unsafe extern "C" fn stcp_listen_options_default(options: *mut stcp_listen_options) -> c_int {
    guard(|| {
        let out = NonNullMut::new(options)?;
        let d = ListenOptions::default();
        // SAFETY: the caller guarantees `options` is valid for writes.
        unsafe {
            out.write(stcp_listen_options {
                backlog: d.backlog,
                syn_backlog: d.syn_backlog,
            })
        };
        Ok(STCP_OK)
    })
}

pub(crate) fn listen_options(o: Option<&stcp_listen_options>) -> ListenOptions {
    match o {
        Some(o) => ListenOptions {
            backlog: o.backlog,
            syn_backlog: o.syn_backlog,
        },
        None => ListenOptions::default(),
    }
}

pub(crate) fn connect_options(o: Option<&stcp_connect_options>) -> Result<ConnectOptions, c_int> {
    let Some(o) = o else {
        return Ok(ConnectOptions::default());
    };
    Ok(ConnectOptions {
        local: storage_addr(&o.local)?,
        nodelay: o.nodelay,
        send_buffer: (o.send_buffer != 0).then_some(o.send_buffer),
        recv_buffer: (o.recv_buffer != 0).then_some(o.recv_buffer),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::MaybeUninit;

    fn default_config() -> stcp_config {
        let mut c = MaybeUninit::<stcp_config>::uninit();
        // SAFETY: a valid pointer to writable memory for a stcp_config.
        assert_eq!(unsafe { stcp_config_default(c.as_mut_ptr()) }, STCP_OK);
        // SAFETY: stcp_config_default initialized every field.
        unsafe { c.assume_init() }
    }

    #[test]
    fn defaults_round_trip_to_the_core_defaults() {
        let mut c = default_config();
        c.addresses[0] = crate::addr::sockaddr_from("10.0.0.1:0".parse().unwrap());
        c.address_count = 1;
        let cfg = from_c(&c).unwrap();
        let core = StackConfig::new(vec!["10.0.0.1".parse().unwrap()], [0; 16], 0);
        assert_eq!(format!("{cfg:?}"), format!("{core:?}"));
    }

    #[test]
    fn validate_reports_each_problem() {
        // SAFETY: NULL is checked before any access.
        let r = unsafe { stcp_config_validate(core::ptr::null()) };
        assert_eq!(r, STCP_ERR_NULL);
        // SAFETY: NULL is checked before any access.
        let r = unsafe { stcp_config_default(core::ptr::null_mut()) };
        assert_eq!(r, STCP_ERR_NULL);
        let check = |c: &stcp_config| {
            // SAFETY: `c` is an initialized config.
            unsafe { stcp_config_validate(c) }
        };
        let mut c = default_config();
        assert_eq!(check(&c), STCP_ERR_NO_ADDRESSES);
        c.addresses[0] = crate::addr::sockaddr_from("10.0.0.1:0".parse().unwrap());
        c.address_count = 1;
        assert_eq!(check(&c), STCP_OK);
        let mut bad = c;
        bad.address_count = STCP_MAX_ADDRESSES + 1;
        assert_eq!(check(&bad), STCP_ERR_INVALID);
        let mut bad = c;
        bad.address_count = 2; // the second entry is AF_UNSPEC
        assert_eq!(check(&bad), STCP_ERR_BAD_ADDRESS);
        let mut bad = c;
        bad.congestion = 77;
        assert_eq!(check(&bad), STCP_ERR_INVALID);
        let mut bad = c;
        bad.mtu = 100;
        assert_eq!(check(&bad), STCP_ERR_BAD_MTU);
        let mut bad = c;
        bad.send_buffer = 0;
        assert_eq!(check(&bad), STCP_ERR_BAD_BUFFER_SIZE);
        let mut bad = c;
        bad.max_retries = 0;
        assert_eq!(check(&bad), STCP_ERR_BAD_LIMIT);
        let mut bad = c;
        bad.ephemeral_port_min = 2000;
        bad.ephemeral_port_max = 1000;
        assert_eq!(check(&bad), STCP_ERR_BAD_PORT_RANGE);
    }
}
