"""Shared fixtures (keep this file light). Plain helpers live in tests/_util.py:
``from _util import run, free_port, EchoServer``.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from _util import EchoServer

# Benchmarks print tables; they are run by hand, never collected.
collect_ignore_glob = ["bench/*"]


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    """(host, port) of a TCP echo server on 127.0.0.1, usable from any event loop."""
    srv = EchoServer().start()
    try:
        yield srv.address
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared read-only data checkout (../shared beside the repo, as CI clones it)."""
    path = Path(__file__).resolve().parents[2] / "shared"
    if not (path / "wire" / "wmproxy_frames.json").is_file():
        pytest.fail(f"shared data not found at {path}: clone the shared repo beside this one "
                    f"(expected {path}/wire/wmproxy_frames.json)", pytrace=False)
    return path
