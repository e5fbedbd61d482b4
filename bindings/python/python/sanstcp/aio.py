"""asyncio streams over a sanstcp stack.

A :class:`Driver` runs one :class:`~sanstcp.Stack` on the running event loop: the loop's clock
is the stack's ``now``, a timer follows :meth:`~sanstcp.Stack.poll_timeout`, and a *link*
carries the packets. Two links come with the package:

* :class:`MemoryLink` -- an in-process IP link between two drivers (``MemoryLink.pair()``);
* :class:`TapLink` -- a TAP device (Ethernet frames, ARP/NDP through :class:`~sanstcp.Interface`).

On top, :func:`open_connection` and :func:`start_server` work like their :mod:`asyncio`
namesakes and hand out an :class:`asyncio.StreamReader` and a :class:`StreamWriter`::

    a, b = MemoryLink.pair()
    server_driver = Driver(Stack(secret=..., seed=1, addresses=["10.0.0.1"]), a)
    client_driver = Driver(Stack(secret=..., seed=2, addresses=["10.0.0.2"]), b)
    server = await start_server(server_driver, handle, "10.0.0.1", 7)
    reader, writer = await open_connection(client_driver, "10.0.0.1", 7)

Received data is moved into the reader as soon as it arrives (the reader's buffer is not
bounded by the stack's receive window).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, Union

from sanstcp._errors import TcpError, error_for_reason
from sanstcp._native import (
    Closed,
    Connected,
    ConnId,
    Incoming,
    Interface,
    ListenerId,
    PeerClosed,
    Readable,
    Stack,
    Writable,
)

__all__ = [
    "Driver",
    "MemoryLink",
    "Server",
    "StreamWriter",
    "TapLink",
    "open_connection",
    "start_server",
]

ClientCallback = Callable[[asyncio.StreamReader, "StreamWriter"], Union[Awaitable[None], None]]


class MemoryLink:
    """One end of an in-process IP link; :meth:`pair` makes two connected ends."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.peer: Optional[MemoryLink] = None
        self.driver: Optional[Driver] = None
        #: Packets sent through this end.
        self.sent = 0

    @classmethod
    def pair(cls, delay: float = 0.0) -> Tuple["MemoryLink", "MemoryLink"]:
        """Two ends; each packet takes ``delay`` seconds to cross."""
        a, b = cls(delay), cls(delay)
        a.peer, b.peer = b, a
        return a, b

    def bind(self, driver: "Driver") -> None:
        self.driver = driver

    def flush(self, now: float) -> None:
        assert self.driver is not None
        for p in self.driver.stack.packets_to_send(now):
            self.sent += 1
            peer = self.peer
            if peer is None or peer.driver is None:
                continue
            if self.delay:
                self.driver.loop.call_later(self.delay, peer.driver.receive, p)
            else:
                self.driver.loop.call_soon(peer.driver.receive, p)

    def poll_timeout(self) -> Optional[float]:
        assert self.driver is not None
        return self.driver.stack.poll_timeout()

    def handle_timeout(self, now: float) -> None:
        assert self.driver is not None
        self.driver.stack.handle_timeout(now)

    def deliver(self, now: float, data: bytes) -> None:
        assert self.driver is not None
        self.driver.stack.handle_packet(now, data)

    def close(self) -> None:
        self.driver = None


class TapLink:
    """A TAP device (a non-blocking fd, see :func:`sanstcp.tap.open_tap`) with an Ethernet +
    ARP/NDP :class:`~sanstcp.Interface` in front of the stack."""

    def __init__(self, fd: int, interface: Interface) -> None:
        self.fd = fd
        self.interface = interface
        self.driver: Optional[Driver] = None

    def bind(self, driver: "Driver") -> None:
        self.driver = driver
        driver.loop.add_reader(self.fd, self._readable)
        self.interface.announce(driver.stack)

    def _readable(self) -> None:
        assert self.driver is not None
        for _ in range(64):
            try:
                frame = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not frame:
                break
            self.driver.receive(frame)

    def flush(self, now: float) -> None:
        assert self.driver is not None
        for frame in self.interface.frames_to_send(now, self.driver.stack):
            try:
                os.write(self.fd, frame)
            except BlockingIOError:
                pass  # the device queue is full: the frame is lost, TCP retransmits

    def poll_timeout(self) -> Optional[float]:
        assert self.driver is not None
        return self.interface.poll_timeout(self.driver.stack)

    def handle_timeout(self, now: float) -> None:
        assert self.driver is not None
        self.interface.handle_timeout(now, self.driver.stack)

    def deliver(self, now: float, data: bytes) -> None:
        assert self.driver is not None
        self.interface.handle_frame(now, self.driver.stack, data)

    def close(self) -> None:
        if self.driver is not None:
            self.driver.loop.remove_reader(self.fd)
            self.driver = None


Link = Union[MemoryLink, TapLink]


class _Conn:
    """Driver-side state of one connection."""

    def __init__(self, driver: "Driver", conn: ConnId, limit: int) -> None:
        self.driver = driver
        self.id = conn
        self.reader = asyncio.StreamReader(limit=limit)
        self.writer = StreamWriter(self)
        self.connected: asyncio.Future[None] = driver.loop.create_future()
        self.closed: asyncio.Future[None] = driver.loop.create_future()
        self.pending = bytearray()
        self.drained: Optional[asyncio.Future[None]] = None
        self.eof_requested = False
        self.close_requested = False
        self.shut = False
        self.released = False
        self.error: Optional[Exception] = None

    def pull(self) -> None:
        stack = self.driver.stack
        while not self.released:
            try:
                data = stack.recv(self.id, 65536)
            except TcpError as e:
                self.fail(e)
                return
            if data is None:
                return
            if not data:
                if not self.reader.at_eof():
                    self.reader.feed_eof()
                return
            self.reader.feed_data(data)

    def push(self) -> None:
        stack = self.driver.stack
        if self.released or self.error is not None:
            return
        try:
            while self.pending:
                n = stack.send(self.id, bytes(self.pending[:65536]))
                if n == 0:
                    break
                del self.pending[:n]
            if not self.pending:
                if self.close_requested:
                    stack.close(self.id)
                    self.release()
                elif self.eof_requested and not self.shut:
                    self.shut = True
                    stack.shutdown(self.id)
        except TcpError as e:
            self.fail(e)
        self.wake_drain()

    def wake_drain(self) -> None:
        if self.drained is not None and not self.drained.done() and (not self.pending or self.error or self.released):
            self.drained.set_result(None)

    def fail(self, err: Exception) -> None:
        if self.error is None:
            self.error = err
        if not self.connected.done():
            self.connected.set_exception(err)
            self.connected.exception()  # a failed connect may never be awaited
        try:
            self.reader.set_exception(err)
        except Exception:  # pragma: no cover - reader already closed
            pass
        self.wake_drain()
        self.finish()

    def finish(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self.driver.conns.pop(self.id, None)

    def release(self) -> None:
        self.released = True
        self.finish()


class StreamWriter:
    """The writing half of a connection, shaped like :class:`asyncio.StreamWriter`."""

    def __init__(self, conn: _Conn) -> None:
        self._conn = conn

    def write(self, data: Union[bytes, bytearray, memoryview]) -> None:
        """Queues data; it goes out as the send buffer allows (see :meth:`drain`)."""
        c = self._conn
        if c.error is not None:
            raise c.error
        if c.eof_requested or c.close_requested:
            raise BrokenPipeError("the stream is closed for writing")
        c.pending += data
        c.push()
        c.driver.service()

    def writelines(self, data: List[bytes]) -> None:
        """Writes each item."""
        for d in data:
            self.write(d)

    async def drain(self) -> None:
        """Waits until everything written was taken by the stack's send buffer."""
        c = self._conn
        while c.pending and c.error is None and not c.released:
            c.drained = c.driver.loop.create_future()
            await c.drained
        if c.error is not None:
            raise c.error

    def can_write_eof(self) -> bool:
        """Always true: TCP has a half-close."""
        return True

    def write_eof(self) -> None:
        """Half-close: a FIN follows the data written so far; reading goes on."""
        self._conn.eof_requested = True
        self._conn.push()
        self._conn.driver.service()

    def close(self) -> None:
        """Closes the connection gracefully once the written data is queued."""
        self._conn.close_requested = True
        self._conn.push()
        self._conn.driver.service()

    def is_closing(self) -> bool:
        """Whether :meth:`close` was called or the connection ended."""
        return self._conn.close_requested or self._conn.closed.done()

    async def wait_closed(self) -> None:
        """Waits until the connection is released (closed by us or failed)."""
        await asyncio.shield(self._conn.closed)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``peername``, ``sockname`` or ``tcp_info`` (a :class:`~sanstcp.ConnInfo`)."""
        c = self._conn
        info = None if c.released else c.driver.stack.info(c.id)
        if info is None:
            return default
        return {"peername": info.remote, "sockname": info.local, "tcp_info": info}.get(name, default)

    @property
    def conn(self) -> ConnId:
        """The stack's id of this connection."""
        return self._conn.id


class Server:
    """A listener that calls ``client_connected_cb(reader, writer)`` for each connection."""

    def __init__(self, driver: "Driver", listener: ListenerId, cb: ClientCallback, limit: int, address: Tuple[str, int]) -> None:
        self._driver = driver
        self._listener = listener
        self._cb = cb
        self._limit = limit
        self._closed = driver.loop.create_future()
        self._tasks: "set[asyncio.Task[None]]" = set()
        #: The ``(host, port)`` listened on.
        self.address = address

    def _incoming(self) -> None:
        while True:
            conn = self._driver.stack.accept(self._listener)
            if conn is None:
                return
            c = self._driver._register(conn, self._limit)
            c.connected.set_result(None)
            c.pull()
            result = self._cb(c.reader, c.writer)
            if asyncio.iscoroutine(result):
                task = self._driver.loop.create_task(result)
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        """Stops listening (connections waiting in the accept queue are reset)."""
        if not self._closed.done():
            self._driver.stack.close_listener(self._listener)
            self._driver.listeners.pop(self._listener, None)
            self._closed.set_result(None)
            self._driver.service()

    def is_serving(self) -> bool:
        """Whether the listener is open."""
        return not self._closed.done()

    async def wait_closed(self) -> None:
        """Waits until :meth:`close` was called."""
        await asyncio.shield(self._closed)

    async def serve_forever(self) -> None:
        """Waits until the server is closed."""
        await self.wait_closed()

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class Driver:
    """Runs a :class:`~sanstcp.Stack` on the running asyncio loop over a link."""

    def __init__(self, stack: Stack, link: Link, *, loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        self.stack = stack
        self.link = link
        self.loop = loop or asyncio.get_running_loop()
        self._t0 = self.loop.time()
        self.conns: Dict[ConnId, _Conn] = {}
        self.listeners: Dict[ListenerId, Server] = {}
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_at: Optional[float] = None
        self._servicing = False
        self._closed = False
        link.bind(self)
        self.service()

    def now(self) -> float:
        """The stack's clock: seconds since this driver started, from the loop's clock."""
        return max(0.0, self.loop.time() - self._t0)

    def receive(self, data: bytes) -> None:
        """Hands one packet (or frame, for a TAP link) from the link to the stack."""
        if self._closed:
            return
        self.link.deliver(self.now(), data)
        self.service()

    def service(self) -> None:
        """Sends what the stack has, dispatches its events and re-arms the timer."""
        if self._servicing or self._closed:
            return
        self._servicing = True
        try:
            for _ in range(10_000):
                self.link.flush(self.now())
                events = self.stack.events()
                if not events:
                    break
                for ev in events:
                    self._dispatch(ev)
            self._arm()
        finally:
            self._servicing = False

    def _dispatch(self, ev: object) -> None:
        if isinstance(ev, Incoming):
            server = self.listeners.get(ev.listener)
            if server is not None:
                server._incoming()
            return
        c = self.conns.get(ev.conn)  # type: ignore[attr-defined]
        if c is None:
            return
        if isinstance(ev, Connected):
            if not c.connected.done():
                c.connected.set_result(None)
        elif isinstance(ev, (Readable, PeerClosed)):
            c.pull()
        elif isinstance(ev, Writable):
            c.push()
        elif isinstance(ev, Closed):
            err = error_for_reason(ev.reason)
            if err is not None:
                c.pull()
                c.fail(err)
            else:
                c.pull()
                if not c.reader.at_eof():
                    c.reader.feed_eof()
                c.finish()

    def _arm(self) -> None:
        deadline = self.link.poll_timeout()
        if deadline == self._timer_at and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self.loop.call_at(self._t0 + deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if self._closed:
            return
        self.link.handle_timeout(self.now())
        self.service()

    def _register(self, conn: ConnId, limit: int = 2**16) -> _Conn:
        c = _Conn(self, conn, limit)
        self.conns[conn] = c
        return c

    def close(self) -> None:
        """Stops the driver: aborts the connections, stops the timer and detaches the link."""
        for c in list(self.conns.values()):
            if not c.released:
                self.stack.abort(c.id)
                c.fail(ConnectionAbortedError("the driver was closed"))
        for s in list(self.listeners.values()):
            s.close()
        self.link.flush(self.now())
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        self.link.close()


async def open_connection(
    driver: Driver,
    host: str,
    port: int,
    *,
    local: Optional[Tuple[str, int]] = None,
    nodelay: bool = False,
    limit: int = 2**16,
) -> Tuple[asyncio.StreamReader, StreamWriter]:
    """Connects to ``(host, port)`` and returns ``(reader, writer)`` once established;
    raises :class:`ConnectionRefusedError` / :class:`TimeoutError` (sanstcp subclasses)."""
    conn = driver.stack.connect(driver.now(), (host, port), local=local, nodelay=nodelay)
    c = driver._register(conn, limit)
    driver.service()
    await c.connected
    return c.reader, c.writer


async def start_server(
    driver: Driver,
    client_connected_cb: ClientCallback,
    host: str,
    port: int,
    *,
    backlog: int = 128,
    limit: int = 2**16,
) -> Server:
    """Listens on ``(host, port)``; each connection calls ``client_connected_cb(reader,
    writer)`` (a coroutine function runs as a task)."""
    listener = driver.stack.listen((host, port), backlog=backlog)
    server = Server(driver, listener, client_connected_cb, limit, (host, port))
    driver.listeners[listener] = server
    return server
