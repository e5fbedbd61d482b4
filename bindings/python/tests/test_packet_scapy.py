"""sanstcp.packet against scapy, both ways, for IPv4 and IPv6 segments with options."""

from __future__ import annotations

import pytest

from sanstcp import packet as pk

scapy_all = pytest.importorskip("scapy.all")
IP, IPv6, TCP, Raw = scapy_all.IP, scapy_all.IPv6, scapy_all.TCP, scapy_all.Raw

CASES = [
    ("192.0.2.1", "192.168.0.1"),
    ("2001:db8::1", "fd00::1"),
]

OPTIONS = [
    ("mss", 1460),
    ("sackOK", None),
    ("ts", (123456789, 987654321)),
    ("nop", None),
    ("wscale", 7),
]


def scapy_options(opts):
    out = []
    for name, value in opts:
        out.append(
            {
                "mss": lambda v: ("MSS", v),
                "sackOK": lambda v: ("SAckOK", b""),
                "ts": lambda v: ("Timestamp", v),
                "nop": lambda v: ("NOP", None),
                "wscale": lambda v: ("WScale", v),
                "sack": lambda v: ("SAck", tuple(x for block in v for x in block)),
            }[name](value)
        )
    return out


@pytest.mark.parametrize("src,dst", CASES)
@pytest.mark.parametrize(
    "opts",
    [OPTIONS, [("nop", None), ("nop", None), ("sack", [(1000, 2000), (3000, 4000)])], []],
    ids=["syn-options", "sack-blocks", "none"],
)
def test_ours_parsed_by_scapy(src: str, dst: str, opts) -> None:
    seg = pk.Segment(
        src=src, dst=dst, sport=40000, dport=80, seq=0xFFFFFF00, ack=77, flags=pk.SYN | pk.ACK | pk.ECE,
        window=29200, options=opts, payload=b"payload!", ttl=33, ecn=pk.ECT0,
    )
    raw = seg.build()
    p = (IP if ":" not in src else IPv6)(raw)
    t = p[TCP]
    assert (p.src, p.dst) == (src, dst)
    assert (t.sport, t.dport, t.seq, t.ack, t.window) == (40000, 80, 0xFFFFFF00, 77, 29200)
    assert str(t.flags) == "SAE"
    assert bytes(t.payload) == b"payload!"
    if ":" in src:
        assert p.hlim == 33 and p.tc & 3 == pk.ECT0
    else:
        assert p.ttl == 33 and p.tos & 3 == pk.ECT0
        again = p.copy()
        del again[IP].chksum  # scapy recomputes the header checksum: it must equal ours
        assert IP(bytes(again)).chksum == p.chksum
    want = scapy_options(opts)
    got = [(k, v) for k, v in t.options if k != "EOL"]
    norm = lambda o: [(k, tuple(v) if isinstance(v, (tuple, list)) else v) for k, v in o]  # noqa: E731
    assert norm(got) == norm(want)
    # The checksum scapy computes from scratch equals ours.
    fresh = p.copy()
    del fresh[TCP].chksum
    assert (IP if ":" not in src else IPv6)(bytes(fresh))[TCP].chksum == t.chksum


@pytest.mark.parametrize("src,dst", CASES)
def test_scapy_parsed_by_ours(src: str, dst: str) -> None:
    layer = IP(src=src, dst=dst, ttl=17, tos=pk.CE) if ":" not in src else IPv6(src=src, dst=dst, hlim=17, tc=pk.CE)
    pkt = layer / TCP(
        sport=1234, dport=8080, seq=42, ack=4242, flags="PA", window=512,
        options=[("NOP", None), ("NOP", None), ("Timestamp", (5, 6)), ("SAck", (100, 200))],
    ) / Raw(b"x" * 300)
    seg = pk.parse(bytes(pkt))
    assert seg.checksum_ok is True
    assert (seg.src, seg.dst, seg.sport, seg.dport) == (src, dst, 1234, 8080)
    assert (seg.seq, seg.ack, seg.flags, seg.window) == (42, 4242, pk.PSH | pk.ACK, 512)
    assert (seg.ttl, seg.ecn) == (17, pk.CE)
    assert seg.options[:4] == [("nop", None), ("nop", None), ("ts", (5, 6)), ("sack", [(100, 200)])]
    assert seg.payload == b"x" * 300
    corrupted = bytearray(bytes(pkt))
    corrupted[-1] ^= 0xFF
    assert pk.parse(corrupted).checksum_ok is False


def test_scapy_syn_accepted_by_stack() -> None:
    import sanstcp

    s = sanstcp.Stack(secret=b"k" * 16, seed=3, addresses=["192.168.0.1"])
    s.listen(("192.168.0.1", 80))
    syn = IP(src="192.0.2.1", dst="192.168.0.1") / TCP(
        sport=5555, dport=80, flags="S", seq=1000, options=[("MSS", 1200), ("SAckOK", b""), ("WScale", 2)]
    )
    assert s.handle_packet(0.0, bytes(syn)) is None
    reply = IP(s.poll_transmit(0.0))
    assert reply[TCP].flags == "SA" and reply[TCP].ack == 1001
    assert dict((k, v) for k, v in reply[TCP].options if k in ("MSS", "WScale"))["MSS"] == 1460
    ours = pk.parse(bytes(reply))
    assert ours.option("mss") == 1460 and ours.option("sackOK") is True and ours.checksum_ok


def test_option_helpers() -> None:
    assert pk.flags_to_str(pk.SYN | pk.ACK) == "S." and pk.flags_from_str("FP.") == pk.FIN | pk.PSH | pk.ACK
    assert pk.decode_options(pk.encode_options(OPTIONS)) == OPTIONS
    with pytest.raises(ValueError):
        pk.encode_options([("sack", [(1, 2)] * 5)])
    with pytest.raises(pk.PacketError):
        pk.parse(b"\x45\x00")
    assert "S. seq 1 ack 2" in pk.Segment("1.1.1.1", "2.2.2.2", 1, 2, seq=1, ack=2, flags=pk.SYN | pk.ACK).describe()
