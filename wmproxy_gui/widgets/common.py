"""Small shared pieces for the pages: running coroutines from slots, inline field errors,
empty states, and non-blocking questions.

The app runs one qasync loop on the Qt thread, so a slot never awaits: it hands
the coroutine to ``spawn`` and the result comes back through a callback. Dialogs
are opened with ``open()`` (not ``exec()``), because a nested event loop would
stall the tunnel's asyncio loop.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QVBoxLayout, QWidget)

log = logging.getLogger("wmproxy.gui")

WARN_COLOR = "#b26a00"
ERROR_COLOR = "#c62828"
OK_COLOR = "#2e7d32"

_tasks: set[asyncio.Task] = set()  # strong refs: a spawned task must not be garbage-collected mid-flight


def spawn(coro: Awaitable[Any], on_done: Callable[[Any], None] | None = None,
          on_error: Callable[[BaseException], None] | None = None) -> asyncio.Task:
    """Schedule ``coro`` on the running loop; report the result or the exception via callbacks."""
    task = asyncio.ensure_future(coro)
    _tasks.add(task)

    def done(t: asyncio.Task) -> None:
        _tasks.discard(t)
        if t.cancelled():
            return
        exc = t.exception()
        if exc is not None:
            if on_error is not None:
                on_error(exc)
            else:
                log.error("background task failed: %s", exc)
        elif on_done is not None:
            on_done(t.result())

    task.add_done_callback(done)
    return task


async def ask(dialog: QDialog) -> int:
    """Open ``dialog`` window-modally without a nested event loop; its result code when closed."""
    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def finished(code: int) -> None:
        if not fut.done():
            fut.set_result(code)

    dialog.finished.connect(finished)
    dialog.open()
    return await fut


def error_text(exc: BaseException) -> str:
    """One line for the user, translated, never raw exception text (that goes to the log)."""
    from ..diagnosis import error_text as worded

    log.debug("shown to the user as a one-liner: %r", exc)
    return worded(exc)


def grow_to_fit(window: QWidget) -> None:
    """Make a visible dialog tall enough for its content at its current width (never shrinks it).

    Forms with wrapping hints lay out by height-for-width, and Qt sets no minimum height on such a
    window: rows that appear (another TLS mode, an added server, an error line) would be squeezed on
    top of each other instead of the window growing."""
    lay = window.layout()
    if lay is None or not window.isVisible():
        return
    lay.activate()
    need = lay.totalHeightForWidth(window.width()) if lay.hasHeightForWidth() else lay.totalSizeHint().height()
    if need > window.height():
        window.resize(window.width(), need)


def schedule_grow(widget: QWidget) -> None:
    """``grow_to_fit`` of ``widget``'s window once the pending layout changes are in."""
    from PySide6.QtCore import QTimer

    window = widget.window()
    if window.isVisible():
        QTimer.singleShot(0, window, lambda: grow_to_fit(window))


def mark_error(edit: QLineEdit, on: bool) -> None:
    """A red frame around a line edit with a problem, at the edit's usual height (a style sheet border
    alone replaces the native frame and the edit would shrink by a few pixels)."""
    if on:
        if edit.property("normal_height") is None:
            edit.setProperty("normal_height", edit.sizeHint().height())
        edit.setStyleSheet(f"border: 1px solid {ERROR_COLOR}; padding: 0 1px;")
        edit.setMinimumHeight(int(edit.property("normal_height")))
    elif edit.styleSheet():
        edit.setStyleSheet("")
        edit.setMinimumHeight(0)


class ErrorLabel(QLabel):
    """The red one-liner under a form field; hidden while the field is fine."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setStyleSheet(f"color: {ERROR_COLOR};")
        self.setWordWrap(True)
        self.hide()

    def show_problem(self, problem: str | None) -> None:
        self.setText(problem or "")
        self.setVisible(bool(problem))


class ValidatedForm(QFormLayout):
    """A QFormLayout whose rows each carry an ErrorLabel, keyed by the config field name."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.errors: dict[str, ErrorLabel] = {}
        self.fields: dict[str, QWidget] = {}

    def add(self, key: str, label: str, widget: QWidget, hint: str = "") -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(widget)
        if hint:
            h = QLabel(hint)
            h.setStyleSheet("color: palette(mid); font-size: small;")
            h.setWordWrap(True)
            lay.addWidget(h)
        err = ErrorLabel()
        err.setObjectName(f"error_{key}")
        lay.addWidget(err)
        self.addRow(label, box)
        self.errors[key] = err
        self.fields[key] = widget
        widget.setObjectName(key)
        return widget

    def show_problems(self, problems: dict[str, str]) -> bool:
        """Show each problem beside its field; True when there are none."""
        for key, label in self.errors.items():
            label.show_problem(problems.get(key))
            w = self.fields[key]
            if isinstance(w, QLineEdit):
                mark_error(w, key in problems)
        return not problems

    def problem(self, key: str) -> str:
        lab = self.errors.get(key)
        return lab.text() if lab is not None and not lab.isHidden() else ""


class EmptyState(QWidget):
    """Centered explanation + action buttons shown instead of an empty table."""

    def __init__(self, title: str, text: str, actions: list[tuple[str, Callable[[], None]]] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.addStretch(1)
        t = QLabel(f"<h3>{title}</h3>")
        t.setAlignment(Qt.AlignmentFlag.AlignCenter)
        body = QLabel(text)
        body.setWordWrap(True)
        body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(t)
        lay.addWidget(body)
        row = QHBoxLayout()
        row.addStretch(1)
        self.buttons: list[QPushButton] = []
        for label, slot in actions:
            b = QPushButton(label)
            b.clicked.connect(slot)
            row.addWidget(b)
            self.buttons.append(b)
        row.addStretch(1)
        lay.addLayout(row)
        lay.addStretch(2)


def status_label() -> QLabel:
    lab = QLabel()
    lab.setWordWrap(True)
    lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return lab


def set_status(label: QLabel, text: str, kind: str = "info") -> None:
    color = {"error": ERROR_COLOR, "warn": WARN_COLOR, "ok": OK_COLOR}.get(kind)
    label.setStyleSheet(f"color: {color};" if color else "")
    label.setText(text)
