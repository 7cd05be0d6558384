"""Named errors a user can act on.

Every message is one line and never contains a secret (passwords, private
keys, tokens): callers format only names, paths, keys and addresses.
"""
from __future__ import annotations


class WmproxyError(Exception):
    """Base of every error the core raises on purpose."""


class ConfigError(WmproxyError):
    """A configuration file or value is unusable.

    ``str(err)`` reads ``FILE: KEY: problem`` so the user knows where to look.
    """

    def __init__(self, problem: str, *, file: str | None = None, key: str | None = None) -> None:
        self.problem = problem
        self.file = file
        self.key = key
        parts = [p for p in (file, key) if p]
        super().__init__(": ".join([*parts, problem]))


class AuthError(WmproxyError):
    """Credentials were refused (by the server, or by a proxy listener)."""


class ProtocolError(WmproxyError):
    """The peer sent bytes that are not a valid frame; the link is closed."""


class TlsError(WmproxyError):
    """A TLS setup or verification problem (bad cert, changed fingerprint...)."""
