"""The suite needs nothing beside the repository: a user's clone has only the project.

The project's files (tracked, plus new ones not ignored) are copied into an
empty temporary directory with nothing next to it, and the suite is collected
there and its data-reading tests run there, importing the copy's own code.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).resolve().parents[1]


def _project_files() -> list[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")  # pragma: no cover - CI and developers always have one
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                         capture_output=True).stdout.decode()
    return [f for f in out.split("\0") if f and (REPO / f).is_file()]


def test_no_file_refers_to_a_checkout_beside_the_repository() -> None:
    pattern = re.compile(r"""\.\./shared|parents\[2\]\s*/\s*["']shared""")
    offenders = []
    for rel in _project_files():
        if not rel.endswith((".py", ".sh", ".md", ".toml", ".yaml", ".yml", ".cfg", ".ini", ".txt")):
            continue
        if rel == "tests/test_self_contained.py":
            continue
        text = (REPO / rel).read_text(encoding="utf-8", errors="replace")
        offenders += [f"{rel}:{n}" for n, line in enumerate(text.splitlines(), 1) if pattern.search(line)]
    assert offenders == []


def test_suite_collects_and_reads_its_data_in_a_lone_copy(tmp_path: Path) -> None:
    root = tmp_path / "alone" / "project"  # nothing beside it: no ../shared
    for rel in _project_files():
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dst)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PYTHONPATH"] = str(root)  # the copy's own core/ and wmproxy_gui/, not the installed ones
    env["QT_QPA_PLATFORM"] = "offscreen"
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    r = subprocess.run([*base, "--collect-only"], cwd=root, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "error" not in r.stdout.lower().splitlines()[-1], r.stdout[-2000:]
    r = subprocess.run([*base, "tests/test_frames.py", "tests/test_upstream.py",
                        "tests/test_cli.py::test_check_runs_with_pyside6_unimportable"],
                       cwd=root, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout
