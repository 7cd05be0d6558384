#!/usr/bin/env python3
"""Keep the UI translations in step with the code.

    python resources/translations/update_translations.py          # lupdate (.ts) + lrelease (.qm)
    python resources/translations/update_translations.py --check  # exit 1 if anything is stale

Both tools ship with PySide6-Essentials (``pyside6-lupdate``, ``pyside6-lrelease``), so
this works wherever the GUI's own dependencies are installed, CI included. Locations are
not stored in the .ts (``-locations none``), so moving code around does not churn it.
New strings arrive as "unfinished": translate them in the .ts (Qt Linguist, or any editor),
then run this again to rebuild the .qm that is committed next to it.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
LANGUAGES = ("zh_CN",)
PLACEHOLDER = re.compile(r"%\d|\{[A-Za-z_]\w*\}")


@dataclass(frozen=True)
class Message:
    context: str
    source: str
    comment: str
    translation: str
    finished: bool


def sources() -> list[Path]:
    return sorted(p for p in (ROOT / "wmproxy_gui").rglob("*.py") if "__pycache__" not in p.parts)


def tool(name: str) -> str:
    found = shutil.which(f"pyside6-{name}")
    if not found:
        raise SystemExit(f"pyside6-{name} not found: install PySide6-Essentials (it ships Qt's {name})")
    return found


def ts_path(lang: str) -> Path:
    return HERE / f"wmproxy_gui_{lang}.ts"


def qm_path(lang: str) -> Path:
    return HERE / f"wmproxy_gui_{lang}.qm"


def lupdate(ts: Path) -> None:
    files = [str(p.relative_to(ROOT)) for p in sources()]
    subprocess.run([tool("lupdate"), "-silent", "-no-obsolete", "-locations", "none", *files,
                    "-ts", str(ts)], cwd=ROOT, check=True)


def lrelease(ts: Path, qm: Path) -> None:
    subprocess.run([tool("lrelease"), "-silent", str(ts), "-qm", str(qm)], check=True)


def read_ts(ts: Path) -> list[Message]:
    out = []
    for ctx in ET.parse(ts).getroot().iter("context"):
        name = ctx.findtext("name") or ""
        for m in ctx.findall("message"):
            tr = m.find("translation")
            out.append(Message(name, m.findtext("source") or "", m.findtext("comment") or "",
                               (tr.text or "") if tr is not None else "",
                               tr is not None and tr.get("type") not in ("unfinished", "vanished", "obsolete")))
    return out


def problems(lang: str) -> list[str]:
    """Everything that makes the committed files for ``lang`` stale or wrong (empty = all good)."""
    ts, qm = ts_path(lang), qm_path(lang)
    if not ts.is_file():
        return [f"{ts.name} is missing"]
    found: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / ts.name
        shutil.copy(ts, fresh)
        lupdate(fresh)
        key = lambda m: (m.context, m.source, m.comment)  # noqa: E731
        committed = {key(m): m for m in read_ts(ts)}
        current = {key(m) for m in read_ts(fresh)}
        for k in sorted(current - committed.keys()):
            found.append(f"not in {ts.name}: [{k[0]}] {k[1]!r}")
        for k in sorted(committed.keys() - current):
            found.append(f"no longer in the code (run the update): [{k[0]}] {k[1]!r}")
        for k in sorted(current & committed.keys()):
            m = committed[k]
            if not m.finished or not m.translation:
                found.append(f"untranslated: [{m.context}] {m.source!r}")
            elif sorted(PLACEHOLDER.findall(m.source)) != sorted(PLACEHOLDER.findall(m.translation)):
                found.append(f"placeholders differ: [{m.context}] {m.source!r} -> {m.translation!r}")
        built = Path(tmp) / qm.name
        lrelease(ts, built)
        if not qm.is_file() or qm.read_bytes() != built.read_bytes():
            found.append(f"{qm.name} is not the compiled {ts.name} (run the update)")
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="report stale or untranslated strings, change nothing")
    args = ap.parse_args(argv)
    if args.check:
        bad = [f"{lang}: {p}" for lang in LANGUAGES for p in problems(lang)]
        print("\n".join(bad) if bad else "translations up to date")
        return 1 if bad else 0
    for lang in LANGUAGES:
        lupdate(ts_path(lang))
        lrelease(ts_path(lang), qm_path(lang))
        todo = [m for m in read_ts(ts_path(lang)) if not m.finished]
        print(f"{lang}: {len(read_ts(ts_path(lang)))} strings, {len(todo)} to translate in {ts_path(lang).name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
