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


DATA_DIR = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The suite's own test data (tests/data): wire vectors and upstream-format config fixtures."""
    return DATA_DIR
