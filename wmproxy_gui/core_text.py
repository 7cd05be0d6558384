"""The core's English messages, said again in the user's language.

The core words what it reports in English (config files, logs, tests and other
tools rely on that text, so it stays as it is). A ``CoreMessages`` table knows
the shape of each message as a regular expression and a translatable wording
with the same ``{names}``: ``translate`` recognises a message, looks its wording
up through Qt's translations (the table's context) and carries the values
(addresses, names, numbers) over. A message it does not know is shown as the
core wrote it, so a newer core or server never gets a blank.
"""
from __future__ import annotations

import re

from PySide6.QtCore import QCoreApplication

# a Python repr() of a string, as the core quotes values
QUOTED = r"(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"


def quoted(name: str) -> str:
    """A named group for a value the core quotes with repr()."""
    return f"(?P<{name}>{QUOTED})"


class CoreMessages:
    """(regex, wording) pairs of one translation context; the first full match wins."""

    def __init__(self, context: str, entries: tuple[tuple[str, str], ...]) -> None:
        self.context = context
        self._compiled = tuple((re.compile(rx), text) for rx, text in entries)

    def translate(self, message: str) -> str:
        for rx, text in self._compiled:
            m = rx.fullmatch(message)
            if m is not None:
                return QCoreApplication.translate(self.context, text).format(**m.groupdict())
        return message

    def knows(self, message: str) -> bool:
        return any(rx.fullmatch(message) for rx, _t in self._compiled)
