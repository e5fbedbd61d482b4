"""sanstcp on a TAP device against Linux's TCP and `nc` (netcat-openbsd), with asyncio.

Run as root: ``python examples/tap_nc.py``. It creates a network namespace with a TAP device
(the kernel side is 10.213.0.1/24, the sanstcp stack is 10.213.0.2 behind its own Ethernet +
ARP shell), reruns itself inside the namespace and there

1. connects to ``nc -l`` (Linux TCP) and exchanges a message each way, with a half-close;
2. listens, and lets ``nc`` connect to it and send a message.

The namespace is deleted at the end, whatever happens. Without root (or without ``ip netns``)
it exits with status 77 ("skipped"), or 1 when the environment variable CI is set.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile

KERNEL_IP, STACK_IP, PREFIX = "10.213.0.1", "10.213.0.2", 24
TAP, NC_PORT, STACK_PORT = "stcp0", 7777, 8080
SKIP = 77


def unavailable(reason: str) -> int:
    """Skip (77), or fail under CI."""
    print(f"tap_nc: {reason}", file=sys.stderr)
    return 1 if os.environ.get("CI") else SKIP


def outside() -> int:
    """Creates the namespace and the TAP device, runs the inside part, cleans up."""
    if os.geteuid() != 0:
        return unavailable("needs root (network namespaces and /dev/net/tun)")
    if not shutil.which("ip") or not os.path.exists("/dev/net/tun"):
        return unavailable("needs iproute2 and /dev/net/tun")
    if not shutil.which("nc"):
        return unavailable("needs nc (netcat-openbsd)")
    ns = f"stcp-py-{os.getpid()}"
    try:
        subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        return unavailable(f"cannot create a network namespace: {e}")
    try:
        for cmd in (
            f"ip tuntap add dev {TAP} mode tap",
            f"ip addr add {KERNEL_IP}/{PREFIX} dev {TAP}",
            f"ip link set {TAP} up",
            "ip link set lo up",
        ):
            subprocess.run(["ip", "netns", "exec", ns, *cmd.split()], check=True, timeout=10)
        r = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__), "--inside"],
            timeout=90,
        )
        return r.returncode
    finally:
        subprocess.run(["ip", "netns", "pids", ns], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", ns], timeout=10)


async def inside() -> int:
    """Runs in the namespace: the stack on the TAP device against nc."""
    from sanstcp import Interface, Stack
    from sanstcp.aio import Driver, TapLink, open_connection, start_server
    from sanstcp.tap import open_tap

    fd = open_tap(TAP)
    iface = Interface("02:00:00:00:21:02", prefixes=[(KERNEL_IP, PREFIX)])
    stack = Stack(secret=os.urandom(16), seed=int.from_bytes(os.urandom(8), "little"), addresses=[STACK_IP])
    driver = Driver(stack, TapLink(fd, iface))
    tmp = tempfile.mkdtemp()
    try:
        # 1. sanstcp connects to nc -l; nc sends its stdin, then FIN (-N); we send, then FIN.
        reply = b"hello from linux\n" * 100
        with open(os.path.join(tmp, "reply"), "wb") as f:
            f.write(reply)
        got_path = os.path.join(tmp, "got")
        with open(os.path.join(tmp, "reply"), "rb") as stdin, open(got_path, "wb") as stdout:
            nc = subprocess.Popen(["nc", "-N", "-l", KERNEL_IP, str(NC_PORT)], stdin=stdin, stdout=stdout)
        try:
            for _ in range(50):  # wait until nc listens
                if f":{NC_PORT:04X}" in open("/proc/net/tcp").read():
                    break
                await asyncio.sleep(0.05)
            reader, writer = await asyncio.wait_for(open_connection(driver, KERNEL_IP, NC_PORT), 10)
            message = b"hello from sanstcp\n" * 500
            writer.write(message)
            await writer.drain()
            writer.write_eof()
            received = await asyncio.wait_for(reader.read(-1), 20)
            writer.close()
            await asyncio.get_running_loop().run_in_executor(None, nc.wait, 20)
        finally:
            if nc.poll() is None:
                nc.kill()
        with open(got_path, "rb") as f:
            nc_got = f.read()
        assert received == reply, f"received {len(received)} bytes from nc, expected {len(reply)}"
        assert nc_got == message, f"nc received {len(nc_got)} bytes, expected {len(message)}"
        print(f"client: sent {len(message)} bytes to nc, received {len(received)} back")

        # 2. nc connects to a sanstcp listener and sends a message.
        done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        async def serve(r: asyncio.StreamReader, w: object) -> None:
            data = await r.read(-1)
            w.close()  # type: ignore[attr-defined]
            done.set_result(data)

        server = await start_server(driver, serve, STACK_IP, STACK_PORT)
        text = b"hello from nc\n" * 300
        nc2 = await asyncio.create_subprocess_exec(
            "nc", "-N", STACK_IP, str(STACK_PORT), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
        )
        await asyncio.wait_for(nc2.communicate(text), 20)
        data = await asyncio.wait_for(done, 20)
        server.close()
        assert data == text, f"server received {len(data)} bytes, expected {len(text)}"
        print(f"server: received {len(data)} bytes from nc")
        print("stack stats:", stack.stats().segments_in, "segments in,", stack.stats().segments_out, "out")
        return 0
    finally:
        driver.close()
        os.close(fd)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if "--inside" in sys.argv:
        sys.exit(asyncio.run(asyncio.wait_for(inside(), 60)))
    sys.exit(outside())
