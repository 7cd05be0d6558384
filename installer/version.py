#!/usr/bin/env python3
"""The release version, read from its one home: core/__init__.py ``__version__``.

Read as text (not imported) so build scripts work without the package's
dependencies installed. Installers need derived forms: Windows wants four
numbers (VIProductVersion), macOS wants up to three (CFBundleShortVersionString).

Usage: python installer/version.py [--quad | --mac]
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

INIT = Path(__file__).resolve().parent.parent / "core" / "__init__.py"


def version() -> str:
    m = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', INIT.read_text(encoding="utf-8"), re.M)
    if not m:
        raise SystemExit(f"{INIT}: __version__ not found")
    return m.group(1)


def _numbers(v: str) -> list[int]:
    """Leading release numbers of a PEP 440 version: '1.2.0rc1' -> [1, 2, 0]."""
    m = re.match(r"\d+(?:\.\d+)*", v)
    if not m:
        raise SystemExit(f"version {v!r} does not start with a number")
    return [int(x) for x in m.group(0).split(".")]


def version_quad(v: str | None = None) -> str:
    """x.y.z.w for Windows version resources."""
    return ".".join(str(n) for n in (_numbers(v or version()) + [0, 0, 0, 0])[:4])


def version_mac(v: str | None = None) -> str:
    """x.y.z for CFBundleShortVersionString / CFBundleVersion."""
    return ".".join(str(n) for n in (_numbers(v or version()) + [0, 0, 0])[:3])


if __name__ == "__main__":
    arg = sys.argv[1] if len(sys.argv) > 1 else ""
    print({"--quad": version_quad, "--mac": version_mac}.get(arg, version)())
