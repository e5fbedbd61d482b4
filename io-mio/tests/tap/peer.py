#!/usr/bin/env python3
"""The Linux kernel's side of the TAP interop tests: plain Python sockets.

Every mode prints one JSON line on stdout and exits 0 when the transfer completed
byte-exact, 1 otherwise. Every socket operation has a timeout, and the whole run is
bounded by --deadline seconds (SIGALRM).

  send HOST PORT BYTES          send BYTES random bytes, half-close, wait for EOF
  recv HOST PORT BYTES          receive until EOF; check the RFC 864 chargen pattern
  echo HOST PORT BYTES [CONNS]  CONNS connections at once, each sends BYTES random bytes
                                while reading the echo; checks it is the same
  serve-echo PORT               accept one connection (IPv4 or IPv6), echo until EOF,
                                half-close, report
  serve-close PORT HOW BYTES    accept one connection and end it HOW:
                                  linux-first: send BYTES random bytes and half-close at
                                    once, then read until EOF (the kernel's FIN goes first)
                                  stack-first: read until EOF, then send BYTES random bytes
                                    and half-close (the peer's FIN goes first)
                                  rst-reading: read BYTES bytes, then reset (SO_LINGER 0 and
                                    close) while the peer is still sending
                                  rst-writing: send BYTES random bytes, then reset while
                                    the peer is still receiving
  blast HOST PORT BYTES         (benchmark) send BYTES bytes as fast as possible, half-close,
                                wait for EOF; no checks
  sink HOST PORT                (benchmark) half-close, count bytes until EOF; no checks
  serve-sink PORT               (benchmark) accept one connection, count bytes until EOF
  serve-blast PORT BYTES        (benchmark) accept one connection, send BYTES bytes,
                                half-close, wait for EOF
"""

import argparse
import hashlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

CHUNK = 256 * 1024


def chargen(n):
    """The first n bytes of the RFC 864 character generator stream."""
    period = bytearray()
    for line in range(95):
        for col in range(72):
            period.append(32 + (line + col) % 95)
        period += b"\r\n"
    reps = n // len(period) + 1
    return (bytes(period) * reps)[:n]


def connect(host, port, timeout):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def recv_all(s, sink=None):
    """Reads until EOF; returns (count, sha256 hex) and appends to sink if given."""
    h = hashlib.sha256()
    n = 0
    while True:
        b = s.recv(CHUNK)
        if not b:
            return n, h.hexdigest()
        h.update(b)
        n += len(b)
        if sink is not None:
            sink.append(b)


def send_all(s, data):
    view = memoryview(data)
    for i in range(0, len(view), CHUNK):
        s.sendall(view[i:i + CHUNK])


def mode_send(a):
    data = os.urandom(a.bytes)
    t0 = time.monotonic()
    s = connect(a.host, a.port, a.timeout)
    send_all(s, data)
    s.shutdown(socket.SHUT_WR)
    extra, _ = recv_all(s)
    secs = time.monotonic() - t0
    s.close()
    return {"ok": True, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "secs": secs, "extra": extra}


def mode_recv(a):
    t0 = time.monotonic()
    s = connect(a.host, a.port, a.timeout)
    s.shutdown(socket.SHUT_WR)
    parts = []
    n, digest = recv_all(s, parts)
    secs = time.monotonic() - t0
    s.close()
    got = b"".join(parts)
    ok = n == a.bytes and got == chargen(a.bytes)
    return {"ok": ok, "bytes": n, "sha256": digest, "secs": secs}


def mode_echo(a):
    results = [None] * a.conns
    data = os.urandom(a.bytes)

    def one(i):
        try:
            s = connect(a.host, a.port, a.timeout)
            parts = []
            reader = threading.Thread(target=lambda: parts.append(recv_all(s, parts)))
            reader.start()
            send_all(s, data)
            s.shutdown(socket.SHUT_WR)
            reader.join(a.deadline)
            s.close()
            got = b"".join(p for p in parts if isinstance(p, bytes))
            results[i] = got == data
            if not results[i]:
                print(f"conn {i}: echoed {len(got)} of {len(data)} bytes, equal prefix: "
                      f"{got == data[:len(got)]}", file=sys.stderr)
        except Exception as e:  # reported through results
            print(f"conn {i}: {e!r}", file=sys.stderr)
            results[i] = False

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(a.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(a.deadline)
    secs = time.monotonic() - t0
    ok = all(r is True for r in results)
    return {"ok": ok, "bytes": len(data), "conns": a.conns, "secs": secs,
            "sha256": hashlib.sha256(data).hexdigest(), "passed": sum(r is True for r in results)}


def mode_serve_echo(a):
    srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    srv.bind(("::", a.port))
    srv.listen(1)
    srv.settimeout(a.timeout)
    print(json.dumps({"listening": a.port}), flush=True)
    c, peer = srv.accept()
    c.settimeout(a.timeout)
    h = hashlib.sha256()
    n = 0
    while True:
        b = c.recv(CHUNK)
        if not b:
            break
        h.update(b)
        n += len(b)
        c.sendall(b)
    c.shutdown(socket.SHUT_WR)
    c.close()
    srv.close()
    return {"ok": True, "bytes": n, "sha256": h.hexdigest(), "peer": peer[0]}


def listen(port, timeout):
    srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    srv.bind(("::", port))
    srv.listen(1)
    srv.settimeout(timeout)
    print(json.dumps({"listening": port}), flush=True)
    return srv


def reset(s):
    """Closes with SO_LINGER {on, 0}: the kernel sends a RST instead of a FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def mode_serve_close(a):
    srv = listen(a.port, a.timeout)
    c, peer = srv.accept()
    c.settimeout(a.timeout)
    data = os.urandom(a.bytes)
    out = {"ok": True, "how": a.how, "peer": peer[0],
           "sent_sha256": hashlib.sha256(data).hexdigest()}
    if a.how == "linux-first":
        send_all(c, data)
        c.shutdown(socket.SHUT_WR)
        out["received"], out["sha256"] = recv_all(c)
        c.close()
    elif a.how == "stack-first":
        out["received"], out["sha256"] = recv_all(c)
        send_all(c, data)
        c.shutdown(socket.SHUT_WR)
        c.close()
    elif a.how == "rst-reading":
        n = 0
        while n < a.bytes:
            b = c.recv(min(CHUNK, a.bytes - n))
            if not b:
                out["ok"] = False
                out["error"] = f"EOF after {n} bytes, before the reset"
                break
            n += len(b)
        out["received"] = n
        reset(c)
    elif a.how == "rst-writing":
        send_all(c, data)
        reset(c)
    srv.close()
    return out


def mode_blast(a):
    buf = memoryview(bytes(range(256)) * (CHUNK * 4 // 256))
    t0 = time.monotonic()
    s = connect(a.host, a.port, a.timeout)
    left = a.bytes
    while left > 0:
        k = min(left, len(buf))
        s.sendall(buf[:k])
        left -= k
    s.shutdown(socket.SHUT_WR)
    extra = 0
    while True:
        b = s.recv(CHUNK)
        if not b:
            break
        extra += len(b)
    secs = time.monotonic() - t0
    s.close()
    return {"ok": True, "bytes": a.bytes, "secs": secs, "extra": extra}


def count_until_eof(s):
    buf = bytearray(CHUNK * 4)
    n = 0
    while True:
        k = s.recv_into(buf)
        if k == 0:
            return n
        n += k


def mode_sink(a):
    t0 = time.monotonic()
    s = connect(a.host, a.port, a.timeout)
    s.shutdown(socket.SHUT_WR)
    n = count_until_eof(s)
    secs = time.monotonic() - t0
    s.close()
    return {"ok": True, "bytes": n, "secs": secs}


def mode_serve_sink(a):
    srv = listen(a.port, a.timeout)
    c, _ = srv.accept()
    c.settimeout(a.timeout)
    n = count_until_eof(c)
    c.close()
    srv.close()
    return {"ok": True, "bytes": n}


def mode_serve_blast(a):
    srv = listen(a.port, a.timeout)
    c, _ = srv.accept()
    c.settimeout(a.timeout)
    buf = memoryview(bytes(range(256)) * (CHUNK * 4 // 256))
    left = a.bytes
    while left > 0:
        k = min(left, len(buf))
        c.sendall(buf[:k])
        left -= k
    c.shutdown(socket.SHUT_WR)
    count_until_eof(c)
    c.close()
    srv.close()
    return {"ok": True, "bytes": a.bytes}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--deadline", type=float, default=120.0)
    p.add_argument("--timeout", type=float, default=30.0)
    sub = p.add_subparsers(dest="mode", required=True)
    for name in ("send", "recv", "echo"):
        q = sub.add_parser(name)
        q.add_argument("host")
        q.add_argument("port", type=int)
        q.add_argument("bytes", type=int)
        if name == "echo":
            q.add_argument("conns", type=int, nargs="?", default=1)
    q = sub.add_parser("serve-echo")
    q.add_argument("port", type=int)
    q = sub.add_parser("serve-close")
    q.add_argument("port", type=int)
    q.add_argument("how", choices=["linux-first", "stack-first", "rst-reading", "rst-writing"])
    q.add_argument("bytes", type=int)
    q = sub.add_parser("blast")
    q.add_argument("host")
    q.add_argument("port", type=int)
    q.add_argument("bytes", type=int)
    q = sub.add_parser("sink")
    q.add_argument("host")
    q.add_argument("port", type=int)
    q = sub.add_parser("serve-sink")
    q.add_argument("port", type=int)
    q = sub.add_parser("serve-blast")
    q.add_argument("port", type=int)
    q.add_argument("bytes", type=int)
    a = p.parse_args()

    def on_alarm(*_):
        print(json.dumps({"ok": False, "error": f"deadline of {a.deadline} s passed"}), flush=True)
        os._exit(1)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(max(1, int(a.deadline)))
    mode = {"send": mode_send, "recv": mode_recv, "echo": mode_echo,
            "serve-echo": mode_serve_echo, "serve-close": mode_serve_close,
            "blast": mode_blast, "sink": mode_sink, "serve-sink": mode_serve_sink,
            "serve-blast": mode_serve_blast}[a.mode]
    try:
        result = mode(a)
    except Exception as e:
        result = {"ok": False, "error": repr(e)}
    print(json.dumps(result), flush=True)
    sys.exit(0 if result.get("ok") else 1)


if __name__ == "__main__":
    main()
