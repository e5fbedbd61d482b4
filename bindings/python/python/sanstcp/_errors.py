"""Exceptions raised by :mod:`sanstcp`.

Every exception derives from :class:`TcpError` (an :class:`OSError` with ``errno`` set) and,
where one exists, from the matching built-in: ``except ConnectionResetError`` and
``except sanstcp.TcpError`` both catch a reset.
"""

from __future__ import annotations

import errno as _errno


class TcpError(OSError):
    """Base class of every sanstcp error; ``errno`` and ``strerror`` are set."""

    default_errno: int = _errno.EIO

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str):
            super().__init__(self.default_errno, args[0])
        else:
            super().__init__(*args)


class ConnectionReset(TcpError, ConnectionResetError):
    """The peer reset the connection."""

    default_errno = _errno.ECONNRESET


class ConnectionTimedOut(TcpError, TimeoutError):
    """Retransmissions, the handshake or keep-alive ran out of time."""

    default_errno = _errno.ETIMEDOUT


class ConnectionRefused(TcpError, ConnectionRefusedError):
    """The peer answered the SYN with a RST."""

    default_errno = _errno.ECONNREFUSED


class ConnectionAborted(TcpError, ConnectionAbortedError):
    """This side aborted the connection (or the stack did)."""

    default_errno = _errno.ECONNABORTED


class BrokenPipe(TcpError, BrokenPipeError):
    """Writing after this side shut down or closed."""

    default_errno = _errno.EPIPE


class NotConnected(TcpError):
    """The connection is not established, or it failed."""

    default_errno = _errno.ENOTCONN


class InvalidConnection(TcpError, LookupError):
    """The id is stale (the connection was released) or was never issued."""

    default_errno = _errno.EBADF


class AddressInUse(TcpError):
    """The address and port (or the 4-tuple) are in use."""

    default_errno = _errno.EADDRINUSE


class AddressNotAvailable(TcpError):
    """The address is not one of the stack's."""

    default_errno = _errno.EADDRNOTAVAIL


class InvalidArgument(TcpError, ValueError):
    """An argument is out of range (port 0, backlog 0, a non-unicast remote, ...)."""

    default_errno = _errno.EINVAL


class ConfigError(TcpError, ValueError):
    """The stack configuration was refused."""

    default_errno = _errno.EINVAL


class ResourceExhausted(TcpError):
    """A stack-wide limit (the connection table) is reached."""

    default_errno = _errno.ENOBUFS


_KINDS: dict[str, type[TcpError]] = {
    "reset": ConnectionReset,
    "timed_out": ConnectionTimedOut,
    "refused": ConnectionRefused,
    "aborted": ConnectionAborted,
    "broken_pipe": BrokenPipe,
    "not_connected": NotConnected,
    "invalid_connection": InvalidConnection,
    "address_in_use": AddressInUse,
    "address_not_available": AddressNotAvailable,
    "invalid_argument": InvalidArgument,
    "config": ConfigError,
    "resource_exhausted": ResourceExhausted,
}


def make_error(kind: str, message: str) -> TcpError:
    """The exception for an error kind (used by the native module)."""
    return _KINDS.get(kind, TcpError)(message)


def error_for_reason(reason: str) -> TcpError | None:
    """The exception matching a ``Closed.reason`` (``None`` for ``"normal"``)."""
    if reason == "normal":
        return None
    return make_error(reason, f"connection closed: {reason.replace('_', ' ')}")
