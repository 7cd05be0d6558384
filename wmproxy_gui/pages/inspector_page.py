"""Inspector: the HTTP requests that came through the http/https mappings, with replay.

A filterable table (newest first) over the controller's capture ring, a detail
pane (summary, headers, query parameters, pretty-printed bodies with a marker
at a JSON syntax error, raw bytes), and Replay / Edit and replay / Copy as curl.
Replays go to the mapping's local service and show up as new rows marked replay.
Nothing here is written to disk or to the log.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase, QGuiApplication, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QSplitter,
                               QStackedWidget, QTableView, QTabWidget, QTextEdit, QVBoxLayout, QWidget)

from core.inspect import Exchange
from core.inspect.formats import Body, body_of, curl_command, hexdump, query_params, url_of
from core.inspect.replay import ReplayEdit, ReplayError, head_lines, parse_header_lines, replay

from ..models import KEY_ROLE, fmt_bytes
from ..widgets.common import ERROR_COLOR, EmptyState, ask, spawn
from .inspector_model import RequestFilterModel, RequestTableModel, fmt_duration

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")


def _mono() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


class BodyView(QWidget):
    """A body: one line of facts (kind, size, truncation), the error marker, and the text."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = QLabel()
        self.info.setObjectName("bodyInfo")
        self.error = QLabel()
        self.error.setObjectName("bodyError")
        self.error.setStyleSheet(f"color: {ERROR_COLOR};")
        self.error.setWordWrap(True)
        self.text = QTextEdit(readOnly=True)
        self.text.setFont(_mono())
        self.text.setLineWrapMode(QTextEdit.LineWrapMode.WidgetWidth)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.info)
        lay.addWidget(self.error)
        lay.addWidget(self.text, 1)

    def show_body(self, b: Body) -> None:
        kinds = {"empty": self.tr("no body"), "json": "JSON", "xml": "XML", "form": self.tr("form data"),
                 "text": self.tr("text"), "binary": self.tr("binary")}
        facts = [kinds.get(b.kind, b.kind), fmt_bytes(b.size)]
        if b.truncated:
            facts.append(self.tr("truncated: only the first %1 are kept").replace("%1", fmt_bytes(len(b.data))))
        self.info.setText(" · ".join(facts))
        if b.error:
            prefix = self.tr("Invalid JSON:") if b.kind == "json" else self.tr("Invalid XML:")
            self.error.setText(f"{prefix} {b.error}")
        self.error.setVisible(bool(b.error))
        if b.kind == "binary":
            self.text.setPlainText(hexdump(b.data))
        else:
            self.text.setPlainText(b.text)
        if b.error and b.error_offset >= 0:  # mark where the syntax error is
            cur = QTextCursor(self.text.document())
            cur.setPosition(min(b.error_offset, len(b.text)))
            cur.movePosition(QTextCursor.MoveOperation.Right, QTextCursor.MoveMode.KeepAnchor)
            fmt = QTextCharFormat()
            fmt.setBackground(QColor("#ffcdd2"))
            fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
            fmt.setUnderlineColor(QColor(ERROR_COLOR))
            sel = QTextEdit.ExtraSelection()
            sel.cursor = cur
            sel.format = fmt
            self.text.setExtraSelections([sel])
        else:
            self.text.setExtraSelections([])


class EditReplayDialog(QDialog):
    """Change method, path, headers and body, then replay."""

    def __init__(self, ex: Exchange, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Edit and replay"))
        self.resize(640, 560)
        head = ex.request_head()
        self.method = QComboBox(editable=True)
        self.method.addItems(METHODS)
        self.method.setCurrentText(ex.method)
        self.path = QLineEdit(ex.uri)
        self.headers = QPlainTextEdit(head_lines(head))
        self.headers.setFont(_mono())
        body = body_of(ex.request, head)
        self.body = QPlainTextEdit(body.data.decode("utf-8", "replace") if body.kind != "binary" else "")
        self.body.setFont(_mono())
        self.note = QLabel(self.tr("Content-Length is set to match the body."))
        self.note.setWordWrap(True)
        self.problem = QLabel()
        self.problem.setStyleSheet(f"color: {ERROR_COLOR};")
        self.problem.setWordWrap(True)
        self.problem.hide()
        form = QFormLayout()
        form.addRow(self.tr("Method:"), self.method)
        form.addRow(self.tr("Path:"), self.path)
        form.addRow(self.tr("Headers:"), self.headers)
        form.addRow(self.tr("Body:"), self.body)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok = buttons.addButton(self.tr("Replay"), QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form, 1)
        lay.addWidget(self.note)
        lay.addWidget(self.problem)
        lay.addWidget(buttons)
        self.edit: ReplayEdit | None = None

    def _accept(self) -> None:
        try:
            headers = parse_header_lines(self.headers.toPlainText())
        except ReplayError as e:
            self.problem.setText(str(e))
            self.problem.show()
            return
        self.edit = ReplayEdit(method=self.method.currentText(), uri=self.path.text(), headers=headers,
                               body=self.body.toPlainText().encode("utf-8"))
        self.accept()


class InspectorPage(QWidget):
    def __init__(self, controller: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.ring = controller.capture
        self.model = RequestTableModel(self.ring, self)
        self.proxy = RequestFilterModel(self.model, self)
        self.current: Exchange | None = None
        self.dialog: EditReplayDialog | None = None

        # ---- filter row
        self.path_filter = QLineEdit(placeholderText=self.tr("Filter by path…"))
        self.path_filter.setObjectName("pathFilter")
        self.path_filter.setClearButtonEnabled(True)
        self.path_filter.textChanged.connect(lambda t: self.proxy.set_filter(path=t))
        self.method_filter = QComboBox(objectName="methodFilter")
        self.method_filter.addItem(self.tr("All methods"), "")
        for m in METHODS:
            self.method_filter.addItem(m, m)
        self.method_filter.currentIndexChanged.connect(
            lambda _i: self.proxy.set_filter(method=self.method_filter.currentData()))
        self.status_filter = QComboBox(objectName="statusFilter")
        self.status_filter.addItem(self.tr("All statuses"), "")
        for s in STATUS_CLASSES:
            self.status_filter.addItem(s, s)
        self.status_filter.currentIndexChanged.connect(
            lambda _i: self.proxy.set_filter(status=self.status_filter.currentData()))
        self.mapping_filter = QComboBox(objectName="mappingFilter")
        self.mapping_filter.addItem(self.tr("All mappings"), "")
        self.mapping_filter.currentIndexChanged.connect(
            lambda _i: self.proxy.set_filter(mapping=self.mapping_filter.currentData()))
        self.clear_button = QPushButton(self.tr("Clear"), objectName="clear")
        self.clear_button.setToolTip(self.tr("Forget every captured request"))
        self.clear_button.clicked.connect(self.clear)
        top = QHBoxLayout()
        top.addWidget(self.path_filter, 3)
        top.addWidget(self.method_filter)
        top.addWidget(self.status_filter)
        top.addWidget(self.mapping_filter)
        top.addWidget(self.clear_button)

        # ---- table
        self.table = QTableView(objectName="requests")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(RequestTableModel.TIME, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(RequestTableModel.PATH, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.empty = EmptyState(
            self.tr("No requests captured yet"),
            self.tr("HTTP requests to your http and https mappings show up here with their headers, bodies "
                    "and responses, ready to replay. They stay in memory only."))
        self.list_stack = QStackedWidget()
        self.list_stack.addWidget(self.empty)
        self.list_stack.addWidget(self.table)

        # ---- detail
        self.title = QLabel(objectName="detailTitle")
        tf = QFont(self.title.font())
        tf.setBold(True)
        self.title.setFont(tf)
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.replay_button = QPushButton(self.tr("Replay"), objectName="replay")
        self.replay_button.setToolTip(self.tr("Send this request to the local service again"))
        self.replay_button.clicked.connect(lambda: self.replay())
        self.edit_button = QPushButton(self.tr("Edit and replay…"), objectName="editReplay")
        self.edit_button.clicked.connect(self.edit_and_replay)
        self.curl_button = QPushButton(self.tr("Copy as curl"), objectName="copyCurl")
        self.curl_button.clicked.connect(self.copy_curl)
        self.status = QLabel(objectName="detailStatus")
        self.status.setWordWrap(True)
        self.status.hide()
        actions = QHBoxLayout()
        actions.addWidget(self.replay_button)
        actions.addWidget(self.edit_button)
        actions.addWidget(self.curl_button)
        actions.addStretch(1)

        self.summary = QLabel(objectName="summary")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.summary.setWordWrap(True)
        self.req_headers = self._text_view()
        self.query = self._text_view()
        self.req_body = BodyView()
        self.resp_headers = self._text_view()
        self.resp_body = BodyView()
        self.raw = self._text_view()

        req_tab = QSplitter(Qt.Orientation.Vertical)
        req_tab.addWidget(self._titled(self.tr("Headers"), self.req_headers))
        req_tab.addWidget(self._titled(self.tr("Query parameters"), self.query))
        req_tab.addWidget(self._titled(self.tr("Body"), self.req_body))
        req_tab.setSizes([160, 50, 400])
        resp_tab = QSplitter(Qt.Orientation.Vertical)
        resp_tab.addWidget(self._titled(self.tr("Headers"), self.resp_headers))
        resp_tab.addWidget(self._titled(self.tr("Body"), self.resp_body))
        resp_tab.setSizes([160, 450])
        self.tabs = QTabWidget(objectName="detailTabs")
        self.tabs.addTab(self.summary, self.tr("Summary"))
        self.tabs.addTab(req_tab, self.tr("Request"))
        self.tabs.addTab(resp_tab, self.tr("Response"))
        self.tabs.addTab(self.raw, self.tr("Raw"))

        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addWidget(self.title)
        dl.addLayout(actions)
        dl.addWidget(self.status)
        dl.addWidget(self.tabs, 1)
        self.no_selection = QLabel(self.tr("Select a request to see its details."))
        self.no_selection.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail_stack = QStackedWidget()
        self.detail_stack.addWidget(self.no_selection)
        self.detail_stack.addWidget(detail)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.list_stack)
        split.addWidget(self.detail_stack)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([720, 400])
        self.api_label = QLabel(objectName="apiAddress")
        self.api_label.setOpenExternalLinks(True)
        self.api_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        self.skipped = QLabel(objectName="skipped")
        self.skipped.hide()
        lay.addWidget(split, 1)
        lay.addWidget(self.skipped)
        lay.addWidget(self.api_label)
        self.model.changed.connect(self._rows_changed)
        controller.inspector_changed.connect(self._api_changed)
        self._api_changed(controller.inspector_api.url if controller.inspector_api else "")
        self._rows_changed()

    # ---------------------------------------------------------------- building blocks
    def _text_view(self) -> QPlainTextEdit:
        v = QPlainTextEdit(readOnly=True)
        v.setFont(_mono())
        v.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        return v

    def _titled(self, title: str, widget: QWidget) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 4, 0, 0)
        label = QLabel(title)
        f = QFont(label.font())
        f.setBold(True)
        label.setFont(f)
        lay.addWidget(label)
        lay.addWidget(widget, 1)
        return box

    # ---------------------------------------------------------------- updates
    def _api_changed(self, url: str) -> None:
        if url:
            self.api_label.setText(self.tr("Also in your browser and for scripts (ngrok-style API): %1")
                                   .replace("%1", f'<a href="{url}">{url}</a>'))
        elif getattr(self.controller, "inspector_error", ""):
            self.api_label.setText(self.tr("The local API is off: %1").replace("%1", self.controller.inspector_error))
        else:
            self.api_label.setText(self.tr("The local API is off (Settings)."))

    def _rows_changed(self) -> None:
        n = self.model.rowCount()
        if self.ring.skipped:
            self.skipped.setText(self.tr("%1 requests were not captured: more than %2 a second arrived.")
                                 .replace("%1", str(self.ring.skipped)).replace("%2", f"{self.ring.max_rate:g}"))
        self.skipped.setVisible(bool(self.ring.skipped))
        self.list_stack.setCurrentWidget(self.table if n else self.empty)
        names = sorted({e.tunnel_name for e in self.ring.items()})
        known = {self.mapping_filter.itemData(i) for i in range(self.mapping_filter.count())}
        for name in names:
            if name not in known:
                self.mapping_filter.addItem(name, name)
        if self.current is not None and self.ring.get(self.current.id) is None:
            self.show_exchange(None)

    def _selection_changed(self, _s: QItemSelection, _d: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        ex = self.ring.get(self.proxy.data(rows[0], KEY_ROLE)) if rows else None
        self.show_exchange(ex)

    def select(self, id: str) -> bool:
        row = self.model.row_of(id)
        if row < 0:
            return False
        idx = self.proxy.mapFromSource(self.model.index(row, 0))
        self.table.selectRow(idx.row())
        self.table.scrollTo(idx)
        return True

    def show_exchange(self, ex: Exchange | None) -> None:
        self.current = ex
        if ex is None:
            self.detail_stack.setCurrentWidget(self.no_selection)
            return
        self.detail_stack.setCurrentWidget(self.detail_stack.widget(1))
        self._say("")
        self.title.setText(f"{ex.method} {url_of(ex)}")
        rh, sh = ex.request_head(), ex.response_head()
        rows = [
            (self.tr("Status"), f"{ex.status} {ex.reason}".strip() if ex.response else (ex.error or self.tr("no response"))),
            (self.tr("Mapping"), ex.tunnel_name),
            (self.tr("Remote address"), ex.remote_addr),
            (self.tr("Local service"), ex.target),
            (self.tr("Started"), _when(ex.start)),
            (self.tr("Time to first byte"), fmt_duration(ex.ttfb)),
            (self.tr("Duration"), fmt_duration(ex.duration)),
            (self.tr("Request size"), fmt_bytes(ex.request.size)),
            (self.tr("Response size"), fmt_bytes(ex.response.size if ex.response else 0)),
        ]
        if ex.replay_of:
            rows.append((self.tr("Replay of"), ex.replay_of))
        if ex.error and ex.response is not None:
            rows.append((self.tr("Note"), ex.error))
        self.summary.setText("\n".join(f"{k}:  {v}" for k, v in rows))
        self.req_headers.setPlainText(head_lines(rh))
        qp = query_params(ex.uri)
        self.query.setPlainText("\n".join(f"{k} = {v}" for k, v in qp) if qp else self.tr("(none)"))
        self.req_body.show_body(body_of(ex.request, rh))
        self.resp_headers.setPlainText(head_lines(sh) if sh else self.tr("(no response)"))
        self.resp_body.show_body(body_of(ex.response, sh))
        raw = ex.request.raw + (b"\n" + ex.response.raw if ex.response else b"")
        try:
            self.raw.setPlainText(raw.decode("utf-8"))
        except UnicodeDecodeError:
            self.raw.setPlainText(hexdump(raw))

    # ---------------------------------------------------------------- actions
    def _say(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet(f"color: {ERROR_COLOR};" if error else "")
        self.status.setText(text)
        self.status.setVisible(bool(text))

    def _target(self, ex: Exchange) -> str:
        live = next((m for m in self.controller.live_mappings() if m.name == ex.tunnel_name
                     and m.mode in ("http", "https")), None)
        return live.local_addr if live is not None else ex.target

    def replay(self, edit: ReplayEdit | None = None) -> Any:
        ex = self.current
        if ex is None:
            return None
        self._say(self.tr("Replaying…"))

        def done(new: Exchange) -> None:
            self._say(self.tr("Replayed: %1").replace("%1", f"{new.status} {new.reason}".strip()
                                                      if new.response else new.error))

        def failed(e: BaseException) -> None:
            self._say(self.tr("Cannot replay: %1").replace("%1", str(e)), error=True)

        return spawn(replay(self.ring, ex, self._target(ex), edit), done, failed)

    def edit_and_replay(self) -> None:
        if self.current is None:
            return
        self.dialog = EditReplayDialog(self.current, self)

        async def run() -> None:
            dlg = self.dialog
            assert dlg is not None
            if await ask(dlg) == QDialog.DialogCode.Accepted and dlg.edit is not None:
                self.replay(dlg.edit)

        spawn(run())

    def copy_curl(self) -> None:
        if self.current is not None:
            QGuiApplication.clipboard().setText(curl_command(self.current))
            self._say(self.tr("curl command copied to the clipboard."))

    def clear(self) -> None:
        self.ring.clear()
        self.model.refresh()
        self.show_exchange(None)


def _when(ts: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
