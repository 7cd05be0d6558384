"""Where wmproxy-gui keeps its files, and how it writes them without losing data.

Locations come from platformdirs, so they follow each OS's conventions and,
on Linux, the XDG variables (``XDG_CONFIG_HOME``, ``XDG_DATA_HOME``,
``XDG_STATE_HOME``): tests and packagers point those at other directories.
Directories are created on first use, private to the user (0700).

``atomic_write`` is here because every file we own (config, keys, certs,
known_hosts) must be replaced whole or not at all: a crash or a full disk
half-way through a save must leave the previous file intact.
"""
from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import platformdirs

APP_NAME = "wmproxy-gui"
CONFIG_FILE = "config.toml"
KNOWN_HOSTS_FILE = "known_hosts"


def _ensure(path: Path, create: bool) -> Path:
    if create:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def config_dir(create: bool = True) -> Path:
    """Per-user configuration directory (``~/.config/wmproxy-gui`` on Linux)."""
    return _ensure(platformdirs.user_config_path(APP_NAME, appauthor=False), create)


def data_dir(create: bool = True) -> Path:
    """Per-user data directory: generated certificates, known_hosts."""
    return _ensure(platformdirs.user_data_path(APP_NAME, appauthor=False), create)


def log_dir(create: bool = True) -> Path:
    """Per-user log directory."""
    return _ensure(platformdirs.user_log_path(APP_NAME, appauthor=False), create)


def default_config_path() -> Path:
    """``config_dir()/config.toml``; the directory is created, the file is not."""
    return config_dir() / CONFIG_FILE


def default_known_hosts_path() -> Path:
    """The TOFU store used when ``client.tls.known_hosts`` is not set."""
    return data_dir() / KNOWN_HOSTS_FILE


def atomic_write(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically; the file never exists with other permissions.

    A temp file in the same directory is created with ``mode`` from the start
    (so a private key is never briefly world-readable), written, fsynced and
    renamed over the target. On any error the temp file is removed and the old
    file is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (POSIX only; Windows has no directory fds)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
