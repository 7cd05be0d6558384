"""Logging for the desktop app: rotating files in the log dir plus a live, filterable view.

``setup_logging()`` installs a RotatingFileHandler (so logs never fill the
disk) and a handler that feeds an in-memory ring the Logs page shows.  The
ring starts with the tail of the previous log file, so the page shows what
happened before a restart too.  Records arrive in bursts (a log storm must not
stall the loop): the model appends them in batches on a short timer.
"""
from __future__ import annotations

import collections
import logging
import logging.handlers
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import QColor, QDesktopServices, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core import paths

LOG_FILE = "wmproxy-gui.log"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_BYTES = 1 << 20  # per file
BACKUP_COUNT = 5  # wmproxy-gui.log.1 .. .5
RING_SIZE = 5000  # records kept in memory for the view
LEVELS = (("DEBUG", logging.DEBUG), ("INFO", logging.INFO), ("WARNING", logging.WARNING), ("ERROR", logging.ERROR))
_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ([A-Z]+) (\S+): (.*)$")


@dataclass(slots=True)
class LogEntry:
    created: float  # epoch seconds
    level: int
    logger: str
    message: str


class LogSink(QObject):
    """In-memory ring of recent entries; ``appended`` fires for every new one."""

    appended = Signal(object)  # LogEntry

    def __init__(self, size: int = RING_SIZE, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.entries: collections.deque[LogEntry] = collections.deque(maxlen=size)
        self.file: Path | None = None

    def add(self, entry: LogEntry) -> None:
        self.entries.append(entry)
        self.appended.emit(entry)


class SinkHandler(logging.Handler):
    """logging -> LogSink. Emitting a Qt signal is thread-safe (queued to the GUI thread)."""

    def __init__(self, sink: LogSink) -> None:
        super().__init__()
        self.sink = sink
        self._fmt = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
            if record.exc_info:
                msg += "\n" + self._fmt.formatException(record.exc_info)
            self.sink.add(LogEntry(record.created, record.levelno, record.name, msg))
        except Exception:  # never let logging break the caller
            self.handleError(record)


def parse_log_lines(lines: list[str]) -> list[LogEntry]:
    """Parse our own file format; lines that do not start a record (tracebacks) continue the last one."""
    out: list[LogEntry] = []
    for line in lines:
        m = _LINE.match(line)
        if m:
            try:
                t = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000
            except (ValueError, OverflowError):
                t = 0.0
            level = logging.getLevelName(m.group(3))
            out.append(LogEntry(t, level if isinstance(level, int) else logging.INFO, m.group(4), m.group(5)))
        elif out and line.strip():
            out[-1].message += "\n" + line
    return out


def read_log_tail(path: Path, max_bytes: int = 256 * 1024) -> list[LogEntry]:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return []
    lines = data.decode("utf-8", "replace").splitlines()
    if size > max_bytes and lines:
        lines = lines[1:]  # first line is probably cut
    return parse_log_lines(lines)


_installed: list[logging.Handler] = []


def teardown_logging() -> None:
    """Remove (and close) what setup_logging installed."""
    root = logging.getLogger()
    for h in _installed:
        root.removeHandler(h)
        h.close()
    _installed.clear()


def setup_logging(log_dir: Path | None = None, level: int = logging.INFO, *,
                  max_bytes: int = MAX_BYTES, backup_count: int = BACKUP_COUNT) -> LogSink:
    """Route the root logger to a rotating file and to a LogSink (returned). Idempotent."""
    teardown_logging()
    root = logging.getLogger()
    log_dir = Path(log_dir) if log_dir is not None else paths.log_dir()
    log_dir.mkdir(parents=True, exist_ok=True)
    file = log_dir / LOG_FILE
    sink = LogSink()
    sink.file = file
    for e in read_log_tail(file):
        sink.entries.append(e)
    fh = logging.handlers.RotatingFileHandler(file, maxBytes=max_bytes, backupCount=backup_count,
                                              encoding="utf-8", delay=False)
    fh.setFormatter(logging.Formatter(LOG_FORMAT))
    sh = SinkHandler(sink)
    for h in (fh, sh):
        h.setLevel(logging.DEBUG)
        root.addHandler(h)
        _installed.append(h)
    root.setLevel(level)
    return sink


# ------------------------------------------------------------------ model and view
class LogModel(QAbstractTableModel):
    """The sink's entries as rows; new entries are appended in batches, oldest dropped past ``limit``."""

    COLUMNS = ("Time", "Level", "Source", "Message")

    def __init__(self, sink: LogSink, limit: int = RING_SIZE, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.limit = limit
        self.rows: list[LogEntry] = list(sink.entries)[-limit:]
        self._pending: list[LogEntry] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self.flush)
        sink.appended.connect(self._on_appended)

    def _on_appended(self, entry: LogEntry) -> None:
        self._pending.append(entry)
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Move pending entries into the model now."""
        if not self._pending:
            return
        new, self._pending = self._pending[-self.limit:], []
        drop = len(self.rows) + len(new) - self.limit
        if drop > 0:
            drop = min(drop, len(self.rows))
            self.beginRemoveRows(QModelIndex(), 0, drop - 1)
            del self.rows[:drop]
            self.endRemoveRows()
        first = len(self.rows)
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        self.rows.extend(new)
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self.rows.clear()
        self._pending.clear()
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return LogsPage.column_title(section)
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        e = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return time.strftime("%H:%M:%S", time.localtime(e.created))
            if col == 1:
                return level_title(e.level)
            if col == 2:
                return e.logger
            return e.message.splitlines()[0] if e.message else ""
        if role == Qt.ItemDataRole.ToolTipRole:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.created))
            return f"{stamp}  {logging.getLevelName(e.level)}  {e.logger}\n{e.message}"
        if role == Qt.ItemDataRole.ForegroundRole and col in (1, 3):
            if e.level >= logging.ERROR:
                return QColor("#d42b2b")
            if e.level >= logging.WARNING:
                return QColor("#c27c00")
            if e.level < logging.INFO:
                return QColor("#808890")
        if role == Qt.ItemDataRole.UserRole:
            return e
        return None


class LogFilter(QSortFilterProxyModel):
    """Rows at or above ``min_level`` whose source or message contains ``needle`` (case-insensitive)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.min_level = logging.INFO
        self.needle = ""

    def set_min_level(self, level: int) -> None:
        self._refilter(lambda: setattr(self, "min_level", level))

    def set_needle(self, text: str) -> None:
        self._refilter(lambda: setattr(self, "needle", text.strip().lower()))

    def _refilter(self, change: Any) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.10 (invalidateFilter is deprecated there)
            self.beginFilterChange()
            change()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            change()
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex | QPersistentModelIndex) -> bool:
        model = self.sourceModel()
        e: LogEntry = model.rows[row]  # type: ignore[attr-defined]
        if e.level < self.min_level:
            return False
        return not self.needle or self.needle in e.message.lower() or self.needle in e.logger.lower()


class LogsPage(QWidget):
    """Recent log records with a level filter and a search box; the files are in the log folder."""

    def __init__(self, sink: LogSink, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sink = sink
        self.model = LogModel(sink, parent=self)
        self.proxy = LogFilter(self)
        self.proxy.setSourceModel(self.model)

        self.level = QComboBox()
        for name, value in LEVELS:
            self.level.addItem(self.level_title(name), value)
        self.level.setCurrentIndex(1)
        self.level.setToolTip(self.tr("Show records of this level and above"))
        self.level.currentIndexChanged.connect(lambda _i: self.proxy.set_min_level(self.level.currentData()))
        self.search = QLineEdit()
        self.search.setPlaceholderText(self.tr("Search source or message…"))
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.set_needle)
        self.follow = QCheckBox(self.tr("Follow"))
        self.follow.setChecked(True)
        self.follow.setToolTip(self.tr("Scroll to new records as they arrive"))
        open_dir = QPushButton(self.tr("Open log folder"))
        open_dir.setToolTip(str(sink.file.parent) if sink.file else "")
        open_dir.clicked.connect(self.open_folder)
        clear = QPushButton(self.tr("Clear view"))
        clear.setToolTip(self.tr("Clear this view (the log files are kept)"))
        clear.clicked.connect(self.model.clear)

        bar = QHBoxLayout()
        bar.addWidget(QLabel(self.tr("Level:")))
        bar.addWidget(self.level)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.follow)
        bar.addWidget(clear)
        bar.addWidget(open_dir)

        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setShowGrid(False)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        hdr = self.view.horizontalHeader()
        hdr.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        hdr.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        hdr.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        hdr.resizeSection(2, 170)
        hdr.setStretchLastSection(True)
        hdr.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.model.rowsInserted.connect(self._scroll)

        self.file_label = QLabel(self.tr("Log file: %1").replace("%1", str(sink.file) if sink.file else "-"))
        self.file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.file_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.file_label)
        self._scroll()

    def _scroll(self, *_: object) -> None:
        if self.follow.isChecked():
            self.view.scrollToBottom()

    def open_folder(self) -> None:
        if self.sink.file:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.sink.file.parent)))

    @staticmethod
    def column_title(section: int) -> str:  # static: the model asks for it too
        titles = (QCoreApplication.translate("LogsPage", "Time"), QCoreApplication.translate("LogsPage", "Level"),
                  QCoreApplication.translate("LogsPage", "Source"), QCoreApplication.translate("LogsPage", "Message"))
        return titles[section] if 0 <= section < len(titles) else ""

    def level_title(self, name: str) -> str:
        return level_title(logging.getLevelName(name))


def level_title(level: int) -> str:
    if level >= logging.CRITICAL:
        return QCoreApplication.translate("LogsPage", "Critical")
    if level >= logging.ERROR:
        return QCoreApplication.translate("LogsPage", "Error")
    if level >= logging.WARNING:
        return QCoreApplication.translate("LogsPage", "Warning")
    if level >= logging.INFO:
        return QCoreApplication.translate("LogsPage", "Info")
    return QCoreApplication.translate("LogsPage", "Debug")
