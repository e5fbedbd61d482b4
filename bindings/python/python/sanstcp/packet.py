"""Build and parse IPv4/IPv6 + TCP packets, in pure Python.

:class:`Segment` describes one TCP segment with its IP header fields; :meth:`Segment.build`
serializes it (checksums filled in) and :func:`parse` reads one back. TCP options are a list
of ``(name, value)`` tuples, in wire order:

======================  ==============================================
``("mss", 1460)``       maximum segment size (kind 2)
``("wscale", 7)``       window scale (kind 3)
``("sackOK", None)``    SACK permitted (kind 4)
``("sack", [(l, r)])``  SACK blocks, left and right edges (kind 5)
``("ts", (val, ecr))``  timestamps (kind 8)
``("nop", None)``       no-operation (kind 1)
``("eol", None)``       end of option list (kind 0)
``(kind, b"...")``      any other option, raw
======================  ==============================================

The builder writes the options as given and pads the header to a multiple of four bytes with
zeros (EOL), so a caller that wants a specific layout (``nop,nop,ts``) gets exactly that.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple, Union

FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10
URG = 0x20
ECE = 0x40
CWR = 0x80

#: ECN codepoints of the IP header (RFC 3168 §5).
NOT_ECT, ECT1, ECT0, CE = 0, 1, 2, 3

PROTO_TCP = 6

#: One TCP option: ``(name, value)``, see the module documentation.
Option = Tuple[Union[str, int], Any]

__all__ = [
    "ACK",
    "CE",
    "CWR",
    "ECE",
    "ECT0",
    "ECT1",
    "FIN",
    "NOT_ECT",
    "PSH",
    "RST",
    "SYN",
    "URG",
    "Option",
    "PacketError",
    "Segment",
    "checksum",
    "decode_options",
    "encode_options",
    "flags_from_str",
    "flags_to_str",
    "parse",
]


class PacketError(ValueError):
    """A packet that does not parse as IPv4/IPv6 + TCP."""


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int((~total) & 0xFFFF)


def encode_options(options: List[Option]) -> bytes:
    """Serializes TCP options and pads them to a multiple of four bytes."""
    out = bytearray()
    for name, value in options:
        if name == "eol":
            out.append(0)
        elif name == "nop":
            out.append(1)
        elif name == "mss":
            out += struct.pack("!BBH", 2, 4, value)
        elif name == "wscale":
            out += struct.pack("!BBB", 3, 3, value)
        elif name == "sackOK":
            out += b"\x04\x02"
        elif name == "sack":
            out += struct.pack("!BB", 5, 2 + 8 * len(value))
            for left, right in value:
                out += struct.pack("!II", left & 0xFFFFFFFF, right & 0xFFFFFFFF)
        elif name == "ts":
            val, ecr = value
            out += struct.pack("!BBII", 8, 10, val & 0xFFFFFFFF, ecr & 0xFFFFFFFF)
        elif isinstance(name, int):
            raw = bytes(value)
            out += struct.pack("!BB", name, 2 + len(raw)) + raw
        else:
            raise ValueError(f"unknown TCP option {name!r}")
    while len(out) % 4:
        out.append(0)
    if len(out) > 40:
        raise ValueError(f"TCP options take {len(out)} bytes, more than 40")
    return bytes(out)


def decode_options(data: bytes) -> List[Option]:
    """Parses TCP options; trailing padding after an EOL is dropped."""
    opts: List[Option] = []
    i = 0
    while i < len(data):
        kind = data[i]
        if kind == 0:
            opts.append(("eol", None))
            break
        if kind == 1:
            opts.append(("nop", None))
            i += 1
            continue
        if i + 1 >= len(data):
            raise PacketError("truncated TCP option")
        length = data[i + 1]
        if length < 2 or i + length > len(data):
            raise PacketError(f"bad length {length} of TCP option {kind}")
        body = data[i + 2 : i + length]
        if kind == 2 and length == 4:
            opts.append(("mss", struct.unpack("!H", body)[0]))
        elif kind == 3 and length == 3:
            opts.append(("wscale", body[0]))
        elif kind == 4 and length == 2:
            opts.append(("sackOK", None))
        elif kind == 5 and (length - 2) % 8 == 0:
            blocks = [struct.unpack("!II", body[j : j + 8]) for j in range(0, len(body), 8)]
            opts.append(("sack", [(int(a), int(b)) for a, b in blocks]))
        elif kind == 8 and length == 10:
            val, ecr = struct.unpack("!II", body)
            opts.append(("ts", (val, ecr)))
        else:
            opts.append((kind, bytes(body)))
        i += length
    return opts


_FLAG_LETTERS = [(SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P"), (URG, "U"), (ECE, "E"), (CWR, "W")]


def flags_to_str(flags: int) -> str:
    """Flags in packetdrill notation: ``S``, ``S.``, ``P.``, ``F.``, ``R``, ``.`` (ACK alone)."""
    s = "".join(letter for bit, letter in _FLAG_LETTERS if flags & bit)
    if flags & ACK:
        s += "."
    return s or "-"


def flags_from_str(text: str) -> int:
    """Parses packetdrill flags (``S``, ``S.``, ``P.``, ``FEW.``, ...)."""
    flags = 0
    for ch in text:
        if ch == ".":
            flags |= ACK
        elif ch == "-":
            continue
        else:
            for bit, letter in _FLAG_LETTERS:
                if letter == ch:
                    flags |= bit
                    break
            else:
                raise ValueError(f"unknown TCP flag {ch!r} in {text!r}")
    return flags


@dataclass
class Segment:
    """One TCP segment and the IP header fields around it."""

    src: str
    dst: str
    sport: int
    dport: int
    seq: int = 0
    ack: int = 0
    flags: int = 0
    window: int = 65535
    options: List[Option] = field(default_factory=list)
    payload: bytes = b""
    urgent: int = 0
    #: IPv4 TTL / IPv6 hop limit.
    ttl: int = 64
    #: The IP ECN field (``NOT_ECT``, ``ECT0``, ``ECT1``, ``CE``).
    ecn: int = NOT_ECT
    #: IPv4 identification field.
    ip_id: int = 0
    #: Set by :func:`parse`: whether the TCP checksum was right.
    checksum_ok: Optional[bool] = None

    @property
    def version(self) -> int:
        """4 or 6, from the source address."""
        return ipaddress.ip_address(self.src).version

    def option(self, name: Union[str, int]) -> Any:
        """The value of the first option called ``name``, or ``None``."""
        for n, v in self.options:
            if n == name:
                return v if v is not None else True
        return None

    def build(self, *, bad_checksum: bool = False) -> bytes:
        """The whole IP packet; ``bad_checksum=True`` corrupts the TCP checksum on purpose."""
        src = ipaddress.ip_address(self.src)
        dst = ipaddress.ip_address(self.dst)
        if src.version != dst.version:
            raise ValueError("source and destination are of different IP versions")
        opts = encode_options(self.options)
        offset = (20 + len(opts)) // 4
        header = struct.pack(
            "!HHIIBBHHH",
            self.sport,
            self.dport,
            self.seq & 0xFFFFFFFF,
            self.ack & 0xFFFFFFFF,
            offset << 4,
            self.flags & 0xFF,
            self.window & 0xFFFF,
            0,
            self.urgent,
        )
        tcp = bytearray(header + opts + bytes(self.payload))
        if src.version == 4:
            pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, PROTO_TCP, len(tcp))
        else:
            pseudo = src.packed + dst.packed + struct.pack("!I3xB", len(tcp), PROTO_TCP)
        csum = checksum(pseudo + bytes(tcp))
        if bad_checksum:
            csum ^= 0x5A5A
        struct.pack_into("!H", tcp, 16, csum)
        if src.version == 4:
            ip = bytearray(
                struct.pack(
                    "!BBHHHBBH4s4s",
                    0x45,
                    self.ecn & 3,
                    20 + len(tcp),
                    self.ip_id & 0xFFFF,
                    0x4000,
                    self.ttl,
                    PROTO_TCP,
                    0,
                    src.packed,
                    dst.packed,
                )
            )
            struct.pack_into("!H", ip, 10, checksum(bytes(ip)))
        else:
            first = (6 << 28) | ((self.ecn & 3) << 20)
            ip = bytearray(
                struct.pack("!IHBB16s16s", first, len(tcp), PROTO_TCP, self.ttl, src.packed, dst.packed)
            )
        return bytes(ip) + bytes(tcp)

    def describe(self) -> str:
        """A one-line tcpdump-like summary."""
        opts = ",".join(_option_text(n, v) for n, v in self.options)
        return (
            f"{self.src}:{self.sport} > {self.dst}:{self.dport} {flags_to_str(self.flags)} "
            f"seq {self.seq} ack {self.ack} win {self.window} len {len(self.payload)}"
            + (f" <{opts}>" if opts else "")
        )


def _option_text(name: Union[str, int], value: Any) -> str:
    if name == "ts":
        return f"TS val {value[0]} ecr {value[1]}"
    if name == "sack":
        return "sack " + " ".join(f"{a}:{b}" for a, b in value)
    if value is None:
        return str(name)
    if isinstance(name, int):
        return f"opt{name} {bytes(value).hex()}"
    return f"{name} {value}"


def parse(data: Union[bytes, bytearray, memoryview]) -> Segment:
    """Parses an IPv4 or IPv6 packet carrying TCP; raises :class:`PacketError` otherwise."""
    data = bytes(data)
    if not data:
        raise PacketError("empty packet")
    version = data[0] >> 4
    if version == 4:
        if len(data) < 20:
            raise PacketError("truncated IPv4 header")
        ihl = (data[0] & 0x0F) * 4
        tos, total, ip_id, _frag, ttl, proto = struct.unpack("!BHHHBB", data[1:10])
        if ihl < 20 or total < ihl or total > len(data):
            raise PacketError("bad IPv4 lengths")
        src = str(ipaddress.IPv4Address(data[12:16]))
        dst = str(ipaddress.IPv4Address(data[16:20]))
        body = data[ihl:total]
        pseudo = data[12:20] + struct.pack("!BBH", 0, PROTO_TCP, len(body))
        ecn = tos & 3
    elif version == 6:
        if len(data) < 40:
            raise PacketError("truncated IPv6 header")
        first, plen, proto, ttl = struct.unpack("!IHBB", data[:8])
        if 40 + plen > len(data):
            raise PacketError("bad IPv6 payload length")
        src = str(ipaddress.IPv6Address(data[8:24]))
        dst = str(ipaddress.IPv6Address(data[24:40]))
        body = data[40 : 40 + plen]
        pseudo = data[8:40] + struct.pack("!I3xB", len(body), PROTO_TCP)
        ecn = (first >> 20) & 3
        ip_id = 0
    else:
        raise PacketError(f"IP version {version}")
    if proto != PROTO_TCP:
        raise PacketError(f"IP protocol {proto}, not TCP")
    if len(body) < 20:
        raise PacketError("truncated TCP header")
    sport, dport, seq, ack, off, flags, window, _csum, urgent = struct.unpack("!HHIIBBHHH", body[:20])
    doff = (off >> 4) * 4
    if doff < 20 or doff > len(body):
        raise PacketError("bad TCP data offset")
    return Segment(
        src=src,
        dst=dst,
        sport=sport,
        dport=dport,
        seq=seq,
        ack=ack,
        flags=flags,
        window=window,
        options=decode_options(body[20:doff]),
        payload=body[doff:],
        urgent=urgent,
        ttl=ttl,
        ecn=ecn,
        ip_id=ip_id,
        checksum_ok=checksum(pseudo + body) == 0,
    )
