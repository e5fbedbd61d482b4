"""The wheel builds with maturin and works in a fresh virtual environment."""

from __future__ import annotations

import os
import subprocess
import sys
import venv

import pytest

from conftest import PACKAGE


@pytest.mark.skipif(os.environ.get("SANSTCP_SKIP_WHEEL") == "1", reason="SANSTCP_SKIP_WHEEL=1")
def test_wheel_in_fresh_venv(tmp_path) -> None:
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "maturin", "build", "--release", "--out", str(dist), "-m", str(PACKAGE / "Cargo.toml")],
        capture_output=True, text=True, timeout=900,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    wheels = list(dist.glob("sanstcp-*.whl"))
    assert len(wheels) == 1 and "abi3" in wheels[0].name, wheels
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-index", str(wheels[0])], check=True, timeout=300)
    code = (
        "import sanstcp, sanstcp.script, sanstcp.packet, sanstcp.aio, pathlib;"
        "s = sanstcp.Stack(secret=bytes(16), seed=1, addresses=['10.0.0.1']);"
        "c = s.connect(0.0, ('10.0.0.2', 80));"
        "p = sanstcp.packet.parse(s.poll_transmit(0.0)); assert p.flags == sanstcp.packet.SYN;"
        "d = pathlib.Path(sanstcp.__file__).parent;"
        "assert (d / '_native.pyi').exists() and (d / 'py.typed').exists();"
        "print('ok', sanstcp.__file__)"
    )
    r = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert str(env_dir) in r.stdout
