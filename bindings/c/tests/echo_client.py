#!/usr/bin/env python3
"""Echo client for the tap_echo test: connects to HOST PORT, sends BYTES pseudo-random bytes
while reading the echo, half-closes, reads until end of stream, and checks that the echo is
byte-exact. Prints one result line; exit status 0 on success, 1 otherwise."""

import random
import socket
import sys
import threading
import time


def main() -> int:
    host, port, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 30.0
    data = random.Random(7).randbytes(total)
    start = time.monotonic()
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.settimeout(timeout)
    errors = []

    def writer() -> None:
        try:
            view = memoryview(data)
            for off in range(0, total, 16384):
                sock.sendall(view[off:off + 16384])
            sock.shutdown(socket.SHUT_WR)
        except OSError as e:  # reported by the reader's check
            errors.append(f"send: {e}")

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    received = bytearray()
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    except OSError as e:
        errors.append(f"recv after {len(received)} bytes: {e}")
    thread.join(timeout)
    sock.close()
    elapsed = time.monotonic() - start
    if errors or bytes(received) != data:
        first = next((i for i, (a, b) in enumerate(zip(received, data)) if a != b), None)
        print(f"echo_client: FAILED: sent {total}, got {len(received)} bytes back"
              f"{'' if first is None else f', first difference at {first}'}; {'; '.join(errors)}")
        return 1
    rate = total / elapsed / 1e6 if elapsed > 0 else 0.0
    print(f"echo_client: OK: {total} bytes echoed byte-exact in {elapsed:.2f} s ({rate:.1f} MB/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
