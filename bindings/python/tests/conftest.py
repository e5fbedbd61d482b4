"""Shared helpers for the sanstcp Python tests."""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import pytest

import sanstcp

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent
SCRIPTS = HERE / "scripts"


def make_pair(**kw: object) -> Tuple[sanstcp.Stack, sanstcp.Stack]:
    """A client stack (10.0.0.1) and a server stack (10.0.0.2)."""
    a = sanstcp.Stack(secret=b"a" * 16, seed=1, addresses=["10.0.0.1"], **kw)  # type: ignore[arg-type]
    b = sanstcp.Stack(secret=b"b" * 16, seed=2, addresses=["10.0.0.2"], **kw)  # type: ignore[arg-type]
    return a, b


def exchange(a: sanstcp.Stack, b: sanstcp.Stack, now: float) -> List[bytes]:
    """Carries packets both ways until both are quiet; returns everything that crossed."""
    moved: List[bytes] = []
    while True:
        pa, pb = a.packets_to_send(now), b.packets_to_send(now)
        for p in pa:
            b.handle_packet(now, p)
        for p in pb:
            a.handle_packet(now, p)
        moved += pa + pb
        if not pa and not pb:
            return moved


@pytest.fixture
def pair() -> Tuple[sanstcp.Stack, sanstcp.Stack]:
    return make_pair()
