"""Qt models over real Stats registries: diffing 1,000 channels, rates, sorting/filtering, totals, lists."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QImage

from core.config import MappingConfig, ProxyListenerConfig, parse_header_rule
from core.stats import Stats
from wmproxy_gui.models import (KEY_ROLE, SORT_ROLE, ChannelFilterModel, ChannelTableModel, LinkTableModel,
                                MappingTableModel, ProxyTableModel, TotalsModel, copy_name, fmt_age, fmt_bytes)
from wmproxy_gui.widgets.graph import ThroughputGraph

pytestmark = pytest.mark.timeout(60)
N = 1000


class Recorder:
    """Counts the model's change signals, to prove the diff touches only what moved."""

    def __init__(self, model: ChannelTableModel) -> None:
        self.inserted: list[tuple[int, int]] = []
        self.removed: list[tuple[int, int]] = []
        self.changed: list[tuple[int, int, int, int]] = []
        self.resets = 0
        model.rowsInserted.connect(lambda _p, a, b: self.inserted.append((a, b)))
        model.rowsRemoved.connect(lambda _p, a, b: self.removed.append((a, b)))
        model.dataChanged.connect(lambda tl, br, _r=None: self.changed.append(
            (tl.row(), br.row(), tl.column(), br.column())))
        model.modelReset.connect(lambda: setattr(self, "resets", self.resets + 1))

    def clear(self) -> None:
        self.inserted.clear()
        self.removed.clear()
        self.changed.clear()


def open_many(stats: Stats, n: int = N) -> list:
    return [stats.open_channel(i, "mapping" if i % 4 else "proxy", f"svc{i % 7}", f"203.0.113.{i % 250}:{40000 + i}",
                               f"127.0.0.1:{8000 + i % 10}", "link-1") for i in range(n)]


def keys_in_model(model: ChannelTableModel) -> list[int]:
    return [model.data(model.index(r, 0), KEY_ROLE) for r in range(model.rowCount())]


def test_diff_of_1000_channels_touches_only_changed_rows(qapp):
    stats = Stats()
    recs = open_many(stats)
    model = ChannelTableModel(stats, autostart=False)
    rec = Recorder(model)
    snap0 = stats.snapshot()
    model.apply(snap0)
    assert model.rowCount() == N and rec.inserted == [(0, N - 1)] and rec.resets == 0
    assert keys_in_model(model) == [r.key for r in recs]
    rec.clear()

    # 10 channels move bytes, 50 close (in two runs and some singles), 25 open
    moved = recs[100:110]
    for r in moved:
        r.up += 1000
        r.down += 3000
    closing = recs[200:230] + recs[500:510] + recs[900:1000:10]
    for r in closing:
        stats.close_channel(r)
    fresh = [stats.open_channel(5000 + i, "mapping", "new", "198.51.100.1:1", "127.0.0.1:1", "link-1")
             for i in range(25)]
    snap1 = dataclasses.replace(stats.snapshot(), taken=snap0.taken + 2.0)  # exactly 2 s later
    model.apply(snap1)

    assert rec.resets == 0
    assert sum(b - a + 1 for a, b in rec.removed) == len(closing)
    assert len(rec.removed) == 2 + 10  # contiguous runs are removed in one go
    assert rec.inserted == [(N - len(closing), N - len(closing) + 24)]
    byte_changes = [c for c in rec.changed if c[2] != ChannelTableModel.AGE]
    age_changes = [c for c in rec.changed if c[2] == ChannelTableModel.AGE]
    assert len(age_changes) == 1  # one signal for the whole age column
    rows = [model.data(model.index(r, 0), KEY_ROLE) for a, b, *_ in byte_changes for r in range(a, b + 1)]
    assert sorted(rows) == sorted(r.key for r in moved)  # only the 10 that moved
    assert keys_in_model(model) == [r.key for r in recs if r not in closing] + [r.key for r in fresh]

    row = keys_in_model(model).index(moved[0].key)
    assert model.data(model.index(row, ChannelTableModel.RATE), SORT_ROLE) == pytest.approx(2000.0)  # 4000 B / 2 s
    assert model.rates(moved[0].key) == (pytest.approx(500.0), pytest.approx(1500.0))
    assert model.data(model.index(row, ChannelTableModel.UP)) == fmt_bytes(1000)

    # a quiet second: the rate is averaged over the last 3 s (no jump to 0), and only the rows that
    # had a rate change
    rec.clear()
    model.apply(dataclasses.replace(stats.snapshot(), taken=snap1.taken + 1.0))
    rows = [r for a, b, c, _ in rec.changed if c != ChannelTableModel.AGE for r in range(a, b + 1)]
    assert len(rows) == len(moved)
    assert model.data(model.index(row, ChannelTableModel.RATE), SORT_ROLE) == pytest.approx(4000 / 3)
    # quiet for a whole window: 0
    for extra in (2.0, 3.0):
        model.apply(dataclasses.replace(stats.snapshot(), taken=snap1.taken + extra))
    assert model.data(model.index(row, ChannelTableModel.RATE), SORT_ROLE) == 0.0


def test_filter_and_numeric_sort_through_proxy_model(qapp):
    stats = Stats()
    recs = open_many(stats, 300)
    for i, r in enumerate(recs):
        r.up = (i * 7919) % 1000 * 1024  # KiB values whose text order differs from numeric order
    model = ChannelTableModel(stats, autostart=False)
    model.refresh()
    proxy = ChannelFilterModel(model)
    proxy.sort(ChannelTableModel.UP, Qt.SortOrder.DescendingOrder)
    ups = [proxy.data(proxy.index(r, ChannelTableModel.UP), SORT_ROLE) for r in range(proxy.rowCount())]
    assert ups == sorted((r.up for r in recs), reverse=True)
    proxy.setFilterFixedString("SVC3")  # case-insensitive, any column
    assert proxy.rowCount() == sum(1 for r in recs if r.name == "svc3") > 0
    proxy.setFilterFixedString("127.0.0.1:8005")
    assert proxy.rowCount() == sum(1 for r in recs if r.target.endswith(":8005"))


def test_timer_refresh_and_refreshed_signal(qtbot):
    stats = Stats()
    model = ChannelTableModel(stats, interval_ms=50)
    seen = []
    model.refreshed.connect(seen.append)
    stats.open_channel(1, "mapping", "web", "1.2.3.4:5", "127.0.0.1:80", "l")
    qtbot.waitUntil(lambda: model.rowCount() == 1 and bool(seen), timeout=5000)
    assert seen[-1].channels[0].name == "web"
    model.timer.stop()


def test_totals_include_closed_channels_and_links_filter_role(qapp):
    stats = Stats()
    a = stats.open_channel(1, "mapping", "web", "p", "t", "l")
    b = stats.open_channel(2, "mapping", "web", "p", "t", "l")
    c = stats.open_channel(3, "proxy", "socks", "p", "t", "l")
    a.up, a.down, b.up, c.down = 10, 20, 5, 7
    stats.close_channel(a)
    totals = TotalsModel()
    totals.apply(stats.snapshot())
    assert totals.totals() == {"socks": (1, 0, 7), "web": (1, 15, 20)}

    stats.open_link("s1", "server", "198.51.100.7:5000", tls=True)
    stats.update_link(stats.links["s1"], username="alice", mappings=("web", "ssh"), state="connected")
    stats.open_link("c1", "client", "127.0.0.1:8091")
    links = LinkTableModel("server")
    links.apply(stats.snapshot())
    assert links.rowCount() == 1
    assert [links.data(links.index(0, col)) for col in range(4)] == ["198.51.100.7:5000", "alice", "web, ssh", "yes"]


def test_mapping_and_proxy_list_models(qapp):
    model = MappingTableModel([MappingConfig("web", "http", "127.0.0.1:8080", "a.test",
                                             [parse_header_rule("proxy + from $url"), parse_header_rule("- etag")]),
                               MappingConfig("ssh", "tcp", "127.0.0.1:22", remote_port=2222)])
    changes = []
    model.changed.connect(lambda: changes.append(1))
    assert model.data(model.index(0, 0), Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    assert model.setData(model.index(1, 0), Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    assert model.item(1).enabled is False and changes == [1]
    row = model.duplicate(0, copy_name)
    assert row == 1 and model.item(1).name == "web-copy" and len(changes) == 2
    assert copy_name("web", {"web-copy", "web-copy2"}) == "web-copy3"
    assert model.data(model.index(2, 5)) == "2222"
    assert model.data(model.index(0, 6)) == "proxy + from $url; - etag" and model.data(model.index(2, 6)) == "-"
    model.remove(0)
    assert [m.name for m in model.items()] == ["web-copy", "ssh"]

    proxies = ProxyTableModel([ProxyListenerConfig("p", "127.0.0.1:1080", ("socks5",), username="u")])
    assert proxies.data(proxies.index(0, 3)) == "SOCKS5" and proxies.data(proxies.index(0, 4)) == "user u"
    assert proxies.rowCount(QModelIndex()) == 1


def test_formatting():
    assert fmt_bytes(0) == "0 B" and fmt_bytes(1536) == "1.5 KiB" and fmt_bytes(5 * 1024 ** 3) == "5.0 GiB"
    assert fmt_age(12) == "12s" and fmt_age(75) == "1m 15s" and fmt_age(7300) == "2h 01m"


def test_graph_paints_series(qtbot):
    g = ThroughputGraph(span=60)
    qtbot.addWidget(g)
    g.resize(400, 200)
    g.set_series("up", "Up", "#ff0000")
    blank = QImage(g.size(), QImage.Format.Format_ARGB32)
    g.render(blank)
    for v in (0, 1000, 50_000, 20_000):
        g.add({"up": v})
    assert list(g.series["up"].samples) == [0, 1000, 50_000, 20_000] and g.peak() == 50_000
    img = QImage(g.size(), QImage.Format.Format_ARGB32)
    g.render(img)
    red = sum(1 for x in range(0, 400, 2) for y in range(0, 200, 2)
              if (c := img.pixelColor(x, y)).red() > 200 and c.green() < 80 and c.blue() < 80)
    assert red > 5  # the line (and legend swatch) is drawn in the series colour


def test_column_titles_are_translated(qapp) -> None:
    """Model headers are marked for lupdate (context "models") and come out in 简体中文."""
    from PySide6.QtCore import QTranslator

    from wmproxy_gui.models import ChannelTableModel, LinkTableModel, MappingTableModel, TotalsModel

    qm = Path(__file__).resolve().parents[2] / "resources" / "translations" / "wmproxy_gui_zh_CN.qm"
    tr = QTranslator()
    assert tr.load(str(qm))
    qapp.installTranslator(tr)
    try:
        for model in (ChannelTableModel(Stats(), autostart=False), TotalsModel(), LinkTableModel(),
                      MappingTableModel()):
            titles = [model.headerData(i, Qt.Orientation.Horizontal) for i in range(model.columnCount())]
            untranslated = [t for t, src in zip(titles, model.HEADERS) if t == src and src != "TLS"]
            assert not untranslated, f"{type(model).__name__}: {untranslated}"
    finally:
        qapp.removeTranslator(tr)
