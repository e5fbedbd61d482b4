//! Python bindings for sanstcp: the extension module `sanstcp._native`.
//!
//! The Python package `sanstcp` (under `python/sanstcp/`) re-exports what is defined here and
//! adds the pure-Python parts: exceptions, packet helpers, the packetdrill-style script runner
//! and the asyncio layer. Build it with maturin (`pip install ./bindings/python`).
//!
//! Conventions (DESIGN.md, "Python"): `now` is float seconds since an epoch the caller picks;
//! ids are small frozen classes ([`PyConnId`], [`PyListenerId`]); events are frozen classes;
//! errors are raised as instances of the classes in `sanstcp._errors`, which subclass the
//! matching built-in exceptions and `sanstcp.TcpError`.

// Reading `bytearray` and `memoryview` arguments in place needs the buffer protocol, which the
// stable ABI of Python 3.9 and 3.10 does not declare; see `buffer` below. Nothing else is unsafe.
#![deny(unsafe_code)]

use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use sanstcp::link::{Interface as CoreInterface, LinkConfig, LinkInput};
use sanstcp::wire::EthernetAddress;
use sanstcp::{
    CloseReason, CongestionAlgorithm, ConnId, ConnInfo, ConnectOptions, Event, Input, Instant,
    ListenOptions, ListenerId, RecvError, SendError, Stack, StackConfig,
};

mod buffer;

// ---- conversions ----------------------------------------------------------------------------

/// Float seconds to an [`Instant`]; negative, NaN and infinite times are refused.
fn instant(now: f64) -> PyResult<Instant> {
    if !now.is_finite() || now < 0.0 {
        return Err(PyValueError::new_err(format!(
            "time must be finite and >= 0, got {now}"
        )));
    }
    Ok(Instant::from_nanos(
        (now * 1e9).round().min(u64::MAX as f64) as u64,
    ))
}

/// An [`Instant`] as float seconds.
fn seconds(t: Instant) -> f64 {
    t.as_nanos() as f64 / 1e9
}

/// Float seconds to a [`Duration`].
fn duration(s: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| PyValueError::new_err(format!("{what} must be a finite number >= 0, got {s}")))
}

/// `(host, port)` to a socket address.
fn sockaddr(addr: &Bound<'_, PyAny>) -> PyResult<SocketAddr> {
    let tuple = addr
        .cast::<PyTuple>()
        .map_err(|_| PyTypeError::new_err("an address is a (host, port) tuple"))?;
    if tuple.len() < 2 {
        return Err(PyTypeError::new_err("an address is a (host, port) tuple"));
    }
    let host: String = tuple.get_item(0)?.extract()?;
    let port: u16 = tuple.get_item(1)?.extract()?;
    let ip = parse_ip(&host)?;
    Ok(SocketAddr::new(ip, port))
}

/// An IP address from its text form (`""` is the IPv4 unspecified address).
fn parse_ip(host: &str) -> PyResult<IpAddr> {
    if host.is_empty() {
        return Ok(IpAddr::from([0, 0, 0, 0]));
    }
    host.parse()
        .map_err(|_| PyValueError::new_err(format!("not an IP address: {host:?}")))
}

/// A socket address as the `(host, port)` tuple Python's socket module uses.
fn addr_tuple(a: SocketAddr) -> (String, u16) {
    (a.ip().to_string(), a.port())
}

/// Builds an exception from `sanstcp._errors` by kind.
fn error(py: Python<'_>, kind: &str, message: impl ToString) -> PyErr {
    let made = py
        .import("sanstcp._errors")
        .and_then(|m| m.getattr("make_error"))
        .and_then(|f| f.call1((kind, message.to_string())));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// The exception for a core error: every core error converts to an `io::Error` of the
/// matching kind, and the kind picks the class in `sanstcp._errors`.
fn core_error<E: Into<std::io::Error> + std::fmt::Display + Copy>(py: Python<'_>, e: E) -> PyErr {
    use std::io::ErrorKind as K;
    let kind = match e.into().kind() {
        K::NotFound => "invalid_connection",
        K::BrokenPipe => "broken_pipe",
        K::ConnectionReset => "reset",
        K::TimedOut => "timed_out",
        K::ConnectionRefused => "refused",
        K::ConnectionAborted => "aborted",
        K::NotConnected => "not_connected",
        K::AddrInUse => "address_in_use",
        K::AddrNotAvailable => "address_not_available",
        K::OutOfMemory => "resource_exhausted",
        _ => "invalid_argument",
    };
    error(py, kind, e)
}

fn reason_name(r: CloseReason) -> &'static str {
    match r {
        CloseReason::Normal => "normal",
        CloseReason::Reset => "reset",
        CloseReason::TimedOut => "timed_out",
        CloseReason::Refused => "refused",
        CloseReason::Aborted => "aborted",
    }
}

fn congestion_name(c: CongestionAlgorithm) -> &'static str {
    match c {
        CongestionAlgorithm::Cubic => "cubic",
        CongestionAlgorithm::None => "none",
        _ => "newreno",
    }
}

// ---- ids --------------------------------------------------------------------------------------

/// A connection handle. Generational: after the connection is released every call with it
/// fails (or returns `None`) instead of reaching another connection.
#[pyclass(
    name = "ConnId",
    module = "sanstcp._native",
    frozen,
    eq,
    hash,
    ord,
    from_py_object
)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PyConnId(u64);

#[pymethods]
impl PyConnId {
    /// Rebuilds an id from its raw form (a made-up value is harmless: it is just stale).
    #[new]
    fn new(raw: u64) -> Self {
        PyConnId(raw)
    }
    /// The raw 64-bit form.
    #[getter]
    fn raw(&self) -> u64 {
        self.0
    }
    fn __repr__(&self) -> String {
        let id = ConnId::from_raw(self.0);
        format!("ConnId({:#x})", id.to_raw())
    }
}

impl PyConnId {
    fn id(&self) -> ConnId {
        ConnId::from_raw(self.0)
    }
}

/// A listener handle; generational like [`PyConnId`].
#[pyclass(
    name = "ListenerId",
    module = "sanstcp._native",
    frozen,
    eq,
    hash,
    ord,
    from_py_object
)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PyListenerId(u64);

#[pymethods]
impl PyListenerId {
    /// Rebuilds an id from its raw form.
    #[new]
    fn new(raw: u64) -> Self {
        PyListenerId(raw)
    }
    /// The raw 64-bit form.
    #[getter]
    fn raw(&self) -> u64 {
        self.0
    }
    fn __repr__(&self) -> String {
        format!("ListenerId({:#x})", self.0)
    }
}

// ---- events -----------------------------------------------------------------------------------

macro_rules! conn_event {
    ($(#[$m:meta])* $rust:ident, $py:literal) => {
        $(#[$m])*
        #[pyclass(name = $py, module = "sanstcp._native", frozen, eq, hash)]
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $rust {
            /// The connection.
            #[pyo3(get)]
            conn: PyConnId,
        }

        #[pymethods]
        impl $rust {
            /// The event for `conn`.
            #[new]
            fn new(conn: PyConnId) -> Self {
                $rust { conn }
            }
            #[classattr]
            fn __match_args__() -> (&'static str,) {
                ("conn",)
            }
            fn __repr__(&self) -> String {
                format!("{}(conn={})", $py, self.conn.__repr__())
            }
        }
    };
}

conn_event!(
    /// An active open completed: the connection is established.
    Connected,
    "Connected"
);
conn_event!(
    /// New data can be read with `recv`.
    Readable,
    "Readable"
);
conn_event!(
    /// Send-buffer space became free after a `send` was cut short.
    Writable,
    "Writable"
);
conn_event!(
    /// The peer sent FIN: after the buffered data, `recv` returns `b""`.
    PeerClosed,
    "PeerClosed"
);

/// A listener has a connection waiting in its accept queue.
#[pyclass(module = "sanstcp._native", frozen, eq, hash)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Incoming {
    /// The listener to call `accept` on.
    #[pyo3(get)]
    listener: PyListenerId,
}

#[pymethods]
impl Incoming {
    /// The event for `listener`.
    #[new]
    fn new(listener: PyListenerId) -> Self {
        Incoming { listener }
    }
    #[classattr]
    fn __match_args__() -> (&'static str,) {
        ("listener",)
    }
    fn __repr__(&self) -> String {
        format!("Incoming(listener={})", self.listener.__repr__())
    }
}

/// The connection ended; `reason` is `"normal"`, `"reset"`, `"timed_out"`, `"refused"` or
/// `"aborted"`. Fatal reasons are sticky: later calls raise the matching exception.
#[pyclass(module = "sanstcp._native", frozen, eq, hash)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Closed {
    /// The connection.
    #[pyo3(get)]
    conn: PyConnId,
    /// Why it ended.
    #[pyo3(get)]
    reason: String,
}

#[pymethods]
impl Closed {
    /// The event for `conn`.
    #[new]
    fn new(conn: PyConnId, reason: String) -> Self {
        Closed { conn, reason }
    }
    #[classattr]
    fn __match_args__() -> (&'static str, &'static str) {
        ("conn", "reason")
    }
    fn __repr__(&self) -> String {
        format!(
            "Closed(conn={}, reason={:?})",
            self.conn.__repr__(),
            self.reason
        )
    }
}

/// A state transition (only with `report_state_changes=True`); states are RFC names such as
/// `"SYN-SENT"`.
#[pyclass(module = "sanstcp._native", frozen, eq, hash)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StateChanged {
    /// The connection.
    #[pyo3(get)]
    conn: PyConnId,
    /// The state before.
    #[pyo3(get)]
    old: String,
    /// The state after.
    #[pyo3(get)]
    new: String,
}

#[pymethods]
impl StateChanged {
    /// The event for `conn`.
    #[new]
    fn new(conn: PyConnId, old: String, new: String) -> Self {
        StateChanged { conn, old, new }
    }
    #[classattr]
    fn __match_args__() -> (&'static str, &'static str, &'static str) {
        ("conn", "old", "new")
    }
    fn __repr__(&self) -> String {
        format!(
            "StateChanged(conn={}, old={:?}, new={:?})",
            self.conn.__repr__(),
            self.old,
            self.new
        )
    }
}

fn event_object(py: Python<'_>, ev: Event) -> PyResult<Py<PyAny>> {
    let c = |id: ConnId| PyConnId(id.to_raw());
    Ok(match ev {
        Event::Connected { conn } => Py::new(py, Connected { conn: c(conn) })?.into_any(),
        Event::Incoming { listener } => Py::new(
            py,
            Incoming {
                listener: PyListenerId(listener.to_raw()),
            },
        )?
        .into_any(),
        Event::Readable { conn } => Py::new(py, Readable { conn: c(conn) })?.into_any(),
        Event::Writable { conn } => Py::new(py, Writable { conn: c(conn) })?.into_any(),
        Event::PeerClosed { conn } => Py::new(py, PeerClosed { conn: c(conn) })?.into_any(),
        Event::Closed { conn, reason } => Py::new(
            py,
            Closed {
                conn: c(conn),
                reason: reason_name(reason).to_string(),
            },
        )?
        .into_any(),
        Event::StateChanged { conn, from, to } => Py::new(
            py,
            StateChanged {
                conn: c(conn),
                old: from.name().to_string(),
                new: to.name().to_string(),
            },
        )?
        .into_any(),
    })
}

// ---- info and stats ---------------------------------------------------------------------------

/// A `tcp_info`-like snapshot of one connection (see `Stack.info`). Times are float seconds.
#[pyclass(name = "ConnInfo", module = "sanstcp._native", frozen, get_all)]
#[derive(Clone)]
pub struct PyConnInfo {
    /// RFC state name, e.g. `"ESTABLISHED"`.
    state: String,
    /// Local `(host, port)`.
    local: (String, u16),
    /// Remote `(host, port)`.
    remote: (String, u16),
    /// Initial send sequence number.
    iss: u32,
    /// Initial receive sequence number.
    irs: u32,
    /// Oldest unacknowledged sequence number.
    snd_una: u32,
    /// Next sequence number to send.
    snd_nxt: u32,
    /// Peer's receive window, bytes (scaled).
    snd_wnd: u32,
    /// Next sequence number expected.
    rcv_nxt: u32,
    /// Receive window advertised, bytes.
    rcv_wnd: u32,
    /// Shift applied to the peer's window field, if negotiated.
    snd_wscale: Option<u8>,
    /// Shift applied to our window field, if negotiated.
    rcv_wscale: Option<u8>,
    /// MSS this side sends.
    mss: u16,
    /// MSS the peer announced.
    peer_mss: u16,
    /// Path MTU.
    path_mtu: u16,
    /// Congestion window, bytes.
    cwnd: u32,
    /// Slow-start threshold, bytes (`0xffffffff` before the first loss).
    ssthresh: u32,
    /// `"newreno"`, `"cubic"` or `"none"`.
    congestion: String,
    /// Smoothed RTT in seconds, if measured.
    srtt: Option<f64>,
    /// RTT variance in seconds.
    rttvar: f64,
    /// Retransmission timeout in seconds.
    rto: f64,
    /// Bytes sent and not yet acknowledged.
    bytes_in_flight: u32,
    /// Bytes in the send buffer.
    send_queued: usize,
    /// Bytes waiting to be read.
    recv_queued: usize,
    /// Out-of-order bytes held.
    reassembly_queued: usize,
    /// Segments retransmitted.
    retransmits: u64,
    /// Consecutive RTO backoffs.
    backoff: u32,
    /// Nagle's algorithm is on.
    nagle: bool,
    /// Keep-alive idle time in seconds, if on.
    keepalive: Option<f64>,
    /// Last ICMP soft error `(type, code)`, if any.
    soft_error: Option<(u8, u8)>,
    /// Timestamps negotiated.
    timestamps: bool,
    /// SACK negotiated.
    sack: bool,
    /// ECN negotiated.
    ecn: bool,
}

impl PyConnInfo {
    fn from_core(i: &ConnInfo) -> Self {
        PyConnInfo {
            state: i.state.name().to_string(),
            local: addr_tuple(i.local),
            remote: addr_tuple(i.remote),
            iss: i.iss,
            irs: i.irs,
            snd_una: i.snd_una,
            snd_nxt: i.snd_nxt,
            snd_wnd: i.snd_wnd,
            rcv_nxt: i.rcv_nxt,
            rcv_wnd: i.rcv_wnd,
            snd_wscale: i.snd_wscale,
            rcv_wscale: i.rcv_wscale,
            mss: i.mss,
            peer_mss: i.peer_mss,
            path_mtu: i.path_mtu,
            cwnd: i.cwnd,
            ssthresh: i.ssthresh,
            congestion: congestion_name(i.congestion).to_string(),
            srtt: i.srtt.map(|d| d.as_secs_f64()),
            rttvar: i.rttvar.as_secs_f64(),
            rto: i.rto.as_secs_f64(),
            bytes_in_flight: i.bytes_in_flight,
            send_queued: i.send_queued,
            recv_queued: i.recv_queued,
            reassembly_queued: i.reassembly_queued,
            retransmits: i.retransmits,
            backoff: i.backoff,
            nagle: i.nagle,
            keepalive: i.keepalive.map(|d| d.as_secs_f64()),
            soft_error: i.soft_error,
            timestamps: i.timestamps,
            sack: i.sack,
            ecn: i.ecn,
        }
    }
}

/// Field names of [`PyConnInfo`], in order, for `_asdict` and `repr`.
const INFO_FIELDS: [&str; 33] = [
    "state",
    "local",
    "remote",
    "iss",
    "irs",
    "snd_una",
    "snd_nxt",
    "snd_wnd",
    "rcv_nxt",
    "rcv_wnd",
    "snd_wscale",
    "rcv_wscale",
    "mss",
    "peer_mss",
    "path_mtu",
    "cwnd",
    "ssthresh",
    "congestion",
    "srtt",
    "rttvar",
    "rto",
    "bytes_in_flight",
    "send_queued",
    "recv_queued",
    "reassembly_queued",
    "retransmits",
    "backoff",
    "nagle",
    "keepalive",
    "soft_error",
    "timestamps",
    "sack",
    "ecn",
];

/// Every field of a frozen object as a dict, in declaration order.
fn as_dict<'py>(obj: &Bound<'py, PyAny>, fields: &[&str]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(obj.py());
    for f in fields {
        d.set_item(*f, obj.getattr(*f)?)?;
    }
    Ok(d)
}

/// `Name(a=1, b=2)` from the fields of a frozen object.
fn fields_repr(obj: &Bound<'_, PyAny>, name: &str, fields: &[&str]) -> PyResult<String> {
    let mut parts = Vec::with_capacity(fields.len());
    for f in fields {
        parts.push(format!("{f}={}", obj.getattr(*f)?.repr()?));
    }
    Ok(format!("{name}({})", parts.join(", ")))
}

#[pymethods]
impl PyConnInfo {
    /// The fields as a dict (like `dataclasses.asdict`).
    fn _asdict<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDict>> {
        as_dict(slf.as_any(), &INFO_FIELDS)
    }
    /// Field names, in order (like `dataclasses.fields`).
    #[classattr]
    fn _fields() -> Vec<&'static str> {
        INFO_FIELDS.to_vec()
    }
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        fields_repr(slf.as_any(), "ConnInfo", &INFO_FIELDS)
    }
}

macro_rules! stats_class {
    ($($(#[$m:meta])* $field:ident),+ $(,)?) => {
        /// Stack-wide counters (RFC 4022 style) plus drops by reason (`drops`).
        #[pyclass(module = "sanstcp._native", frozen, get_all)]
        #[derive(Clone)]
        pub struct Stats {
            $($(#[$m])* $field: u64,)+
            /// Dropped packets by reason name (every reason, zeros included).
            drops: Vec<(String, u64)>,
        }

        const STATS_FIELDS: &[&str] = &[$(stringify!($field)),+];

        impl Stats {
            fn from_core(s: &sanstcp::Stats) -> Self {
                Stats {
                    $($field: s.$field,)+
                    drops: s.drops().map(|(r, n)| (r.name().to_string(), n)).collect(),
                }
            }
        }
    };
}

stats_class!(
    /// Packets handed to `handle_packet`.
    packets_in,
    /// Packets returned by `poll_transmit`.
    packets_out,
    /// TCP segments received.
    segments_in,
    /// TCP segments sent.
    segments_out,
    /// Segments sent again.
    retransmitted_segments,
    /// RSTs sent.
    resets_out,
    /// RSTs received and acted on.
    resets_in,
    /// Challenge ACKs sent (RFC 5961).
    challenge_acks,
    /// Challenge ACKs suppressed by the rate limit.
    challenge_acks_suppressed,
    /// Active opens.
    active_opens,
    /// Passive opens.
    passive_opens,
    /// Failed connection attempts.
    attempt_fails,
    /// Established connections reset.
    estab_resets,
    /// Connections that timed out.
    timeouts,
    /// Zero-window probes sent.
    window_probes,
    /// Keep-alive probes sent.
    keepalive_probes,
    /// D-SACK blocks received.
    dsacks_received,
    /// Fast retransmits.
    fast_retransmits,
    /// CE-marked segments received.
    ecn_ce_received,
    /// Window reductions for ECN echoes.
    ecn_reductions,
    /// Tail loss probes sent.
    tail_loss_probes,
    /// Retransmission timeouts that fired.
    rto_expirations,
    /// Replies not sent because the control queue was full.
    replies_suppressed,
    /// ICMP echo requests answered.
    icmp_echo_replies,
    /// ICMP errors applied to a connection.
    icmp_errors_applied,
    /// Payload bytes delivered in order.
    bytes_received,
    /// Payload bytes sent for the first time.
    bytes_sent,
);

#[pymethods]
impl Stats {
    /// How many packets were dropped for `reason` (a name such as `"bad_checksum"`).
    fn dropped(&self, reason: &str) -> PyResult<u64> {
        self.drops
            .iter()
            .find(|(r, _)| r == reason)
            .map(|(_, n)| *n)
            .ok_or_else(|| PyValueError::new_err(format!("unknown drop reason {reason:?}")))
    }
    /// All drops, any reason.
    fn dropped_total(&self) -> u64 {
        self.drops.iter().map(|(_, n)| n).sum()
    }
    /// The counters as a dict (`drops` as a nested dict).
    fn _asdict<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDict>> {
        let d = as_dict(slf.as_any(), STATS_FIELDS)?;
        let drops = PyDict::new(slf.py());
        for (r, n) in &slf.get().drops {
            drops.set_item(r, n)?;
        }
        d.set_item("drops", drops)?;
        Ok(d)
    }
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        fields_repr(slf.as_any(), "Stats", STATS_FIELDS)
    }
}

// ---- the stack --------------------------------------------------------------------------------

/// A sans-IO TCP/IP stack (see the package documentation). It may be used from any thread;
/// concurrent calls on one stack raise `RuntimeError` (pyo3's borrow check).
#[pyclass(name = "Stack", module = "sanstcp._native")]
pub struct PyStack {
    // The core stack is `Send` but not `Sync` (its table caches a lookup in a `Cell`); the
    // mutex makes the class shareable. Methods taking `&mut self` reach it without locking.
    stack: Mutex<Stack>,
    buf: Vec<u8>,
}

/// The stack behind exclusive access (no locking needed).
fn core(m: &mut Mutex<Stack>) -> &mut Stack {
    m.get_mut().unwrap_or_else(PoisonError::into_inner)
}

/// The stack behind shared access.
fn core_ref(m: &Mutex<Stack>) -> MutexGuard<'_, Stack> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn pick<T>(value: Option<T>, default: T) -> T {
    value.unwrap_or(default)
}

#[pymethods]
impl PyStack {
    /// A stack. `secret` (16 bytes) keys ISNs, ports and the connection table; `seed` seeds
    /// its other choices: the same configuration and inputs give the same outputs. Times are
    /// float seconds; every other argument defaults to the core's `StackConfig::new`.
    #[new]
    #[pyo3(signature = (
        *, secret, seed, addresses, mtu=None, send_buffer=None, recv_buffer=None,
        reassembly_limit=None, max_connections=None, msl=None, fin_wait_2_timeout=None,
        delayed_ack=None, rto_initial=None, rto_min=None, rto_max=None, max_retries=None,
        syn_retries=None, keepalive=None, keepalive_interval=None, keepalive_probes=None,
        nagle=None, timestamps=None, sack=None, ecn=None, pacing=None, congestion=None,
        initial_window=None, challenge_ack_limit=None, hop_limit=None, ephemeral_ports=None,
        verify_checksums=None, control_queue_limit=None, report_state_changes=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        secret: &[u8],
        seed: u64,
        addresses: Vec<String>,
        mtu: Option<usize>,
        send_buffer: Option<usize>,
        recv_buffer: Option<usize>,
        reassembly_limit: Option<usize>,
        max_connections: Option<usize>,
        msl: Option<f64>,
        fin_wait_2_timeout: Option<f64>,
        delayed_ack: Option<f64>,
        rto_initial: Option<f64>,
        rto_min: Option<f64>,
        rto_max: Option<f64>,
        max_retries: Option<u32>,
        syn_retries: Option<u32>,
        keepalive: Option<f64>,
        keepalive_interval: Option<f64>,
        keepalive_probes: Option<u32>,
        nagle: Option<bool>,
        timestamps: Option<bool>,
        sack: Option<bool>,
        ecn: Option<bool>,
        pacing: Option<bool>,
        congestion: Option<&str>,
        initial_window: Option<u32>,
        challenge_ack_limit: Option<u32>,
        hop_limit: Option<u8>,
        ephemeral_ports: Option<(u16, u16)>,
        verify_checksums: Option<bool>,
        control_queue_limit: Option<usize>,
        report_state_changes: Option<bool>,
    ) -> PyResult<Self> {
        let secret: [u8; 16] = secret
            .try_into()
            .map_err(|_| error(py, "config", "the secret must be exactly 16 bytes"))?;
        let addrs = addresses
            .iter()
            .map(|a| parse_ip(a))
            .collect::<PyResult<Vec<_>>>()?;
        let mut c = StackConfig::new(addrs, secret, seed);
        let dur = |v: Option<f64>, d: Duration, what: &str| match v {
            Some(s) => duration(s, what),
            None => Ok(d),
        };
        c.mtu = pick(mtu, c.mtu);
        c.send_buffer = pick(send_buffer, c.send_buffer);
        c.recv_buffer = pick(recv_buffer, c.recv_buffer);
        c.reassembly_limit = pick(reassembly_limit, c.reassembly_limit);
        c.max_connections = pick(max_connections, c.max_connections);
        c.msl = dur(msl, c.msl, "msl")?;
        c.fin_wait_2_timeout = dur(
            fin_wait_2_timeout,
            c.fin_wait_2_timeout,
            "fin_wait_2_timeout",
        )?;
        c.delayed_ack = dur(delayed_ack, c.delayed_ack, "delayed_ack")?;
        c.rto_initial = dur(rto_initial, c.rto_initial, "rto_initial")?;
        c.rto_min = dur(rto_min, c.rto_min, "rto_min")?;
        c.rto_max = dur(rto_max, c.rto_max, "rto_max")?;
        c.max_retries = pick(max_retries, c.max_retries);
        c.syn_retries = pick(syn_retries, c.syn_retries);
        if let Some(k) = keepalive {
            c.keepalive = Some(duration(k, "keepalive")?);
        }
        c.keepalive_interval = dur(
            keepalive_interval,
            c.keepalive_interval,
            "keepalive_interval",
        )?;
        c.keepalive_probes = pick(keepalive_probes, c.keepalive_probes);
        c.nagle = pick(nagle, c.nagle);
        c.timestamps = pick(timestamps, c.timestamps);
        c.sack = pick(sack, c.sack);
        c.ecn = pick(ecn, c.ecn);
        c.pacing = pick(pacing, c.pacing);
        if let Some(name) = congestion {
            c.congestion = match name.to_ascii_lowercase().as_str() {
                "newreno" | "reno" => CongestionAlgorithm::NewReno,
                "cubic" => CongestionAlgorithm::Cubic,
                "none" => CongestionAlgorithm::None,
                other => {
                    return Err(error(
                        py,
                        "config",
                        format!("unknown congestion control {other:?} (newreno, cubic, none)"),
                    ))
                }
            };
        }
        c.initial_window = pick(initial_window, c.initial_window);
        c.challenge_ack_limit = pick(challenge_ack_limit, c.challenge_ack_limit);
        c.hop_limit = pick(hop_limit, c.hop_limit);
        c.ephemeral_ports = pick(ephemeral_ports, c.ephemeral_ports);
        c.verify_checksums = pick(verify_checksums, c.verify_checksums);
        c.control_queue_limit = pick(control_queue_limit, c.control_queue_limit);
        c.report_state_changes = pick(report_state_changes, c.report_state_changes);
        let mtu = c.mtu;
        let stack = Stack::new(c).map_err(|e| error(py, "config", e))?;
        Ok(PyStack {
            stack: Mutex::new(stack),
            buf: vec![0; mtu],
        })
    }

    /// The link MTU in bytes.
    #[getter]
    fn mtu(&self) -> usize {
        core_ref(&self.stack).config().mtu
    }

    /// The stack's local addresses.
    #[getter]
    fn addresses(&self) -> Vec<String> {
        core_ref(&self.stack)
            .config()
            .addresses
            .iter()
            .map(|a| a.to_string())
            .collect()
    }

    /// Connections held, in any state.
    fn connection_count(&self) -> usize {
        core_ref(&self.stack).connection_count()
    }

    /// Listens on `local` = `(host, port)`; host `""`, `"0.0.0.0"` or `"::"` listens on
    /// every local address of that family.
    #[pyo3(signature = (local, backlog=128, syn_backlog=256))]
    fn listen(
        &mut self,
        py: Python<'_>,
        local: &Bound<'_, PyAny>,
        backlog: usize,
        syn_backlog: usize,
    ) -> PyResult<PyListenerId> {
        let local = sockaddr(local)?;
        let opts = ListenOptions {
            backlog,
            syn_backlog,
        };
        core(&mut self.stack)
            .listen(local, opts)
            .map(|l| PyListenerId(l.to_raw()))
            .map_err(|e| core_error(py, e))
    }

    /// The next established connection from the listener's accept queue, or `None`.
    fn accept(&mut self, listener: PyListenerId) -> Option<PyConnId> {
        core(&mut self.stack)
            .accept(ListenerId::from_raw(listener.0))
            .map(|c| PyConnId(c.to_raw()))
    }

    /// Stops a listener (queued connections are reset). False for a stale id.
    fn close_listener(&mut self, listener: PyListenerId) -> bool {
        core(&mut self.stack).close_listener(ListenerId::from_raw(listener.0))
    }

    /// Opens a connection to `remote` = `(host, port)`; the SYN leaves with the next
    /// `poll_transmit`. `local` picks the local address and/or port.
    #[pyo3(signature = (now, remote, *, local=None, nodelay=false, send_buffer=None, recv_buffer=None))]
    #[allow(clippy::too_many_arguments)]
    fn connect(
        &mut self,
        py: Python<'_>,
        now: f64,
        remote: &Bound<'_, PyAny>,
        local: Option<&Bound<'_, PyAny>>,
        nodelay: bool,
        send_buffer: Option<usize>,
        recv_buffer: Option<usize>,
    ) -> PyResult<PyConnId> {
        let now = instant(now)?;
        let remote = sockaddr(remote)?;
        let opts = ConnectOptions {
            local: local.map(sockaddr).transpose()?,
            nodelay,
            send_buffer,
            recv_buffer,
        };
        core(&mut self.stack)
            .connect(now, remote, opts)
            .map(|c| PyConnId(c.to_raw()))
            .map_err(|e| core_error(py, e))
    }

    /// Processes one IP packet (`bytes`, `bytearray`, `memoryview` or any contiguous
    /// buffer, read in place). Returns `None` when it was accepted, or the drop reason
    /// (e.g. `"bad_checksum"`); it never raises for bad packets.
    fn handle_packet(
        &mut self,
        now: f64,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<Option<&'static str>> {
        let now = instant(now)?;
        let stack = core(&mut self.stack);
        let input = buffer::with_bytes(data, |bytes| stack.handle_packet(now, bytes))?;
        Ok(match input {
            Input::Accepted => None,
            Input::Dropped(r) => Some(r.name()),
        })
    }

    /// Runs the timers due at `now`.
    fn handle_timeout(&mut self, now: f64) -> PyResult<()> {
        core(&mut self.stack).handle_timeout(instant(now)?);
        Ok(())
    }

    /// The next outgoing IP packet, or `None`. Call until `None` after every other call.
    fn poll_transmit<'py>(
        &mut self,
        py: Python<'py>,
        now: f64,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let now = instant(now)?;
        Ok(core(&mut self.stack)
            .poll_transmit(now, &mut self.buf)
            .map(|t| PyBytes::new(py, &self.buf[..t.len])))
    }

    /// Every waiting outgoing packet (`poll_transmit` until `None`).
    fn packets_to_send<'py>(&mut self, py: Python<'py>, now: f64) -> PyResult<Bound<'py, PyList>> {
        let now = instant(now)?;
        let list = PyList::empty(py);
        while let Some(t) = core(&mut self.stack).poll_transmit(now, &mut self.buf) {
            list.append(PyBytes::new(py, &self.buf[..t.len]))?;
        }
        Ok(list)
    }

    /// The earliest deadline (float seconds) at which `handle_timeout` has work, or `None`.
    fn poll_timeout(&self) -> Option<f64> {
        core_ref(&self.stack).poll_timeout().map(seconds)
    }

    /// The next event (`Connected`, `Incoming`, `Readable`, `Writable`, `PeerClosed`,
    /// `Closed`, `StateChanged`), or `None`.
    fn poll_event(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        core(&mut self.stack)
            .poll_event()
            .map(|e| event_object(py, e))
            .transpose()
    }

    /// Every waiting event (`poll_event` until `None`).
    fn events<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        while let Some(e) = core(&mut self.stack).poll_event() {
            list.append(event_object(py, e)?)?;
        }
        Ok(list)
    }

    /// Queues data (any contiguous buffer); returns how much was taken. A short count (0 when
    /// the buffer is full) is backpressure: wait for `Writable`.
    fn send(&mut self, py: Python<'_>, conn: PyConnId, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let stack = core(&mut self.stack);
        match buffer::with_bytes(data, |bytes| stack.send(conn.id(), bytes))? {
            Ok(n) => Ok(n),
            Err(SendError::WouldBlock) => Ok(0),
            Err(e) => Err(core_error(py, e)),
        }
    }

    /// Reads up to `max` bytes: data, `b""` at end of stream, or `None` when nothing has
    /// arrived yet.
    #[pyo3(signature = (conn, max=65536))]
    fn recv<'py>(
        &mut self,
        py: Python<'py>,
        conn: PyConnId,
        max: usize,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let mut scratch = vec![0u8; max.min(1 << 24)];
        match core(&mut self.stack).recv(conn.id(), &mut scratch) {
            Ok(n) => Ok(Some(PyBytes::new(py, &scratch[..n]))),
            Err(RecvError::WouldBlock) | Err(RecvError::NotConnected) => Ok(None),
            Err(e) => Err(core_error(py, e)),
        }
    }

    /// Half-close: FIN after the queued data; reading goes on.
    fn shutdown(&mut self, py: Python<'_>, conn: PyConnId) -> PyResult<()> {
        core(&mut self.stack)
            .shutdown(conn.id())
            .map_err(|e| core_error(py, e))
    }

    /// Graceful close; the stack finishes it (unread data turns it into a reset). The id is
    /// stale afterwards.
    fn close(&mut self, conn: PyConnId) {
        core(&mut self.stack).close(conn.id());
    }

    /// Resets the connection (RST). The id is stale afterwards.
    fn abort(&mut self, conn: PyConnId) {
        core(&mut self.stack).abort(conn.id());
    }

    /// Turns Nagle's algorithm off (`True`) or on (`TCP_NODELAY`).
    fn set_nodelay(&mut self, py: Python<'_>, conn: PyConnId, nodelay: bool) -> PyResult<()> {
        core(&mut self.stack)
            .set_nodelay(conn.id(), nodelay)
            .map_err(|e| core_error(py, e))
    }

    /// Keep-alive with `idle` seconds of idle time, or off with `None`.
    fn set_keepalive(&mut self, py: Python<'_>, conn: PyConnId, idle: Option<f64>) -> PyResult<()> {
        let idle = idle.map(|s| duration(s, "idle")).transpose()?;
        core(&mut self.stack)
            .set_keepalive(conn.id(), idle)
            .map_err(|e| core_error(py, e))
    }

    /// A snapshot of the connection, or `None` for a stale id.
    fn info(&self, conn: PyConnId) -> Option<PyConnInfo> {
        core_ref(&self.stack)
            .info(conn.id())
            .as_ref()
            .map(PyConnInfo::from_core)
    }

    /// The stack's counters.
    fn stats(&self) -> Stats {
        Stats::from_core(core_ref(&self.stack).stats())
    }
}

// ---- the link layer ---------------------------------------------------------------------------

/// Ethernet + ARP/NDP shell for a stack on a TAP device (`sanstcp::link::Interface`). Frames
/// from the device go to `handle_frame`; `poll_frame` gives frames to write.
#[pyclass(name = "Interface", module = "sanstcp._native")]
pub struct PyInterface {
    iface: CoreInterface,
    buf: Vec<u8>,
}

fn parse_mac(py: Python<'_>, mac: &Bound<'_, PyAny>) -> PyResult<EthernetAddress> {
    let bytes: Vec<u8> = if let Ok(s) = mac.extract::<String>() {
        s.split([':', '-'])
            .map(|h| u8::from_str_radix(h, 16))
            .collect::<Result<_, _>>()
            .map_err(|_| error(py, "invalid_argument", format!("not a MAC address: {s:?}")))?
    } else {
        mac.extract()?
    };
    let arr: [u8; 6] = bytes
        .try_into()
        .map_err(|_| error(py, "invalid_argument", "a MAC address has 6 bytes"))?;
    Ok(EthernetAddress(arr))
}

#[pymethods]
impl PyInterface {
    /// An interface with MAC address `mac` (`"02:00:00:00:00:01"` or 6 bytes). `prefixes`
    /// lists on-link networks as `(address, prefix_len)`; destinations outside them go to
    /// the gateway of their family. Without prefixes and gateways everything is on-link.
    #[new]
    #[pyo3(signature = (mac, *, gateway_v4=None, gateway_v6=None, prefixes=Vec::new()))]
    fn new(
        py: Python<'_>,
        mac: &Bound<'_, PyAny>,
        gateway_v4: Option<String>,
        gateway_v6: Option<String>,
        prefixes: Vec<(String, u8)>,
    ) -> PyResult<Self> {
        let mut cfg = LinkConfig::new(parse_mac(py, mac)?);
        if let Some(g) = gateway_v4 {
            match parse_ip(&g)? {
                IpAddr::V4(a) => cfg.gateway_v4 = Some(a),
                IpAddr::V6(_) => return Err(PyValueError::new_err("gateway_v4 must be IPv4")),
            }
        }
        if let Some(g) = gateway_v6 {
            match parse_ip(&g)? {
                IpAddr::V6(a) => cfg.gateway_v6 = Some(a),
                IpAddr::V4(_) => return Err(PyValueError::new_err("gateway_v6 must be IPv6")),
            }
        }
        for (a, len) in prefixes {
            cfg.prefixes.push((parse_ip(&a)?, len));
        }
        Ok(PyInterface {
            iface: CoreInterface::new(cfg),
            buf: Vec::new(),
        })
    }

    /// The interface's MAC address as `"aa:bb:cc:dd:ee:ff"`.
    #[getter]
    fn mac(&self) -> String {
        let m = self.iface.config().hardware_addr.0;
        m.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    /// Queues gratuitous ARP / unsolicited NDP advertisements for the stack's addresses.
    fn announce(&mut self, stack: PyRef<'_, PyStack>) {
        self.iface.announce(&core_ref(&stack.stack));
    }

    /// Processes one Ethernet frame. Returns `None` when it was used (IP accepted, ARP, NDP),
    /// else the reason it was dropped.
    fn handle_frame(
        &mut self,
        now: f64,
        mut stack: PyRefMut<'_, PyStack>,
        frame: &Bound<'_, PyAny>,
    ) -> PyResult<Option<&'static str>> {
        let now = instant(now)?;
        let iface = &mut self.iface;
        let stack = core(&mut stack.stack);
        let r = buffer::with_bytes(frame, |bytes| iface.handle_frame(now, stack, bytes))?;
        Ok(match r {
            LinkInput::Ip(Input::Dropped(reason)) => Some(reason.name()),
            LinkInput::Dropped(reason) => Some(reason.name()),
            _ => None,
        })
    }

    /// The next frame to write to the device, or `None`.
    fn poll_frame<'py>(
        &mut self,
        py: Python<'py>,
        now: f64,
        mut stack: PyRefMut<'_, PyStack>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let now = instant(now)?;
        let need = self.iface.frame_buffer_len(&core_ref(&stack.stack));
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        Ok(self
            .iface
            .poll_frame(now, core(&mut stack.stack), &mut self.buf)
            .map(|n| PyBytes::new(py, &self.buf[..n])))
    }

    /// Every waiting frame (`poll_frame` until `None`).
    fn frames_to_send<'py>(
        &mut self,
        py: Python<'py>,
        now: f64,
        mut stack: PyRefMut<'_, PyStack>,
    ) -> PyResult<Bound<'py, PyList>> {
        let now = instant(now)?;
        let need = self.iface.frame_buffer_len(&core_ref(&stack.stack));
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        let list = PyList::empty(py);
        while let Some(n) = self
            .iface
            .poll_frame(now, core(&mut stack.stack), &mut self.buf)
        {
            list.append(PyBytes::new(py, &self.buf[..n]))?;
        }
        Ok(list)
    }

    /// The earliest deadline of the interface or the stack, or `None`.
    fn poll_timeout(&self, stack: PyRef<'_, PyStack>) -> Option<f64> {
        self.iface
            .poll_timeout(&core_ref(&stack.stack))
            .map(seconds)
    }

    /// Runs the interface's and the stack's timers due at `now`.
    fn handle_timeout(&mut self, now: f64, mut stack: PyRefMut<'_, PyStack>) -> PyResult<()> {
        self.iface
            .handle_timeout(instant(now)?, core(&mut stack.stack));
        Ok(())
    }

    /// Link counters as a dict (frames, ARP/NDP messages, drops by reason).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.iface.stats();
        let d = PyDict::new(py);
        d.set_item("frames_in", s.frames_in)?;
        d.set_item("frames_out", s.frames_out)?;
        d.set_item("ip_in", s.ip_in)?;
        d.set_item("ip_out", s.ip_out)?;
        d.set_item("arp_requests_in", s.arp_requests_in)?;
        d.set_item("arp_replies_in", s.arp_replies_in)?;
        d.set_item("arp_requests_out", s.arp_requests_out)?;
        d.set_item("arp_replies_out", s.arp_replies_out)?;
        d.set_item("neighbor_solicits_in", s.neighbor_solicits_in)?;
        d.set_item("neighbor_adverts_in", s.neighbor_adverts_in)?;
        d.set_item("neighbor_solicits_out", s.neighbor_solicits_out)?;
        d.set_item("neighbor_adverts_out", s.neighbor_adverts_out)?;
        d.set_item("resolve_failures", s.resolve_failures)?;
        let drops = PyDict::new(py);
        for (r, n) in s.drops() {
            drops.set_item(r.name(), n)?;
        }
        d.set_item("drops", drops)?;
        Ok(d)
    }
}

// ---- the module -------------------------------------------------------------------------------

/// The native part of the `sanstcp` package.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStack>()?;
    m.add_class::<PyInterface>()?;
    m.add_class::<PyConnId>()?;
    m.add_class::<PyListenerId>()?;
    m.add_class::<Connected>()?;
    m.add_class::<Incoming>()?;
    m.add_class::<Readable>()?;
    m.add_class::<Writable>()?;
    m.add_class::<PeerClosed>()?;
    m.add_class::<Closed>()?;
    m.add_class::<StateChanged>()?;
    m.add_class::<PyConnInfo>()?;
    m.add_class::<Stats>()?;
    m.add("DROP_REASONS", {
        let names: Vec<&str> = sanstcp::DropReason::ALL.iter().map(|r| r.name()).collect();
        names
    })?;
    Ok(())
}
