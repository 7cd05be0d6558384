"""How long one ChannelTableModel refresh takes, by number of open channels and churn.

Run: QT_QPA_PLATFORM=offscreen python tests/bench/bench_models.py
Prints a table (median of several refreshes, milliseconds). "full reset" is the
naive alternative (beginResetModel/endResetModel on every tick), shown as the
peer the key-diff is compared with; "+ view" adds a sorted QSortFilterProxyModel
and a QTableView on top, as on the Traffic page.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PySide6.QtCore import QModelIndex, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QTableView  # noqa: E402

from core.stats import Stats  # noqa: E402
from wmproxy_gui.models import ChannelFilterModel, ChannelTableModel, _Row  # noqa: E402

ROUNDS = 15


class ResetModel(ChannelTableModel):
    """The peer: rebuild everything on every tick."""

    def apply(self, snap):  # type: ignore[override]
        self.beginResetModel()
        self._rows = [_Row(c) for c in snap.channels]
        self._pos = {r.rec.key: i for i, r in enumerate(self._rows)}
        self._taken = snap.taken
        self.endResetModel()
        self.refreshed.emit(snap)


def churn(stats: Stats, recs: list, step: int, active_pct: int, churn_n: int) -> list:
    """Each tick: ``active_pct`` % of channels move bytes, ``churn_n`` close and as many open."""
    for i, r in enumerate(recs):
        if (i + step) % 100 < active_pct:
            r.up += 1460
            r.down += 14600
    for r in recs[:churn_n]:
        stats.close_channel(r)
    recs = recs[churn_n:]
    recs += [stats.open_channel(10_000 + step * churn_n + i, "mapping", f"m{i % 9}", f"198.51.100.{i % 200}:{i}",
                                "127.0.0.1:80", "l") for i in range(churn_n)]
    return recs


def measure(cls: type, n: int, active_pct: int, churn_n: int, with_view: bool) -> tuple[float, float]:
    stats = Stats()
    recs = [stats.open_channel(i, "mapping", f"m{i % 9}", f"203.0.113.{i % 250}:{i}", "127.0.0.1:80", "l")
            for i in range(n)]
    model = cls(stats, autostart=False)
    view = None
    if with_view:
        proxy = ChannelFilterModel(model)
        proxy.sort(ChannelTableModel.RATE, Qt.SortOrder.DescendingOrder)
        view = QTableView()
        view.setModel(proxy)
        view.resize(900, 600)
        view.show()
    model.refresh()
    snap_times, apply_times = [], []
    for step in range(ROUNDS):
        recs = churn(stats, recs, step, active_pct, churn_n)
        t0 = time.perf_counter()
        snap = stats.snapshot()
        t1 = time.perf_counter()
        model.apply(snap)
        QApplication.processEvents()
        t2 = time.perf_counter()
        snap_times.append(t1 - t0)
        apply_times.append(t2 - t1)
    assert model.rowCount(QModelIndex()) == len(stats.channels)
    if view is not None:
        view.close()
    return statistics.median(snap_times) * 1000, statistics.median(apply_times) * 1000


def main() -> None:
    app = QApplication.instance() or QApplication([])
    print(f"{'channels':>8} {'active':>6} {'churn':>5} {'view':>5} | {'snapshot ms':>11} | "
          f"{'diff ms':>8} {'reset ms':>9} {'reset/diff':>10}")
    print("-" * 80)
    for n in (100, 1000, 5000):
        for active, churn_n in ((10, 5), (100, 50)):
            for with_view in (False, True):
                s, d = measure(ChannelTableModel, n, active, churn_n, with_view)
                _, r = measure(ResetModel, n, active, churn_n, with_view)
                print(f"{n:>8} {active:>5}% {churn_n:>5} {'yes' if with_view else 'no':>5} | {s:>11.2f} | "
                      f"{d:>8.2f} {r:>9.2f} {r / d if d else float('nan'):>9.1f}x")
    del app


if __name__ == "__main__":
    main()
