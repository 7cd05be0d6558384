"""Live traffic: every open channel, a throughput graph, and totals per mapping/proxy.

One Stats snapshot per second feeds all three (ChannelTableModel's timer emits
``refreshed``), so the page costs the same whether it shows 1 or 1,000 channels'
worth of widgets: the views only repaint rows that changed.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton,
                               QSplitter, QStackedWidget, QTabWidget, QTableView, QVBoxLayout, QWidget)

from core.stats import Snapshot

from ..models import (KEY_ROLE, ChannelFilterModel, ChannelTableModel, ClosedTableModel, RateWindow, TotalsModel,
                      fmt_bytes, fmt_rate)
from ..widgets.common import EmptyState
from ..widgets.graph import ThroughputGraph

GRAPH_SPAN = 300  # seconds of history: "the last minutes"


class TrafficPage(QWidget):
    def __init__(self, controller: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.model = ChannelTableModel(controller.stats, self)
        self.proxy = ChannelFilterModel(self.model, self)
        self.totals = TotalsModel(self)
        self.closed = ClosedTableModel(self)
        self.closed_proxy = ChannelFilterModel(self.closed, self)
        self.window = RateWindow()  # the summary's and the graph's rates: same 3 s window as the rows
        self.selected_key: int | None = None

        self.filter = QLineEdit(placeholderText=self.tr("Filter by mapping, peer or target…"))
        self.filter.setClearButtonEnabled(True)
        self.filter.setObjectName("filter")
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.filter.textChanged.connect(self.closed_proxy.setFilterFixedString)
        self.summary = QLabel()
        self.summary.setObjectName("summary")
        self.summary.setWordWrap(True)
        self.close_button = QPushButton(self.tr("Close connection"))
        self.close_button.setObjectName("closeChannel")
        self.close_button.setToolTip(self.tr("Close the selected live connection"))
        self.close_button.setEnabled(False)
        self.close_button.clicked.connect(self.close_selected)
        top = QHBoxLayout()
        top.addWidget(self.filter, 2)
        top.addWidget(self.summary, 3)
        top.addWidget(self.close_button)

        self.table = QTableView()
        self.table.setObjectName("channels")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(ChannelTableModel.AGE, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setSectionResizeMode(ChannelTableModel.TARGET, QHeaderView.ResizeMode.Stretch)  # the long one gives
        hh.setStretchLastSection(False)  # so the Age column is never under the scrollbar
        for col, w in ((0, 110), (1, 140), (3, 72), (4, 72), (5, 84), (6, 56)):
            self.table.setColumnWidth(col, w)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)

        self.closed_view = QTableView()
        self.closed_view.setObjectName("closedChannels")
        self.closed_view.setModel(self.closed_proxy)
        self.closed_view.setSortingEnabled(True)
        self.closed_view.sortByColumn(ClosedTableModel.CLOSED_AT, Qt.SortOrder.DescendingOrder)
        self.closed_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.closed_view.verticalHeader().hide()
        self.closed_view.setAlternatingRowColors(True)
        self.closed_view.setWordWrap(False)  # long reasons are cut with "…" (the tooltip has them whole)
        ch = self.closed_view.horizontalHeader()
        ch.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        ch.setStretchLastSection(True)  # the reason
        for col, w in ((0, 130), (1, 150), (2, 150), (3, 80), (4, 80), (5, 80), (6, 80)):
            self.closed_view.setColumnWidth(col, w)

        self.empty = EmptyState(
            self.tr("No open channels"),
            self.tr("Connections through your mappings and local proxies show up here live, "
                    "with their peers, targets and rates. Connect a profile or start the server."))
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.table)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("trafficTabs")
        self.tabs.addTab(self.stack, self.tr("Open"))
        self.tabs.addTab(self.closed_view, self.tr("Closed"))

        self.graph = ThroughputGraph(GRAPH_SPAN)
        self.graph.setObjectName("graph")
        self.graph.set_series("up", self.tr("Up"), "#1e88e5")
        self.graph.set_series("down", self.tr("Down"), "#43a047")

        self.totals_view = QTableView()
        self.totals_view.setObjectName("totals")
        self.totals_view.setModel(self.totals)
        self.totals_view.verticalHeader().hide()
        header = self.totals_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # the name takes what is left
        header.setMinimumSectionSize(60)
        self.totals_view.setMinimumWidth(260)

        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.graph)
        bottom.addWidget(self.totals_view)
        bottom.setStretchFactor(0, 3)
        bottom.setStretchFactor(1, 2)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.tabs)
        split.addWidget(bottom)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(split)
        self.model.refreshed.connect(self._on_snapshot)
        self.model.refresh()

    # ---- per-second update
    def _on_snapshot(self, snap: Snapshot) -> None:
        up_rate, down_rate = self.window.add(snap.taken, snap.total_up, snap.total_down)
        self.closed.apply(self.controller.stats)
        values = {"up": up_rate, "down": down_rate}
        if self.selected_key is not None:
            if self.model.record(self.selected_key) is None:  # the channel closed
                self.graph.remove_series("sel")
                self.selected_key = None
            else:
                values["sel"] = sum(self.model.rates(self.selected_key))
        self.graph.add(values)
        self.totals.apply(snap)
        n = len(snap.channels)
        self.stack.setCurrentWidget(self.table if n else self.empty)
        self.tabs.setTabText(0, self.tr("Open ({n})").format(n=n))
        self.tabs.setTabText(1, self.tr("Closed ({n})").format(n=self.closed.rowCount()))
        self.summary.setText(self.tr("{n} open · total ↑ {up} ↓ {down} · now ↑ {ur} ↓ {dr}").format(
            n=n, up=fmt_bytes(snap.total_up), down=fmt_bytes(snap.total_down), ur=fmt_rate(up_rate),
            dr=fmt_rate(down_rate)))
        self.close_button.setEnabled(self.selected_key is not None)

    def close_selected(self) -> bool:
        """Close the selected live connection (the peer sees it closed; it moves to the Closed tab)."""
        if self.selected_key is None:
            return False
        return bool(self.controller.close_channel(self.selected_key))

    def _selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        key = self.proxy.data(rows[0], KEY_ROLE) if rows else None
        if key == self.selected_key:
            return
        self.selected_key = key
        self.close_button.setEnabled(key is not None)
        self.graph.remove_series("sel")
        if key is not None:
            rec = self.model.record(key)
            label = f"{rec.name} ← {rec.peer}" if rec else str(key)
            self.graph.set_series("sel", label, "#e53935", dashed=True)
