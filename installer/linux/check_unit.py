#!/usr/bin/env python3
"""Validate installer/linux/wmproxy-gui-server.service.

Two layers: a Python check of the keys this project relies on (runs everywhere), then,
where systemd-analyze exists, `systemd-analyze verify` (systemd's own parser: unknown keys,
bad values, a missing executable) and the offline `security` exposure score.
verify insists that ExecStart's binary exists, so a copy is checked with the CLI path
replaced by --cli (default: wmproxy-gui-cli on PATH, else /bin/true).

Usage: python installer/linux/check_unit.py [--cli PATH] [--max-exposure 2.5]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

UNIT = Path(__file__).resolve().parent / "wmproxy-gui-server.service"
CLI = "/usr/local/bin/wmproxy-gui-cli"
CONFIG = "/etc/wmproxy-gui/config.toml"
# key -> required value (None: present with any value)
REQUIRED = {
    "Service": {
        "ExecStart": f"{CLI} --headless-server -c {CONFIG}",
        "Restart": "on-failure", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
        "ProtectHome": "yes", "PrivateTmp": "yes", "StateDirectory": "wmproxy-gui",
        "ConfigurationDirectory": "wmproxy-gui", "User": "wmproxy-gui", "UMask": "0077",
    },
    "Install": {"WantedBy": "multi-user.target"},
    "Unit": {"Description": None, "After": None},
}


class UnitError(Exception):
    pass


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """systemd's INI dialect: repeated keys accumulate, '#'/';' comments, no interpolation."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        if current is None or "=" not in line:
            raise UnitError(f"{UNIT.name}:{n}: not a key=value line inside a section: {raw!r}")
        key, value = (s.strip() for s in line.split("=", 1))
        current.setdefault(key, []).append(value)
    return sections


def check_keys(sections) -> list[str]:
    for sec, keys in REQUIRED.items():
        if sec not in sections:
            raise UnitError(f"{UNIT.name}: [{sec}]: section missing")
        for key, want in keys.items():
            got = sections[sec].get(key)
            if not got:
                raise UnitError(f"{UNIT.name}: [{sec}] {key}: missing")
            if want is not None and got[-1] != want:
                raise UnitError(f"{UNIT.name}: [{sec}] {key}: {got[-1]!r}, expected {want!r}")
    pre = sections["Service"].get("ExecStartPre", [""])[-1]
    if "--check" not in pre or CONFIG not in pre:
        raise UnitError(f"{UNIT.name}: [Service] ExecStartPre: should run --check on {CONFIG}")
    return [f"{sum(len(k) for k in REQUIRED.values())} required keys ok"]


def systemd_checks(cli: str, max_exposure: float) -> list[str]:
    if not shutil.which("systemd-analyze"):
        return ["systemd-analyze not installed: skipped verify/security"]
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / UNIT.name
        cli = str(Path(cli).resolve()) if os.sep in cli or "/" in cli else cli
        copy.write_text(UNIT.read_text(encoding="utf-8").replace(CLI, cli), encoding="utf-8")
        res = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60)
        noise = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
        if res.returncode != 0 or noise:
            raise UnitError("systemd-analyze verify: " + (" | ".join(noise) or f"exit {res.returncode}"))
        sec = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(copy)],
                             capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for \S+: ([\d.]+)", sec.stdout + sec.stderr)
        if not m:
            return ["systemd-analyze verify: clean", "security: no score (old systemd?)"]
        score = float(m.group(1))
        if score > max_exposure:
            raise UnitError(f"systemd-analyze security: exposure {score} > {max_exposure}")
        return ["systemd-analyze verify: clean", f"security exposure {score} (<= {max_exposure})"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Validate the systemd unit")
    ap.add_argument("--cli", default=shutil.which("wmproxy-gui-cli") or "/bin/true",
                    help="executable standing in for /usr/local/bin/wmproxy-gui-cli during verify")
    ap.add_argument("--max-exposure", type=float, default=2.5)
    args = ap.parse_args(argv)
    try:
        done = check_keys(parse_unit(UNIT.read_text(encoding="utf-8")))
        done += systemd_checks(args.cli, args.max_exposure)
    except UnitError as exc:
        print(f"check_unit: {exc}", file=sys.stderr)
        return 1
    print("check_unit: ok: " + "; ".join(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
