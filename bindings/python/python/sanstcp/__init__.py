"""sanstcp: a sans-IO TCP/IP stack, from Python.

The stack does no I/O and reads no clock: feed it IP packets (:meth:`Stack.handle_packet`) and
the time (``now``, float seconds since an epoch you pick); take packets
(:meth:`Stack.poll_transmit`), deadlines (:meth:`Stack.poll_timeout`) and events
(:meth:`Stack.poll_event`) out. The same secret, seed, inputs and times give the same outputs.

Submodules: :mod:`sanstcp.packet` (build and parse IPv4/IPv6 + TCP), :mod:`sanstcp.script`
(packetdrill-style scripts), :mod:`sanstcp.aio` (asyncio streams), :mod:`sanstcp.tap` (a TAP
device for the asyncio layer).
"""

from __future__ import annotations

from typing import Union

from sanstcp._errors import (
    AddressInUse,
    AddressNotAvailable,
    BrokenPipe,
    ConfigError,
    ConnectionAborted,
    ConnectionRefused,
    ConnectionReset,
    ConnectionTimedOut,
    InvalidArgument,
    InvalidConnection,
    NotConnected,
    ResourceExhausted,
    TcpError,
    error_for_reason,
)
from sanstcp._native import (
    DROP_REASONS,
    Closed,
    Connected,
    ConnId,
    ConnInfo,
    Incoming,
    Interface,
    ListenerId,
    PeerClosed,
    Readable,
    Stack,
    StateChanged,
    Stats,
    Writable,
)

#: Any event :meth:`Stack.poll_event` returns.
Event = Union[Connected, Incoming, Readable, Writable, PeerClosed, Closed, StateChanged]

__version__ = "0.1.0"

__all__ = [
    "DROP_REASONS",
    "AddressInUse",
    "AddressNotAvailable",
    "BrokenPipe",
    "Closed",
    "ConfigError",
    "ConnId",
    "ConnInfo",
    "Connected",
    "ConnectionAborted",
    "ConnectionRefused",
    "ConnectionReset",
    "ConnectionTimedOut",
    "Event",
    "Incoming",
    "Interface",
    "InvalidArgument",
    "InvalidConnection",
    "ListenerId",
    "NotConnected",
    "PeerClosed",
    "Readable",
    "ResourceExhausted",
    "Stack",
    "StateChanged",
    "Stats",
    "TcpError",
    "Writable",
    "error_for_reason",
]
