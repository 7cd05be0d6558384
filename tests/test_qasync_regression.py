"""Guards against the PySide6 6.12.0 + qasync crash on Python 3.11.

With PySide6 6.12.0 a long run of ``await asyncio.sleep(0)`` inside ``qasync.run`` ends in
``Fatal Python error: none_dealloc`` (a refcount bug in the bindings). The app would die after a
few minutes of busy tunnels, so pyproject pins PySide6 < 6.12 and these tests make any upgrade
that slips through fail loudly: the real workload in a subprocess, and the version itself.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(300)

ITERATIONS = 300_000

CHILD = textwrap.dedent(f"""
    import asyncio, sys
    import qasync
    from PySide6.QtWidgets import QApplication

    async def main() -> int:
        for _ in range({ITERATIONS}):
            await asyncio.sleep(0)
        return {ITERATIONS}

    app = QApplication(sys.argv[:1])
    done = qasync.run(main())
    print("iterations", done, flush=True)
""")


def test_300k_sleep0_inside_qasync_run_does_not_crash():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONFAULTHANDLER="1")
    r = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=280)
    assert "Fatal Python error" not in r.stderr, r.stderr[-3000:]
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stderr[-3000:]}"
    assert f"iterations {ITERATIONS}" in r.stdout


def test_installed_pyside6_is_below_6_12():
    from importlib.metadata import version

    import PySide6

    def key(v: str) -> tuple[int, ...]:
        return tuple(int(x) for x in v.split(".")[:3] if x.isdigit())

    installed = PySide6.__version__  # the module actually imported, whichever distribution brought it
    assert key(version("shiboken6")) < (6, 12), f"shiboken6 {version('shiboken6')} is 6.12 or newer"
    assert key(installed) < (6, 12), (
        f"PySide6 {installed} is installed: 6.12.0 crashes under qasync on Python 3.11 "
        "(Fatal Python error: none_dealloc). Keep PySide6-Essentials < 6.12 until that is fixed upstream "
        "and test_300k_sleep0_inside_qasync_run_does_not_crash passes on the new version.")
