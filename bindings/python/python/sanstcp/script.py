"""Packetdrill-style scripts against a sanstcp :class:`~sanstcp.Stack`.

A script is a list of time-stamped lines. The stack under test is a ``Stack``; the runner
plays the remote host: it injects the inbound segments (``<``), checks the outbound ones
(``>``) and makes the socket-like API calls. Time is virtual: nothing sleeps, timers fire at
exactly the deadlines the stack reports. Run scripts with ``python -m sanstcp.script FILE...``
or :func:`run_file`.

Example (a passive open)::

    0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
    +0    bind(3, ..., ...) = 0
    +0    listen(3, 1) = 0
    +0    < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
    +0    > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 0 ecr 100,nop,wscale 8>
    +.1   < . 1:1(0) ack 1 win 512 <nop,nop,TS val 200 ecr 0>
    +0    accept(3, ..., ...) = 4

Lines
-----
* **Time**: ``0.5`` is absolute (seconds from the start), ``+0.1`` is relative to the
  previous line, ``A~B`` (each absolute or relative) is a range for an outbound segment.
  Outbound segments must leave within the line's time ± the tolerance (default 25 ms).
* **Inbound** ``< [ecn] FLAGS START:END(LEN) [ack N] [win N] [<options>]``: FLAGS as
  packetdrill writes them (``S``, ``S.``, ``.``, ``P.``, ``F.``, ``R``, ``R.``, with ``E`` for
  ECE and ``W`` for CWR); ``[ecn]`` is ``[ect0]``, ``[ect1]``, ``[ce]`` or ``[noecn]``.
* **Outbound** ``> ...`` in the same syntax. Flags, sequence numbers, length and ``ack`` are
  always compared; ``win``, ``[ecn]`` and ``<options>`` are compared when the line gives them
  (``<...>`` accepts any options). Options are compared in wire order, ``nop`` included.
* **API** ``name(args) = result``: ``socket``, ``bind``, ``listen``, ``accept``, ``connect``,
  ``write``/``send``, ``read``/``recv``, ``shutdown``, ``close``, ``setsockopt``,
  ``getsockopt``, ``fcntl`` (accepted, no effect). Results are a number or
  ``-1 ERRNO (text)``. Every socket is non-blocking: ``connect`` answers ``-1 EINPROGRESS``
  (``= 0`` is accepted too), ``accept`` and ``read`` answer ``-1 EAGAIN`` when nothing waits.
* **Checks** ``%{ assert tcpi_state == TCP_ESTABLISHED }%``: Python run with ``tcpi_*``
  names (Linux ``tcp_info`` style, from :meth:`Stack.info` of the most recent connection),
  ``info`` (the :class:`~sanstcp.ConnInfo`), ``stats`` and the ``TCP_*`` state constants.
* **Directives** ``@config key=value ...`` set stack options (``timestamps=false``,
  ``recv_buffer=65535``, ``delayed_ack=0``, ...) and runner options: ``tolerance`` (seconds),
  ``ip`` (4 or 6), ``remote_isn``. Comments: ``//``, ``#`` and ``/* ... */``.

Setup and numbering
-------------------
* The stack is ``Stack(secret=bytes(range(16)), seed=1, addresses=[192.168.0.1], mtu=1500)``
  with the core's defaults otherwise (timestamps and SACK on, 40 ms delayed ACK, RTO 1 s
  initial and 200 ms minimum). The remote is 192.0.2.1. With ``@config ip=6`` they are
  ``fd00::1`` and ``2001:db8::1``.
* ``bind`` takes port 8080 on the stack's address; in a passive open the remote's port is
  50000. ``connect`` goes to the remote's port 8080 from an ephemeral port, learned from the
  stack's SYN.
* Sequence numbers are relative, as in packetdrill: the stack's are relative to its ISN
  (learned from its first SYN or SYN-ACK), the remote's are literal (plus ``remote_isn``,
  default 0). So inbound ``seq`` and outbound ``ack`` are in the remote's space, inbound
  ``ack``, inbound SACK blocks and outbound ``seq`` in the stack's.
* Timestamps: the remote's ``TS val`` values are literal, so an outbound ``ecr`` is compared
  exactly. The stack's clock has a per-connection offset, so an outbound ``TS val`` is not
  compared (write any number, or ``*``); the runner remembers, for each value it saw written
  there, the value actually sent, and an inbound ``ecr`` that repeats a script value is
  translated to the real one (other values keep the distance to the latest one seen).
"""

from __future__ import annotations

import argparse
import errno as _errno
import re
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple, Union

from sanstcp import _errors
from sanstcp import packet as pk
from sanstcp._native import Closed, ConnId, ListenerId, Stack

__all__ = [
    "DEFAULT_TOLERANCE",
    "Result",
    "ScriptError",
    "ScriptSyntaxError",
    "main",
    "run_file",
    "run_script",
]

#: Default timing tolerance for outbound segments, seconds.
DEFAULT_TOLERANCE = 0.025
STACK_IP4, REMOTE_IP4 = "192.168.0.1", "192.0.2.1"
STACK_IP6, REMOTE_IP6 = "fd00::1", "2001:db8::1"
BIND_PORT = 8080
REMOTE_PORT_PASSIVE = 50000
SECRET = bytes(range(16))
SEED = 1
#: Keep-alive idle time when ``SO_KEEPALIVE`` is set without ``TCP_KEEPIDLE`` (Linux's).
DEFAULT_KEEPIDLE = 7200.0

_MOD32 = 1 << 32

_TCP_STATES = {
    "ESTABLISHED": 1,
    "SYN-SENT": 2,
    "SYN-RECEIVED": 3,
    "FIN-WAIT-1": 4,
    "FIN-WAIT-2": 5,
    "TIME-WAIT": 6,
    "CLOSED": 7,
    "CLOSE-WAIT": 8,
    "LAST-ACK": 9,
    "LISTEN": 10,
    "CLOSING": 11,
}
_STATE_CONSTANTS = {
    "TCP_ESTABLISHED": 1,
    "TCP_SYN_SENT": 2,
    "TCP_SYN_RECV": 3,
    "TCP_FIN_WAIT1": 4,
    "TCP_FIN_WAIT2": 5,
    "TCP_TIME_WAIT": 6,
    "TCP_CLOSE": 7,
    "TCP_CLOSE_WAIT": 8,
    "TCP_LAST_ACK": 9,
    "TCP_LISTEN": 10,
    "TCP_CLOSING": 11,
}
_ECN_NAMES = {"noecn": pk.NOT_ECT, "ect0": pk.ECT0, "ect1": pk.ECT1, "ce": pk.CE}
_ECN_TEXT = {v: k for k, v in _ECN_NAMES.items()}
_REASON_ERRNO = {
    "reset": _errno.ECONNRESET,
    "timed_out": _errno.ETIMEDOUT,
    "refused": _errno.ECONNREFUSED,
    "aborted": _errno.ECONNABORTED,
}


class ScriptSyntaxError(ValueError):
    """A line the parser does not understand."""


class ScriptError(AssertionError):
    """The stack did something the script did not expect; ``str()`` is the readable report."""

    def __init__(self, path: str, lineno: int, line: str, message: str, details: str = "") -> None:
        self.path = path
        self.lineno = lineno
        self.line = line
        self.message = message
        self.details = details
        text = f"{path}:{lineno}: {message}\n  script line: {line.strip()}"
        if details:
            text += "\n" + details
        super().__init__(text)


# ---- parsed lines ------------------------------------------------------------------------------


@dataclass
class SegSpec:
    """One ``<`` or ``>`` line."""

    inbound: bool
    flags: int
    start: int
    end: int
    ack: Optional[int] = None
    win: Optional[int] = None
    #: ``None``: not given; ``"any"``: ``<...>``; else the list.
    options: Union[None, str, List[pk.Option]] = None
    ecn: Optional[int] = None
    #: Outbound TS val written as ``*``.
    ts_wild: bool = False

    @property
    def length(self) -> int:
        return (self.end - self.start) % _MOD32


@dataclass
class ApiCall:
    """One ``name(args) = result`` line."""

    name: str
    args: List[str]
    ret: int
    err: Optional[str] = None


@dataclass
class Check:
    """One ``%{ ... }%`` line."""

    code: str


@dataclass
class Line:
    """A parsed script line with its time."""

    lineno: int
    text: str
    time: float
    #: For outbound segments: latest acceptable time (``A~B``), else ``None``.
    time_hi: Optional[float]
    #: Whether the line gave a time range.
    ranged: bool
    body: Union[SegSpec, ApiCall, Check]


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    out = []
    for raw in text.split("\n"):
        line = raw
        if "%{" not in line:
            line = line.split("//", 1)[0]
            if line.lstrip().startswith("#"):
                line = ""
        out.append(line)
    return "\n".join(out)


def _parse_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "on", "yes"):
        return True
    if low in ("false", "off", "no"):
        return False
    if low == "none":
        return None
    try:
        return int(text, 0)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


_SEQ_RE = re.compile(r"^(\d+):(\d+)\((\d+)\)$")


def _parse_options(text: str, inbound: bool, lineno: int) -> Tuple[List[pk.Option], bool]:
    opts: List[pk.Option] = []
    wild = False
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        words = part.split()
        name = words[0]
        try:
            if name == "nop":
                opts.append(("nop", None))
            elif name == "eol":
                opts.append(("eol", None))
            elif name == "mss":
                opts.append(("mss", int(words[1])))
            elif name == "wscale":
                opts.append(("wscale", int(words[1])))
            elif name == "sackOK":
                opts.append(("sackOK", None))
            elif name == "sack":
                blocks = []
                for b in words[1:]:
                    left, right = b.split(":")
                    blocks.append((int(left), int(right)))
                opts.append(("sack", blocks))
            elif name == "TS":
                if words[1] != "val" or words[3] != "ecr":
                    raise ValueError
                if words[2] == "*":
                    wild = True
                    val = 0
                else:
                    val = int(words[2])
                opts.append(("ts", (val, int(words[4]))))
            else:
                raise ValueError
        except (ValueError, IndexError):
            raise ScriptSyntaxError(f"line {lineno}: bad TCP option {part!r}") from None
    if wild and inbound:
        raise ScriptSyntaxError(f"line {lineno}: TS val * only makes sense on outbound segments")
    return opts, wild


def _parse_segment(text: str, inbound: bool, lineno: int) -> SegSpec:
    opts: Union[None, str, List[pk.Option]] = None
    wild = False
    m = re.search(r"<([^<>]*)>\s*$", text)
    if m:
        inner = m.group(1).strip()
        text = text[: m.start()]
        if inner == "...":
            opts = "any"
        else:
            opts, wild = _parse_options(inner, inbound, lineno)
    words = text.split()
    ecn = None
    if words and words[0].startswith("["):
        name = words.pop(0).strip("[]").lower()
        if name not in _ECN_NAMES:
            raise ScriptSyntaxError(f"line {lineno}: unknown ECN codepoint [{name}]")
        ecn = _ECN_NAMES[name]
    if len(words) < 2:
        raise ScriptSyntaxError(f"line {lineno}: a segment needs flags and START:END(LEN)")
    try:
        flags = pk.flags_from_str(words[0])
    except ValueError as e:
        raise ScriptSyntaxError(f"line {lineno}: {e}") from None
    sm = _SEQ_RE.match(words[1])
    if not sm:
        raise ScriptSyntaxError(f"line {lineno}: bad sequence range {words[1]!r} (want START:END(LEN))")
    start, end, length = (int(g) for g in sm.groups())
    if (end - start) % _MOD32 != length:
        raise ScriptSyntaxError(f"line {lineno}: {words[1]}: END - START is not LEN")
    spec = SegSpec(inbound=inbound, flags=flags, start=start, end=end, options=opts, ecn=ecn, ts_wild=wild)
    rest = words[2:]
    while rest:
        key = rest.pop(0)
        if not rest:
            raise ScriptSyntaxError(f"line {lineno}: {key!r} needs a value")
        val = rest.pop(0)
        try:
            if key == "ack":
                spec.ack = int(val)
            elif key == "win":
                spec.win = int(val)
            else:
                raise ScriptSyntaxError(f"line {lineno}: unknown segment field {key!r}")
        except ValueError:
            raise ScriptSyntaxError(f"line {lineno}: {key} {val!r} is not a number") from None
    if spec.ack is not None and not flags & pk.ACK:
        raise ScriptSyntaxError(f"line {lineno}: 'ack' given but the ACK flag ('.') is not set")
    return spec


def _split_args(text: str) -> List[str]:
    args, depth, cur = [], 0, ""
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        args.append(cur.strip())
    return args


_CALLS = {
    "socket", "bind", "listen", "accept", "connect", "write", "send", "read", "recv",
    "shutdown", "close", "setsockopt", "getsockopt", "fcntl",
}
_API_RE = re.compile(r"^(\w+)\((.*)\)\s*=\s*(-?\d+)\s*(\w+)?\s*(\(.*\))?\s*$")


def _parse_api(text: str, lineno: int) -> ApiCall:
    m = _API_RE.match(text)
    if not m:
        raise ScriptSyntaxError(f"line {lineno}: not a call 'name(args) = result': {text!r}")
    name, args, ret, err = m.group(1), m.group(2), int(m.group(3)), m.group(4)
    if name not in _CALLS:
        raise ScriptSyntaxError(f"line {lineno}: unsupported call {name}() (supported: {', '.join(sorted(_CALLS))})")
    if ret == -1 and not err:
        raise ScriptSyntaxError(f"line {lineno}: '= -1' needs an errno name (e.g. -1 EAGAIN)")
    if err and not hasattr(_errno, err):
        raise ScriptSyntaxError(f"line {lineno}: unknown errno {err}")
    return ApiCall(name=name, args=_split_args(args), ret=ret, err=err)


_TIME_RE = re.compile(r"^(\+?)(\d*\.?\d+|\d+\.)$")


def _parse_time(tok: str, prev: float, lineno: int) -> float:
    m = _TIME_RE.match(tok)
    if not m:
        raise ScriptSyntaxError(f"line {lineno}: bad time {tok!r}")
    value = float(m.group(2))
    return prev + value if m.group(1) else value


def parse_script(text: str) -> Tuple[Dict[str, Any], List[Line]]:
    """Parses a script into its ``@config`` settings and its lines."""
    config: Dict[str, Any] = {}
    lines: List[Line] = []
    prev = 0.0
    for lineno, raw in enumerate(_strip_comments(text).split("\n"), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("@"):
            words = line[1:].split()
            if not words or words[0] != "config":
                raise ScriptSyntaxError(f"line {lineno}: unknown directive {line!r}")
            for item in words[1:]:
                if "=" not in item:
                    raise ScriptSyntaxError(f"line {lineno}: @config wants key=value, got {item!r}")
                k, v = item.split("=", 1)
                config[k] = _parse_value(v)
            continue
        tok, _, rest = line.partition(" ")
        rest = rest.strip()
        if "~" in tok:
            lo_tok, hi_tok = tok.split("~", 1)
            t = _parse_time(lo_tok, prev, lineno)
            hi: Optional[float] = _parse_time(hi_tok, prev, lineno)
            ranged = True
        else:
            t = _parse_time(tok, prev, lineno)
            hi = None
            ranged = False
        if t < prev - 1e-9:
            raise ScriptSyntaxError(f"line {lineno}: time {t:.6f} goes backwards (previous {prev:.6f})")
        body: Union[SegSpec, ApiCall, Check]
        if rest.startswith("<") or rest.startswith(">"):
            body = _parse_segment(rest[1:], rest[0] == "<", lineno)
        elif rest.startswith("%{"):
            if not rest.endswith("}%"):
                raise ScriptSyntaxError(f"line {lineno}: %{{ ... }}% must be on one line")
            body = Check(rest[2:-2].strip())
        else:
            body = _parse_api(rest, lineno)
        if ranged and not (isinstance(body, SegSpec) and not body.inbound):
            raise ScriptSyntaxError(f"line {lineno}: time ranges are for outbound segments only")
        lines.append(Line(lineno, raw, t, hi, ranged, body))
        prev = t
    return config, lines


# ---- sockets -----------------------------------------------------------------------------------


@dataclass
class _Socket:
    fd: int
    bound: Optional[Tuple[str, int]] = None
    listener: Optional[ListenerId] = None
    conn: Optional[ConnId] = None
    nodelay: bool = False
    keepalive: bool = False
    keepidle: float = DEFAULT_KEEPIDLE
    sndbuf: Optional[int] = None
    rcvbuf: Optional[int] = None
    so_error: int = 0
    closed: bool = False


class _Fail(Exception):
    """Internal: a mismatch, turned into a ScriptError with the line."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.details = details


@dataclass
class Result:
    """What :func:`run_script` did."""

    path: str
    lines: int
    inbound: int = 0
    outbound: int = 0
    calls: int = 0
    end_time: float = 0.0
    log: List[str] = field(default_factory=list)


class _Runner:
    def __init__(self, path: str, config: Dict[str, Any], verbose: bool, tolerance: Optional[float]) -> None:
        cfg = dict(config)
        self.path = path
        self.verbose = verbose
        self.tolerance = float(cfg.pop("tolerance", DEFAULT_TOLERANCE if tolerance is None else tolerance))
        ip = int(cfg.pop("ip", 4))
        if ip not in (4, 6):
            raise ScriptSyntaxError("@config ip must be 4 or 6")
        self.remote_isn = int(cfg.pop("remote_isn", 0)) % _MOD32
        self.stack_ip = STACK_IP4 if ip == 4 else STACK_IP6
        self.remote_ip = REMOTE_IP4 if ip == 4 else REMOTE_IP6
        kwargs: Dict[str, Any] = {"secret": SECRET, "seed": SEED, "addresses": [self.stack_ip]}
        kwargs.update(cfg)
        try:
            self.stack = Stack(**kwargs)
        except TypeError as e:
            raise ScriptSyntaxError(f"@config: {e}") from None
        self.now = 0.0
        self.out: Deque[Tuple[float, bytes]] = deque()
        self.fds: Dict[int, _Socket] = {}
        self.next_fd = 3
        self.last_conn_fd: Optional[int] = None
        self.stack_port: Optional[int] = None
        self.remote_port: Optional[int] = None
        self.stack_isn: Optional[int] = None
        #: script TS val -> actual TS val, and the latest (script, actual) pair.
        self.ts_map: Dict[int, int] = {}
        self.ts_last: Optional[Tuple[int, int]] = None
        self.result = Result(path=path, lines=0)
        self.config_values = config

    # -- time --------------------------------------------------------------------------------

    def log(self, text: str) -> None:
        self.result.log.append(text)
        if self.verbose:
            print(text)

    def drain(self) -> None:
        for p in self.stack.packets_to_send(self.now):
            self.out.append((self.now, p))
        for ev in self.stack.events():
            if isinstance(ev, Closed) and ev.reason in _REASON_ERRNO:
                for s in self.fds.values():
                    if s.conn == ev.conn:
                        s.so_error = _REASON_ERRNO[ev.reason]

    def step_timer(self, limit: float) -> bool:
        """Fires the next timer if it is due by ``limit``; False when none is."""
        d = self.stack.poll_timeout()
        if d is None or d > limit + 1e-12:
            return False
        self.now = max(self.now, d)
        self.stack.handle_timeout(self.now)
        self.drain()
        return True

    def run_until(self, t: float) -> None:
        for _ in range(1_000_000):
            if not self.step_timer(t):
                break
        else:
            raise _Fail("the stack's timers do not settle (poll_timeout keeps returning due deadlines)")
        self.now = max(self.now, t)
        self.stack.handle_timeout(self.now)
        self.drain()

    # -- packets -------------------------------------------------------------------------------

    def rel_stack(self, seq: int) -> int:
        return (seq - (self.stack_isn or 0)) % _MOD32

    def rel_remote(self, seq: int) -> int:
        return (seq - self.remote_isn) % _MOD32

    def render(self, seg: pk.Segment) -> str:
        """An outbound segment in script notation (relative numbers)."""
        start = self.rel_stack(seg.seq) if self.stack_isn is not None else seg.seq
        end = (start + len(seg.payload)) % _MOD32
        text = "> "
        if seg.ecn:
            text += f"[{_ECN_TEXT[seg.ecn]}] "
        text += f"{pk.flags_to_str(seg.flags)} {start}:{end}({len(seg.payload)})"
        if seg.flags & pk.ACK:
            text += f" ack {self.rel_remote(seg.ack)}"
        text += f" win {seg.window}"
        if seg.options:
            text += " <" + ",".join(self.option_text(n, v, outbound=True) for n, v in seg.options) + ">"
        return text

    def option_text(self, name: Any, value: Any, outbound: bool) -> str:
        if name == "sack" and outbound:
            return "sack " + " ".join(f"{self.rel_remote(a)}:{self.rel_remote(b)}" for a, b in value)
        if name == "ts":
            return f"TS val {value[0]} ecr {value[1]}"
        return pk._option_text(name, value)

    def spec_text(self, spec: SegSpec) -> str:
        text = ("< " if spec.inbound else "> ") + (f"[{_ECN_TEXT[spec.ecn]}] " if spec.ecn is not None else "")
        text += f"{pk.flags_to_str(spec.flags)} {spec.start}:{spec.end}({spec.length})"
        if spec.ack is not None:
            text += f" ack {spec.ack}"
        if spec.win is not None:
            text += f" win {spec.win}"
        if spec.options == "any":
            text += " <...>"
        elif isinstance(spec.options, list):
            parts = []
            for n, v in spec.options:
                if n == "ts" and spec.ts_wild:
                    parts.append(f"TS val * ecr {v[1]}")
                elif n == "sack":
                    parts.append("sack " + " ".join(f"{a}:{b}" for a, b in v))
                else:
                    parts.append(self.option_text(n, v, outbound=False))
            text += " <" + ",".join(parts) + ">"
        return text

    def inject(self, spec: SegSpec) -> None:
        if self.stack_port is None or self.remote_port is None:
            if self.bound_listener_port() is None:
                raise _Fail("inbound segment before the script set up a socket (no port known)")
            self.stack_port = self.bound_listener_port()
            self.remote_port = REMOTE_PORT_PASSIVE
        assert self.stack_port is not None and self.remote_port is not None
        ack = 0
        if spec.ack is not None:
            ack = (spec.ack + (self.stack_isn or 0)) % _MOD32
        options: List[pk.Option] = []
        given: List[pk.Option] = spec.options if isinstance(spec.options, list) else []
        for name, value in given:
            if name == "ts":
                val, ecr = value
                options.append(("ts", (val, self.map_ecr(ecr))))
            elif name == "sack":
                isn = self.stack_isn or 0
                options.append(("sack", [((a + isn) % _MOD32, (b + isn) % _MOD32) for a, b in value]))
            else:
                options.append((name, value))
        seg = pk.Segment(
            src=self.remote_ip,
            dst=self.stack_ip,
            sport=self.remote_port,
            dport=self.stack_port,
            seq=(spec.start + self.remote_isn) % _MOD32,
            ack=ack,
            flags=spec.flags,
            window=65535 if spec.win is None else spec.win,
            options=options,
            payload=bytes(spec.length),
            ecn=spec.ecn or 0,
        )
        verdict = self.stack.handle_packet(self.now, seg.build())
        self.log(f"{self.now:9.6f} {self.spec_text(spec)}" + (f"   [dropped: {verdict}]" if verdict else ""))
        self.result.inbound += 1
        self.drain()

    def map_ecr(self, ecr: int) -> int:
        if ecr == 0:
            return 0
        if ecr in self.ts_map:
            return self.ts_map[ecr]
        if self.ts_last is not None:
            script, actual = self.ts_last
            return (actual + (ecr - script)) % _MOD32
        return ecr

    def bound_listener_port(self) -> Optional[int]:
        for s in self.fds.values():
            if s.listener is not None and s.bound:
                return s.bound[1]
        return None

    def expect(self, line: Line, spec: SegSpec) -> None:
        lo = line.time - self.tolerance
        hi = (line.time_hi if line.time_hi is not None else line.time) + self.tolerance
        if line.ranged:
            lo = line.time
            hi = line.time_hi or line.time
        while not self.out:
            if not self.step_timer(hi):
                break
        if not self.out:
            self.now = max(self.now, hi)
            raise _Fail(
                f"expected an outbound segment at {line.time:.6f}s; nothing was sent by {hi:.6f}s",
                f"  expected: {self.spec_text(spec)}\n  actual:   (nothing)",
            )
        when, raw = self.out.popleft()
        try:
            seg = pk.parse(raw)
        except pk.PacketError as e:
            raise _Fail(f"the stack sent a packet that is not TCP at {when:.6f}s ({e})") from None
        if self.stack_isn is None and seg.flags & pk.SYN:
            self.stack_isn = (seg.seq - spec.start) % _MOD32
        if self.stack_port is None:
            self.stack_port, self.remote_port = seg.sport, seg.dport
        self.compare(spec, seg, when, lo, hi)
        self.log(f"{when:9.6f} {self.render(seg)}")
        self.result.outbound += 1

    def compare(self, spec: SegSpec, seg: pk.Segment, when: float, lo: float, hi: float) -> None:
        rows: List[Tuple[str, str, str, bool]] = []

        def row(name: str, exp: Any, act: Any, ok: Optional[bool] = None) -> None:
            rows.append((name, str(exp), str(act), (exp == act) if ok is None else ok))

        row("time", f"{lo:.6f}..{hi:.6f}", f"{when:.6f}", lo - 1e-9 <= when <= hi + 1e-9)
        row("addresses", f"{self.stack_ip} > {self.remote_ip}", f"{seg.src} > {seg.dst}")
        row("ports", f"{self.stack_port} > {self.remote_port}", f"{seg.sport} > {seg.dport}")
        row("flags", pk.flags_to_str(spec.flags), pk.flags_to_str(seg.flags))
        row("seq", spec.start, self.rel_stack(seg.seq))
        row("len", spec.length, len(seg.payload))
        if spec.ack is not None:
            row("ack", spec.ack, self.rel_remote(seg.ack) if seg.flags & pk.ACK else "-")
        if spec.win is not None:
            row("win", spec.win, seg.window)
        if spec.ecn is not None:
            row("ecn", _ECN_TEXT[spec.ecn], _ECN_TEXT[seg.ecn])
        if isinstance(spec.options, list):
            exp_opts = spec.options
            act_opts = seg.options
            ok = len(exp_opts) == len(act_opts)
            for (en, ev), (an, av) in zip(exp_opts, act_opts):
                if en != an:
                    ok = False
                elif en == "ts":
                    ok = ok and ev[1] == av[1]
                elif en == "sack":
                    ok = ok and [(a, b) for a, b in ev] == [
                        (self.rel_remote(a), self.rel_remote(b)) for a, b in av
                    ]
                else:
                    ok = ok and ev == av
            exp_text = ",".join(
                ("TS val * ecr %d" % v[1]) if n == "ts" and spec.ts_wild else self.option_text(n, v, False)
                for n, v in exp_opts
            )
            act_text = ",".join(self.option_text(n, v, True) for n, v in act_opts)
            row("options", f"<{exp_text}>", f"<{act_text}>", ok)
        bad = [r for r in rows if not r[3]]
        exp_list: List[pk.Option] = spec.options if isinstance(spec.options, list) else []
        if not bad:
            # Remember the TS values the script wrote for later ecr translation.
            for (en, ev), (an, av) in zip(exp_list, seg.options):
                if en == "ts" and an == "ts":
                    if not spec.ts_wild:
                        self.ts_map[ev[0]] = av[0]
                        self.ts_last = (ev[0], av[0])
                    elif self.ts_last is None:
                        self.ts_last = (0, av[0])
            if not isinstance(spec.options, list):
                ts = seg.option("ts")
                if ts and self.ts_last is None:
                    self.ts_last = (0, ts[0])
            return
        what = "was sent outside the time window" if [r[0] for r in bad] == ["time"] else "does not match"
        width = max(len(r[1]) for r in rows + [("", "expected", "", True)])
        table = [f"      {'field':<10} {'expected':<{width}}  actual"]
        for name, exp, act, ok in rows:
            table.append(f"    {' ' if ok else '!'} {name:<10} {exp:<{width}}  {act}")
        details = (
            f"  expected: {self.spec_text(spec)}\n"
            f"  actual:   {self.render(seg)}   (at {when:.6f}s)\n" + "\n".join(table)
        )
        raise _Fail(f"outbound segment {what}", details)

    def check_quiet(self, upto: float) -> None:
        if self.out and self.out[0][0] <= upto + 1e-12:
            when, raw = self.out[0]
            try:
                text = self.render(pk.parse(raw))
            except pk.PacketError:
                text = f"(non-TCP packet, {len(raw)} bytes)"
            raise _Fail(
                f"unexpected outbound segment at {when:.6f}s",
                f"  expected: (no segment before this line)\n  actual:   {text}",
            )

    # -- API -----------------------------------------------------------------------------------

    def sock(self, arg: str) -> _Socket:
        try:
            fd = int(arg)
        except ValueError:
            raise _Fail(f"bad file descriptor {arg!r}") from None
        s = self.fds.get(fd)
        if s is None or s.closed:
            raise _ApiErr(_errno.EBADF)
        return s

    def call(self, c: ApiCall) -> None:
        self.result.calls += 1
        try:
            ret = self.do_call(c)
            err = None
        except _ApiErr as e:
            ret, err = -1, _errno.errorcode.get(e.errno, str(e.errno))
        except _errors.TcpError as e:
            ret, err = -1, _errno.errorcode.get(e.errno or 0, "EIO")
        exp = f"{c.ret}" + (f" {c.err}" if c.err else "")
        act = f"{ret}" + (f" {err}" if err else "")
        self.log(f"{self.now:9.6f} {c.name}({', '.join(c.args)}) = {act}")
        if (c.ret, c.err) != (ret, err):
            if c.name == "connect" and c.ret == 0 and (ret, err) == (-1, "EINPROGRESS"):
                return
            raise _Fail(
                f"{c.name}() returned {act}, expected {exp}",
                f"  expected: {c.name}(...) = {exp}\n  actual:   {c.name}(...) = {act}",
            )

    def do_call(self, c: ApiCall) -> int:
        a = c.args
        name = c.name
        if name == "socket":
            fd = self.next_fd
            self.next_fd += 1
            self.fds[fd] = _Socket(fd)
            return fd
        if name == "fcntl":
            self.sock(a[0])
            return 0
        if name == "bind":
            s = self.sock(a[0])
            s.bound = (self.stack_ip, BIND_PORT)
            return 0
        if name == "listen":
            s = self.sock(a[0])
            backlog = int(a[1]) if len(a) > 1 and a[1].isdigit() else 128
            addr = s.bound or (self.stack_ip, BIND_PORT)
            s.bound = addr
            s.listener = self.stack.listen(addr, backlog=max(backlog, 1))
            return 0
        if name == "accept":
            s = self.sock(a[0])
            if s.listener is None:
                raise _ApiErr(_errno.EINVAL)
            conn = self.stack.accept(s.listener)
            self.drain()
            if conn is None:
                raise _ApiErr(_errno.EAGAIN)
            fd = self.next_fd
            self.next_fd += 1
            ns = _Socket(fd, conn=conn, nodelay=s.nodelay, keepalive=s.keepalive, keepidle=s.keepidle)
            self.fds[fd] = ns
            self.apply_opts(ns)
            self.last_conn_fd = fd
            return fd
        if name == "connect":
            s = self.sock(a[0])
            if s.conn is not None:
                raise _ApiErr(_errno.EALREADY)
            local = s.bound
            s.conn = self.stack.connect(
                self.now,
                (self.remote_ip, BIND_PORT),
                local=local,
                nodelay=s.nodelay,
                send_buffer=s.sndbuf,
                recv_buffer=s.rcvbuf,
            )
            self.apply_opts(s)
            self.last_conn_fd = s.fd
            self.drain()
            raise _ApiErr(_errno.EINPROGRESS)
        if name in ("write", "send"):
            s = self.conn_sock(a[0])
            n = int(a[2])
            self.raise_so_error(s)
            assert s.conn is not None
            sent = self.stack.send(s.conn, bytes(n))
            self.drain()
            if sent == 0 and n > 0:
                raise _ApiErr(_errno.EAGAIN)
            return sent
        if name in ("read", "recv"):
            s = self.conn_sock(a[0])
            n = int(a[2])
            assert s.conn is not None
            try:
                data = self.stack.recv(s.conn, n)
            except _errors.TcpError:
                self.drain()
                s.so_error = 0
                raise
            self.drain()
            if data is None:
                self.raise_so_error(s)
                raise _ApiErr(_errno.EAGAIN)
            return len(data)
        if name == "shutdown":
            s = self.conn_sock(a[0])
            how = a[1] if len(a) > 1 else "SHUT_WR"
            assert s.conn is not None
            if how in ("SHUT_WR", "SHUT_RDWR", "1", "2"):
                self.stack.shutdown(s.conn)
            self.drain()
            return 0
        if name == "close":
            s = self.sock(a[0])
            if s.listener is not None:
                self.stack.close_listener(s.listener)
            if s.conn is not None:
                self.stack.close(s.conn)
            s.closed = True
            self.drain()
            return 0
        if name == "setsockopt":
            return self.setsockopt(self.sock(a[0]), a[2], _bracket_int(a[3]))
        if name == "getsockopt":
            return self.getsockopt(self.sock(a[0]), a[2], a[3])
        raise _Fail(f"unsupported call {name}()")

    def conn_sock(self, arg: str) -> _Socket:
        s = self.sock(arg)
        if s.conn is None:
            raise _ApiErr(_errno.ENOTCONN)
        return s

    def raise_so_error(self, s: _Socket) -> None:
        if s.so_error:
            e, s.so_error = s.so_error, 0
            raise _ApiErr(e)

    def apply_opts(self, s: _Socket) -> None:
        if s.conn is None:
            return
        self.stack.set_nodelay(s.conn, s.nodelay)
        if s.keepalive:
            self.stack.set_keepalive(s.conn, s.keepidle)
        self.drain()

    def setsockopt(self, s: _Socket, opt: str, value: int) -> int:
        if opt == "SO_REUSEADDR":
            return 0
        if opt == "TCP_NODELAY":
            s.nodelay = bool(value)
        elif opt == "SO_KEEPALIVE":
            s.keepalive = bool(value)
            if s.conn is not None and not value:
                self.stack.set_keepalive(s.conn, None)
        elif opt == "TCP_KEEPIDLE":
            if value < 1:
                raise _ApiErr(_errno.EINVAL)
            s.keepidle = float(value)
        elif opt in ("SO_SNDBUF", "SO_RCVBUF"):
            if s.conn is not None or s.listener is not None or value < 1:
                # The core sizes buffers when a connection is created (ConnectOptions).
                raise _ApiErr(_errno.EINVAL)
            if opt == "SO_SNDBUF":
                s.sndbuf = value
            else:
                s.rcvbuf = value
            return 0
        else:
            raise _ApiErr(_errno.ENOPROTOOPT)
        self.apply_opts(s)
        return 0

    def getsockopt(self, s: _Socket, opt: str, expected: str) -> int:
        if opt == "SO_ERROR":
            value = s.so_error
            s.so_error = 0
        elif opt == "TCP_NODELAY":
            value = int(s.nodelay)
        elif opt == "SO_KEEPALIVE":
            value = int(s.keepalive)
        elif opt == "TCP_KEEPIDLE":
            value = int(s.keepidle)
        elif opt in ("SO_SNDBUF", "SO_RCVBUF"):
            mine = s.sndbuf if opt == "SO_SNDBUF" else s.rcvbuf
            value = mine if mine is not None else self.default_buffer(opt)
        else:
            raise _ApiErr(_errno.ENOPROTOOPT)
        want = _bracket_int(expected)
        if want != value:
            raise _Fail(
                f"getsockopt({opt}) gave {_value_text(opt, value)}, expected {_value_text(opt, want)}",
                f"  expected: [{_value_text(opt, want)}]\n  actual:   [{_value_text(opt, value)}]",
            )
        return 0

    def default_buffer(self, opt: str) -> int:
        # The core's defaults (StackConfig::new) unless @config changed them.
        key = "send_buffer" if opt == "SO_SNDBUF" else "recv_buffer"
        return int(self.config_values.get(key, 256 * 1024))

    # -- checks ----------------------------------------------------------------------------------

    def check(self, c: Check) -> None:
        ns: Dict[str, Any] = dict(_STATE_CONSTANTS)
        ns["stats"] = self.stack.stats()
        ns["stack"] = self.stack
        info = None
        if self.last_conn_fd is not None:
            s = self.fds[self.last_conn_fd]
            if s.conn is not None:
                info = self.stack.info(s.conn)
        ns["info"] = info
        if info is not None:
            ns.update(
                tcpi_state=_TCP_STATES[info.state],
                tcpi_snd_mss=info.mss,
                tcpi_rcv_mss=info.peer_mss,
                tcpi_snd_cwnd=info.cwnd // max(info.mss, 1),
                tcpi_snd_ssthresh=info.ssthresh // max(info.mss, 1),
                tcpi_rto=round(info.rto * 1e6),
                tcpi_rtt=round((info.srtt or 0) * 1e6),
                tcpi_rttvar=round(info.rttvar * 1e6),
                tcpi_snd_wscale=info.snd_wscale,
                tcpi_rcv_wscale=info.rcv_wscale,
                tcpi_backoff=info.backoff,
                tcpi_total_retrans=info.retransmits,
                tcpi_unacked=info.bytes_in_flight,
                tcpi_snd_wnd=info.snd_wnd,
                tcpi_rcv_wnd=info.rcv_wnd,
            )
        else:
            ns["tcpi_state"] = _TCP_STATES["CLOSED"]
        try:
            exec(compile(c.code, "<script check>", "exec"), ns)
        except AssertionError as e:
            shown = {k: v for k, v in ns.items() if k.startswith("tcpi_")}
            raise _Fail(
                f"check failed: {c.code}" + (f" ({e})" if str(e) else ""),
                "  values: " + ", ".join(f"{k}={v}" for k, v in sorted(shown.items())),
            ) from None
        self.log(f"{self.now:9.6f} %{{ {c.code} }}% ok")

    # -- the loop --------------------------------------------------------------------------------

    def run(self, lines: Sequence[Line]) -> Result:
        for line in lines:
            self.result.lines += 1
            try:
                body = line.body
                if isinstance(body, SegSpec) and not body.inbound:
                    self.expect(line, body)
                    continue
                self.run_until(line.time)
                self.check_quiet(line.time)
                if isinstance(body, SegSpec):
                    self.inject(body)
                elif isinstance(body, ApiCall):
                    self.call(body)
                else:
                    self.check(body)
            except _Fail as f:
                raise ScriptError(self.path, line.lineno, line.text, f.message, f.details) from None
        if lines:
            last = lines[-1]
            try:
                self.run_until(max(self.now, last.time))
                self.check_quiet(self.now)
            except _Fail as f:
                raise ScriptError(self.path, last.lineno, last.text, "after the last line: " + f.message, f.details) from None
        self.result.end_time = self.now
        return self.result


class _ApiErr(Exception):
    def __init__(self, errno: int) -> None:
        super().__init__(errno)
        self.errno = errno


def _bracket_int(text: str) -> int:
    t = text.strip().strip("[]").strip()
    if hasattr(_errno, t):
        return int(getattr(_errno, t))
    try:
        return int(t, 0)
    except ValueError:
        raise _Fail(f"option value {text!r} is not a number or errno name") from None


def _value_text(opt: str, value: int) -> str:
    if opt == "SO_ERROR" and value:
        return _errno.errorcode.get(value, str(value))
    return str(value)


def run_script(
    text: str, *, path: str = "<script>", verbose: bool = False, tolerance: Optional[float] = None
) -> Result:
    """Runs a script given as text; raises :class:`ScriptError` at the first mismatch."""
    config, lines = parse_script(text)
    runner = _Runner(path, config, verbose, tolerance)
    return runner.run(lines)


def run_file(path: Union[str, Path], *, verbose: bool = False, tolerance: Optional[float] = None) -> Result:
    """Runs the script in ``path``."""
    p = Path(path)
    return run_script(p.read_text(), path=str(p), verbose=verbose, tolerance=tolerance)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m sanstcp.script [-v] [--tolerance S] FILE...``; exit status 1 on a failure."""
    ap = argparse.ArgumentParser(prog="python -m sanstcp.script", description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", help="script files (.pkt)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every segment and call")
    ap.add_argument("--tolerance", type=float, default=None, help="timing tolerance in seconds")
    args = ap.parse_args(argv)
    failed = 0
    for f in args.files:
        try:
            r = run_file(f, verbose=args.verbose, tolerance=args.tolerance)
        except (ScriptError, ScriptSyntaxError) as e:
            failed += 1
            print(f"FAIL {f}\n{e}\n")
        else:
            print(f"PASS {f} ({r.lines} lines, {r.inbound} in, {r.outbound} out, {r.end_time:.3f}s)")
    print(f"{len(args.files) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
