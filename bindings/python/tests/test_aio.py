"""sanstcp.aio: streams over an in-process link, driven by the event loop's clock."""

from __future__ import annotations

import asyncio

import pytest

import sanstcp
from sanstcp.aio import Driver, MemoryLink, open_connection, start_server


def drivers(delay: float = 0.002, **kw: object):
    a, b = MemoryLink.pair(delay)
    server = Driver(sanstcp.Stack(secret=b"s" * 16, seed=1, addresses=["10.0.0.1"], **kw), a)  # type: ignore[arg-type]
    client = Driver(sanstcp.Stack(secret=b"c" * 16, seed=2, addresses=["10.0.0.2"], **kw), b)  # type: ignore[arg-type]
    return server, client


async def echo(reader: asyncio.StreamReader, writer) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


def test_echo_large_transfer() -> None:
    async def main() -> None:
        sd, cd = drivers()
        server = await start_server(sd, echo, "10.0.0.1", 7)
        reader, writer = await open_connection(cd, "10.0.0.1", 7)
        assert writer.get_extra_info("peername") == ("10.0.0.1", 7)
        assert writer.get_extra_info("tcp_info").state == "ESTABLISHED"
        payload = bytes(range(256)) * 8192  # 2 MiB, larger than both buffers
        writer.write(payload)
        await writer.drain()
        writer.write_eof()
        got = await asyncio.wait_for(reader.read(-1), 30)
        assert got == payload
        writer.close()
        await writer.wait_closed()
        async with server:
            assert server.is_serving()
        assert not server.is_serving()

    asyncio.run(main())


def test_many_connections() -> None:
    async def main() -> None:
        sd, cd = drivers()
        await start_server(sd, echo, "10.0.0.1", 7)

        async def one(i: int) -> bytes:
            r, w = await open_connection(cd, "10.0.0.1", 7, nodelay=True)
            w.write(b"%d" % i)
            w.write_eof()
            data = await r.read(-1)
            w.close()
            return data

        results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(20))), 30)
        assert results == [b"%d" % i for i in range(20)]

    asyncio.run(main())


def test_refused_and_reset() -> None:
    async def main() -> None:
        sd, cd = drivers()
        with pytest.raises(ConnectionRefusedError):
            await open_connection(cd, "10.0.0.1", 9)

        accepted: asyncio.Future = asyncio.get_running_loop().create_future()

        async def keep(reader, writer) -> None:
            accepted.set_result(writer)

        await start_server(sd, keep, "10.0.0.1", 7)
        reader, writer = await open_connection(cd, "10.0.0.1", 7)
        server_writer = await accepted
        sd.stack.abort(server_writer.conn)
        sd.service()
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(10), 5)
        with pytest.raises(ConnectionResetError):
            writer.write(b"x")

    asyncio.run(main())


def test_connect_times_out_on_a_dead_link() -> None:
    async def main() -> None:
        a, _ = MemoryLink.pair()
        d = Driver(sanstcp.Stack(secret=b"c" * 16, seed=2, addresses=["10.0.0.2"], syn_retries=1, rto_initial=0.05), a)
        with pytest.raises(TimeoutError) as e:
            await asyncio.wait_for(open_connection(d, "10.0.0.1", 7), 5)
        assert isinstance(e.value, sanstcp.TcpError)
        d.close()

    asyncio.run(main())
