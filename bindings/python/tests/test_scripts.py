"""The packetdrill-style scripts: every script under scripts/ passes, and a wrong one fails
with a readable report."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sanstcp import script
from sanstcp.script import ScriptError, ScriptSyntaxError, run_file, run_script

from conftest import SCRIPTS

ALL = sorted(SCRIPTS.glob("*.pkt"))

PASSIVE = """\
@config timestamps=false
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    bind(3, ..., ...) = 0
+0    listen(3, 1) = 0
+0    < S 0:0(0) win 65535 <mss 1460,sackOK,nop,nop,nop,wscale 7>
+0    > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 3>
+.1   < . 1:1(0) ack 1 win 512
+0    accept(3, ..., ...) = 4
"""


def test_there_are_enough_scripts() -> None:
    assert len(ALL) >= 60
    topics = {p.name.split("-")[0] for p in ALL}
    assert {"handshake", "close", "rst", "wscale", "zero", "retransmit", "sack"} <= topics


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_script(path) -> None:
    result = run_file(path)
    assert result.lines > 0


def test_wrong_option_gives_side_by_side_diff() -> None:
    wrong = PASSIVE.replace("wscale 3>", "wscale 9>")
    with pytest.raises(ScriptError) as e:
        run_script(wrong, path="wrong.pkt")
    text = str(e.value)
    assert "wrong.pkt:6: outbound segment does not match" in text
    assert "expected: > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 9>" in text
    assert "actual:   > S. 0:0(0) ack 1 win 65535 <mss 1460,nop,nop,sackOK,nop,wscale 3>" in text
    # The field table marks exactly the differing row.
    marked = [line.split()[1] for line in text.splitlines() if line.startswith("    !")]
    assert marked == ["options"]
    assert e.value.lineno == 6


def test_wrong_sequence_and_timing() -> None:
    with pytest.raises(ScriptError) as e:
        run_script(PASSIVE + "+0 write(4, ..., 10) = 10\n+0 > P. 2:12(10) ack 1\n")
    assert [line.split()[1] for line in str(e.value).splitlines() if line.startswith("    !")] == ["seq"]
    with pytest.raises(ScriptError) as e:
        run_script(PASSIVE + "+0 write(4, ..., 10) = 10\n+.5 > P. 1:11(10) ack 1\n")
    assert "outside the time window" in str(e.value)


def test_missing_and_unexpected_segments() -> None:
    with pytest.raises(ScriptError) as e:
        run_script(PASSIVE + "+0 > . 1:1(0) ack 1\n")
    assert "nothing was sent" in str(e.value)
    with pytest.raises(ScriptError) as e:
        run_script(PASSIVE + "+0 write(4, ..., 10) = 10\n+1 read(4, ..., 10) = -1 EAGAIN (x)\n")
    assert "unexpected outbound segment" in str(e.value)
    assert "actual:   > P. 1:11(10) ack 1" in str(e.value)


def test_wrong_call_result_and_check() -> None:
    with pytest.raises(ScriptError) as e:
        run_script(PASSIVE + "+0 read(4, ..., 10) = 10\n")
    assert "read() returned -1 EAGAIN, expected 10" in str(e.value)
    with pytest.raises(ScriptError) as e:
        run_script(PASSIVE + "+0 %{ assert tcpi_state == TCP_CLOSE_WAIT }%\n")
    assert "check failed" in str(e.value) and "tcpi_state=1" in str(e.value)


@pytest.mark.parametrize(
    "line",
    [
        "+0 < Q 0:0(0) win 1",
        "+0 < S 0:5(3) win 1",
        "+0 < S 0:0(0) bogus 1",
        "+0 frobnicate(3) = 0",
        "+0 read(4, ..., 10) = -1",
        "-1 < S 0:0(0)",
        "+0 < S 0:0(0) <mss>",
    ],
)
def test_syntax_errors(line: str) -> None:
    with pytest.raises(ScriptSyntaxError):
        script.parse_script(line + "\n")


def test_command_line() -> None:
    bad = SCRIPTS.parent / "wrong" / "handshake-wrong-wscale.pkt"
    good = ALL[0]
    r = subprocess.run(
        [sys.executable, "-m", "sanstcp.script", str(good), str(bad)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 1
    assert f"PASS {good}" in r.stdout and f"FAIL {bad}" in r.stdout
    assert "1 passed, 1 failed" in r.stdout
    assert "handshake-wrong-wscale.pkt:8: outbound segment does not match" in r.stdout
    assert "! options" in r.stdout
    r = subprocess.run([sys.executable, "-m", "sanstcp.script", "-v", str(good)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "> S." in r.stdout
