"""Opening a Linux TAP device for :class:`sanstcp.aio.TapLink`.

Needs ``/dev/net/tun`` and the right to use it (root, or a device made persistent for the
user with ``ip tuntap add ... user NAME``).
"""

from __future__ import annotations

import fcntl
import os
import struct

__all__ = ["IFF_NO_PI", "IFF_TAP", "TUNSETIFF", "open_tap"]

#: ioctl request that attaches the fd to an interface (``_IOW('T', 202, int)``).
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


def open_tap(name: str, *, nonblocking: bool = True) -> int:
    """Opens (or creates) TAP interface ``name`` without packet information headers and
    returns the file descriptor; each ``read`` gives one Ethernet frame."""
    if len(name.encode()) >= 16:
        raise ValueError("interface names have at most 15 bytes")
    flags = os.O_RDWR | (os.O_NONBLOCK if nonblocking else 0)
    fd = os.open("/dev/net/tun", flags)
    try:
        ifr = struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI)
        fcntl.ioctl(fd, TUNSETIFF, ifr)
    except BaseException:
        os.close(fd)
        raise
    return fd
