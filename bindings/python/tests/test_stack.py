"""The Stack API: configuration, the poll loop, events, errors, info and stats."""

from __future__ import annotations

import dataclasses
import errno

import pytest

import sanstcp
from sanstcp import packet as pk

from conftest import exchange, make_pair


def established(a: sanstcp.Stack, b: sanstcp.Stack):
    listener = b.listen(("10.0.0.2", 80))
    client = a.connect(0.0, ("10.0.0.2", 80))
    exchange(a, b, 0.0)
    server = b.accept(listener)
    assert server is not None
    return client, server, listener


def test_config_errors() -> None:
    with pytest.raises(sanstcp.ConfigError) as e:
        sanstcp.Stack(secret=b"short", seed=1, addresses=["10.0.0.1"])
    assert isinstance(e.value, ValueError) and isinstance(e.value, sanstcp.TcpError)
    with pytest.raises(sanstcp.ConfigError):
        sanstcp.Stack(secret=b"k" * 16, seed=1, addresses=[])
    with pytest.raises(sanstcp.ConfigError):
        sanstcp.Stack(secret=b"k" * 16, seed=1, addresses=["10.0.0.1"], mtu=100)
    with pytest.raises(sanstcp.ConfigError):
        sanstcp.Stack(secret=b"k" * 16, seed=1, addresses=["10.0.0.1"], congestion="vegas")
    with pytest.raises(ValueError):
        sanstcp.Stack(secret=b"k" * 16, seed=1, addresses=["not-an-ip"])
    s = sanstcp.Stack(secret=b"k" * 16, seed=1, addresses=["10.0.0.1", "fd00::1"], mtu=9000, congestion="cubic")
    assert s.mtu == 9000 and s.addresses == ["10.0.0.1", "fd00::1"]


def test_handshake_transfer_close(pair) -> None:
    a, b = pair
    client, server, listener = established(a, b)
    assert isinstance(a.poll_event(), sanstcp.Connected)
    assert a.poll_event() is None
    assert sanstcp.Incoming(listener) in b.events()
    assert a.send(client, b"hello") == 5
    assert b.recv(server) is None  # nothing crossed yet
    exchange(a, b, 0.001)
    assert b.events() == [sanstcp.Readable(server)]
    assert b.recv(server, 3) == b"hel"
    assert b.recv(server) == b"lo"
    a.shutdown(client)
    exchange(a, b, 0.002)
    assert sanstcp.PeerClosed(server) in b.events()
    assert b.recv(server) == b""  # end of stream
    info = b.info(server)
    assert info is not None and info.state == "CLOSE-WAIT"
    b.close(server)
    exchange(a, b, 0.003)
    assert b.info(server) is None  # the id is stale after close
    assert a.info(client).state == "TIME-WAIT"


def test_buffers_of_every_kind(pair) -> None:
    a, b = pair
    client, server, _ = established(a, b)
    a.send(client, bytearray(b"ab"))
    a.send(client, memoryview(b"xxcdxx")[2:4])
    for p in a.packets_to_send(0.01):
        assert b.handle_packet(0.01, memoryview(bytearray(p))) is None
    assert b.recv(server) == b"abcd"
    with pytest.raises(TypeError):
        b.handle_packet(0.01, "not bytes")  # type: ignore[arg-type]


def test_drops_are_reported_and_counted(pair) -> None:
    a, b = pair
    seg = pk.Segment(src="10.0.0.1", dst="10.0.0.2", sport=1000, dport=80, flags=pk.SYN)
    assert b.handle_packet(0.0, seg.build(bad_checksum=True)) == "bad_checksum"
    assert b.handle_packet(0.0, b"\x45garbage") == "bad_ip_header"
    assert b.handle_packet(0.0, seg.build()) == "no_connection"
    st = b.stats()
    assert st.dropped("bad_checksum") == 1 and st.dropped_total() == 3
    assert st._asdict()["drops"]["no_connection"] == 1
    assert set(sanstcp.DROP_REASONS) == {name for name, _ in st.drops}
    with pytest.raises(ValueError):
        st.dropped("nonsense")
    rst = pk.parse(b.poll_transmit(0.0))  # the RST for the SYN to a closed port
    assert rst.flags == pk.RST | pk.ACK and rst.ack == 1


def test_exceptions_match_builtins(pair) -> None:
    a, b = pair
    client = a.connect(0.0, ("10.0.0.2", 81))  # nobody listens: RST
    exchange(a, b, 0.0)
    assert a.events() == [sanstcp.Closed(client, "refused")]
    with pytest.raises(ConnectionRefusedError) as e:
        a.recv(client)
    assert isinstance(e.value, sanstcp.TcpError) and e.value.errno == errno.ECONNREFUSED
    with pytest.raises(sanstcp.InvalidConnection):
        a.send(sanstcp.ConnId(0xDEAD), b"x")
    with pytest.raises(sanstcp.AddressInUse):
        b.listen(("10.0.0.2", 80)), b.listen(("10.0.0.2", 80))
    with pytest.raises(sanstcp.AddressNotAvailable):
        b.listen(("10.9.9.9", 80))
    with pytest.raises(sanstcp.InvalidArgument):
        a.connect(0.0, ("10.0.0.2", 0))
    with pytest.raises(ValueError):
        a.handle_timeout(-1.0)


def test_reset_and_broken_pipe(pair) -> None:
    a, b = pair
    client, server, _ = established(a, b)
    a.shutdown(client)
    with pytest.raises(BrokenPipeError) as e:
        a.send(client, b"x")
    assert isinstance(e.value, sanstcp.BrokenPipe)
    b.abort(server)
    exchange(a, b, 0.01)
    assert sanstcp.Closed(client, "reset") in a.events()
    with pytest.raises(ConnectionResetError):
        a.recv(client)
    assert sanstcp.error_for_reason("timed_out").__class__ is sanstcp.ConnectionTimedOut
    assert issubclass(sanstcp.ConnectionTimedOut, TimeoutError)


def test_timeout_after_retries() -> None:
    a = sanstcp.Stack(secret=b"a" * 16, seed=1, addresses=["10.0.0.1"], syn_retries=1)
    c = a.connect(0.0, ("10.0.0.2", 80))
    now = 0.0
    assert a.poll_transmit(now) is not None
    while (t := a.poll_timeout()) is not None and now < 100:
        now = t
        a.handle_timeout(now)
        a.packets_to_send(now)
    assert a.events() == [sanstcp.Closed(c, "timed_out")]
    with pytest.raises(TimeoutError):
        a.recv(c)


def test_events_are_frozen_and_match() -> None:
    ev = sanstcp.Closed(sanstcp.ConnId(5), "reset")
    with pytest.raises(AttributeError):
        ev.reason = "normal"  # type: ignore[misc]
    assert ev == sanstcp.Closed(sanstcp.ConnId(5), "reset") and hash(ev) == hash(sanstcp.Closed(sanstcp.ConnId(5), "reset"))
    assert repr(ev) == 'Closed(conn=ConnId(0x5), reason="reset")'
    assert sanstcp.Closed.__match_args__ == ("conn", "reason")
    assert sanstcp.ConnId(1) < sanstcp.ConnId(2) and sanstcp.ConnId(3).raw == 3


def test_info_and_stats(pair) -> None:
    a, b = pair
    client, server, _ = established(a, b)
    info = a.info(client)
    assert info is not None
    d = info._asdict()
    assert list(d) == sanstcp.ConnInfo._fields
    assert d["state"] == "ESTABLISHED" and d["remote"] == ("10.0.0.2", 80)
    assert info.mss == 1460 and info.timestamps and info.sack and info.snd_wscale is not None
    assert info.congestion == "newreno" and info.ssthresh == 0xFFFFFFFF and info.rto > 0
    assert "ConnInfo(state='ESTABLISHED'" in repr(info)
    assert a.stats().active_opens == 1 and b.stats().passive_opens == 1
    with pytest.raises(dataclasses.FrozenInstanceError if False else AttributeError):
        info.cwnd = 1  # type: ignore[misc]


def test_state_changes_reported() -> None:
    a, b = make_pair(report_state_changes=True)
    client, _, _ = established(a, b)
    changes = [e for e in a.events() if isinstance(e, sanstcp.StateChanged)]
    assert [(e.old, e.new) for e in changes] == [("CLOSED", "SYN-SENT"), ("SYN-SENT", "ESTABLISHED")]


def test_determinism() -> None:
    def run() -> list:
        a, b = make_pair()
        listener = b.listen(("10.0.0.2", 80))
        c = a.connect(0.5, ("10.0.0.2", 80))
        out = exchange(a, b, 0.5)
        s = b.accept(listener)
        a.send(c, b"x" * 5000)
        out += exchange(a, b, 0.6)
        b.recv(s)
        return out

    assert run() == run()


def test_ipv6_and_link_interface() -> None:
    a = sanstcp.Stack(secret=b"a" * 16, seed=1, addresses=["fd00::1"])
    b = sanstcp.Stack(secret=b"b" * 16, seed=2, addresses=["fd00::2"])
    ia = sanstcp.Interface("02:00:00:00:00:01")
    ib = sanstcp.Interface(bytes([2, 0, 0, 0, 0, 2]))
    assert ia.mac == "02:00:00:00:00:01"
    listener = b.listen(("::", 80))
    c = a.connect(0.0, ("fd00::2", 80))
    now = 0.0
    for _ in range(20):
        for f in ia.frames_to_send(now, a):
            ib.handle_frame(now, b, f)
        for f in ib.frames_to_send(now, b):
            ia.handle_frame(now, a, f)
    s = b.accept(listener)
    assert s is not None and a.info(c).state == "ESTABLISHED"
    assert ia.stats()["neighbor_solicits_out"] >= 1
    with pytest.raises(sanstcp.InvalidArgument):
        sanstcp.Interface("02:00")


def test_usable_from_another_thread(pair) -> None:
    import threading

    a, b = pair
    results = []
    t = threading.Thread(target=lambda: results.append(a.connect(0.0, ("10.0.0.2", 80))))
    t.start()
    t.join()
    assert len(results) == 1 and a.info(results[0]).state == "SYN-SENT"
