"""The app started in 简体中文: no visible widget text, header, button, action or tray menu entry is English.

Names and numbers stay as they are (TLS, HTTP, SOCKS5, CA, SHA-256, wmproxy-gui, URLs, addresses);
everything else a user reads must be translated. Each page is shown with data in it (a profile with
mappings, a connected tunnel, a running server) so the strings of filled tables count too.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import wait_until  # tests/gui/conftest.py
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QComboBox, QGroupBox, QHeaderView, QLabel,
                               QLineEdit,
                               QTabWidget, QWidget)

from core.config import ClientConfig, MappingConfig, ProxyListenerConfig
from core.stats import Stats
from wmproxy_gui.profiles import Profile, new_id

pytestmark = pytest.mark.timeout(120)

# what may stay Latin: product and protocol names, units, placeholders of addresses
ALLOWED = {"TLS", "HTTP", "HTTPS", "SOCKS5", "TCP", "CA", "SHA", "SNI", "PEM", "URL", "IP", "DNS", "KiB", "MiB",
           "GiB", "TiB", "B", "s", "wmproxy", "gui", "toml", "yaml", "yml", "crt", "cer", "key", "der", "http",
           "https", "tcp", "proxy", "socks", "min", "localhost", "example", "com", "app", "Ctrl", "PNG", "ID",
           "TOML", "YAML", "SOCKS", "host", "port",  # format names and the host:port notation
           "IPv", "NUL", "Host",  # IPv4/IPv6, the NUL character, the HTTP Host header
           "English",  # the language's own name in the language list
           "Qt", "PySide", "Python", "linux", "win", "darwin",  # the About line's versions
           # the inspector: HTTP methods, status classes (2xx), formats and tool names
           "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "xx", "API", "CSV", "JSON", "XML", "curl",
           "ngrok"}
USER_DATA = {"web", "ssh", "mixed"}  # names the test's profile gives its mappings: the user's words
WORD = re.compile(r"[A-Za-z]{2,}")
SKIP = re.compile(r"(wmproxy://\S+|https?://\S+|\S+\.(toml|yaml|crt|key|pem)\b|[\w.-]+:\d+|/\S+|"
                  r"[0-9A-F]{2}(:[0-9A-F]{2})+|\{[^}]*\}|%\d)")


def english_words(text: str) -> list[str]:
    text = SKIP.sub(" ", text)
    return [w for w in WORD.findall(text) if w not in ALLOWED and w not in USER_DATA]


def texts_of(root: QWidget) -> list[tuple[str, str]]:
    """(where, text) for every visible string under ``root``."""
    out: list[tuple[str, str]] = []
    for w in [root, *root.findChildren(QWidget)]:
        if not w.isVisibleTo(root) and w is not root:
            continue
        name = f"{type(w).__name__}#{w.objectName()}"
        if isinstance(w, QLabel):
            out.append((name, w.text()))
        elif isinstance(w, QAbstractButton):
            out.append((name, w.text()))
            out.append((name + ".tooltip", w.toolTip()))
            if getattr(w, "menu", lambda: None)() is not None:
                out += [(name + ".menu", a.text()) for a in w.menu().actions()]
        elif isinstance(w, QGroupBox):
            out.append((name, w.title()))
        elif isinstance(w, QLineEdit):
            out.append((name + ".placeholder", w.placeholderText()))
        elif isinstance(w, QComboBox):
            out += [(name, w.itemText(i)) for i in range(w.count())]
        elif isinstance(w, QTabWidget):
            out += [(name, w.tabText(i)) for i in range(w.count())]
        if isinstance(w, QAbstractItemView) and not isinstance(w, QHeaderView) and w.model() is not None:
            m = w.model()
            for c in range(m.columnCount()):
                out.append((name + ".header", str(m.headerData(c, Qt.Orientation.Horizontal) or "")))
            user_data = w.objectName() in ("certificates", "knownHosts")  # subjects, file names, hosts
            for r in range(0 if user_data else min(m.rowCount(), 20)):
                for c in range(m.columnCount()):
                    v = m.data(m.index(r, c))
                    if isinstance(v, str):
                        out.append((f"{name}[{r},{c}]", v))
        for a in w.actions():
            out.append((name + ".action", a.text()))
    return [(where, t) for where, t in out if t]


@pytest.fixture
def zh(qapp):
    from wmproxy_gui.app import install_translators

    translators = install_translators(qapp, "zh_CN")
    assert translators, "the zh_CN translation did not load"
    yield
    for t in translators:
        qapp.removeTranslator(t)


def test_app_in_zh_cn_shows_no_english(zh, qapp, qasync_loop, qrun, tmp_path: Path, profile_store, center_server,
                                       echo_server):
    from wmproxy_gui.app import Application
    from wmproxy_gui.logview import LogSink
    from wmproxy_gui.main_window import PAGE_ORDER
    from wmproxy_gui.settings import SettingsStore

    srv = center_server()
    p = profile_store.upsert(Profile(new_id(), "家里", ClientConfig(
        server=f"127.0.0.1:{srv.addresses['center'][1]}",
        mappings=[MappingConfig("web", "http", "127.0.0.1:8080", domain="web.example.com"),
                  MappingConfig("ssh", "tcp", f"{echo_server[0]}:{echo_server[1]}")],
        proxies=[ProxyListenerConfig("mixed", bind="127.0.0.1:0", protocols=("http", "socks5"))])))
    store = SettingsStore(tmp_path / "settings.toml")
    settings = store.load()
    settings.language = "zh_CN"
    app = Application(qapp, settings_store=store, settings=settings, store=profile_store, log_sink=LogSink(),
                      stats=Stats(), running_language="zh_CN")
    w = app.window
    w.resize(1100, 720)
    w.show()
    found: dict[str, list[str]] = {}

    async def scenario() -> None:
        assert await app.controller.connect_profile(p.id)
        await wait_until(lambda: app.controller.state(p.id) == "connected", 15, "connected")
        await wait_until(lambda: len(app.controller.mapping_status(p.id)) == 2, 10, "mapping verdicts")
        app.controller._tick()
        for key in PAGE_ORDER:
            if key == "logs":
                continue  # log lines are the engine's (English by design, for bug reports)
            page = w.show_page(key)
            if key == "mappings":
                page.select_profile(p.id)
                page.refresh_live()
            if key == "profiles":
                page.select(p.id)
            qapp.processEvents()
            for where, text in texts_of(page) + [("title", w.page_title.text()), ("status", w.status_text.text())]:
                bad = english_words(text)
                if bad:
                    found.setdefault(f"{key}: {where}", []).append(f"{text!r} -> {bad}")
        # the sidebar and the tray menu
        for i in range(w.nav.count()):
            if english_words(w.nav.item(i).text()):
                found.setdefault("sidebar", []).append(w.nav.item(i).text())
        app.tray.rebuild_menu()
        for text in app.tray.all_texts():
            bad = english_words(text.replace("家里", ""))
            if bad:
                found.setdefault("tray menu", []).append(f"{text!r} -> {bad}")
        await app.controller.disconnect_profile(p.id)

    try:
        qrun(scenario(), 60)
    finally:
        qrun(app.controller.shutdown())
        w.hide()
        w.deleteLater()
        app.tray.deleteLater()
    assert not found, "English left in 简体中文:\n" + "\n".join(f"{k}: {v}" for k, v in found.items())


def test_the_checker_finds_english():
    """The check itself can fail: English words are caught, names and addresses are not."""
    assert english_words("Add mapping") == ["Add", "mapping"]
    assert english_words("添加映射") == []
    assert english_words("已连接 127.0.0.1:8091 (TLS) · SHA-256 AB:CD:EF") == []
    assert english_words("wmproxy://u@h:1?x=y 打开 http://a.example.com:80/") == []


# ------------------------------------------------------------------ validation messages in 简体中文

QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")  # values the core quotes: the user's own text


def core_problems() -> list[str]:
    """The core's own wording of what a form can get wrong: addresses, fingerprints, header rules and the
    cross-field rules of validate_config (each produced by the core itself, not copied here)."""
    from core.config import (ClientConfig, ClientTls, Config, MappingConfig, ProxyListenerConfig, check_fingerprint,
                             header_rule_from_words, parse_addr, parse_header_rule, validate_config)
    from core.errors import ConfigError

    out: list[str] = []

    def grab(fn, *a, **kw) -> None:
        try:
            fn(*a, **kw)
        except ConfigError as e:
            out.append(e.problem)
        else:
            raise AssertionError(f"no problem from {fn.__name__}{a}")

    for text in ("", "localhost", "[zz]:1", "a:b:c", "bad_host!:1", "h:x", "h:99999"):
        grab(parse_addr, text)
    grab(check_fingerprint, "abcd")
    for rule in ("'abc", "+ a", "+ b@d v", "x" * 300 + " v"):
        grab(parse_header_rule, rule)
    grab(header_rule_from_words, ["+", "a", "x\ny"])
    grab(header_rule_from_words, ["+", "a", "v" * 300])
    m = MappingConfig
    clients = [
        ClientConfig(server=[]),
        ClientConfig(server=["a:1", "a:1"]),
        ClientConfig(mappings=[m("w", "http", "127.0.0.1:1"), m("w", "tcp", "127.0.0.1:1")]),
        ClientConfig(mappings=[m(" ", "http", "127.0.0.1:1")]),
        ClientConfig(mappings=[m("n" * 300, "http", "127.0.0.1:1")]),
        ClientConfig(mappings=[m("w", "ftp", "127.0.0.1:1")]),
        ClientConfig(mappings=[m("w", "tcp", "")]),
        ClientConfig(mappings=[m("w", "http", "127.0.0.1:1", domain="a b")]),
        ClientConfig(mappings=[m("w", "http", "127.0.0.1:1", domain="d.example"),
                               m("v", "http", "127.0.0.1:1", domain="d.example")]),
        ClientConfig(mappings=[m("w", "http", "127.0.0.1:1"), m("v", "http", "127.0.0.1:1")]),
        ClientConfig(mappings=[m("w", "proxy", proxy_protocol="v1")]),
        ClientConfig(mappings=[m("w", "tcp", "127.0.0.1:1", proxy_protocol="v3")]),
        ClientConfig(mappings=[m("w", "http", "127.0.0.1:1", http2=True)]),
        ClientConfig(mappings=[m("w", "tcp", "127.0.0.1:1", username="u")]),
        ClientConfig(mappings=[m("w", "proxy", username="u")]),
        ClientConfig(mappings=[m("w", "http", "127.0.0.1:1", remote_port=2000)]),
        ClientConfig(mappings=[m("w", "tcp", "127.0.0.1:1", remote_port=70000)]),
        ClientConfig(mappings=[m("w", "tcp", "127.0.0.1:1", remote_port=2000),
                               m("v", "tcp", "127.0.0.1:1", remote_port=2000)]),
        ClientConfig(proxies=[ProxyListenerConfig("p", "127.0.0.1:1"), ProxyListenerConfig("p", "127.0.0.1:2")]),
        ClientConfig(proxies=[ProxyListenerConfig(" ", "127.0.0.1:1")]),
        ClientConfig(proxies=[ProxyListenerConfig("p", "127.0.0.1:1", protocols=())]),
        ClientConfig(proxies=[ProxyListenerConfig("p", "127.0.0.1:1", protocols=("http", "http"))]),
        ClientConfig(proxies=[ProxyListenerConfig("p", "127.0.0.1:1"), ProxyListenerConfig("q", "127.0.0.1:1")]),
        ClientConfig(password="x"),
        ClientConfig(username=""),
        ClientConfig(tls=ClientTls(enabled=True, tofu=True, cert_file="c.pem")),
        ClientConfig(tls=ClientTls(enabled=True, tofu=True, server_name="not a name")),
        ClientConfig(reconnect_min=0),
    ]
    for c in clients:
        grab(validate_config, Config(client=c))
    return out


def test_core_validation_messages_are_all_translated(zh, qapp):
    from wmproxy_gui.pages.validation import known_problem, translate_problem

    problems = core_problems()
    assert len(set(problems)) >= 35
    missing = [p for p in problems if not known_problem(p)]
    assert not missing, "core messages the GUI does not word: " + "; ".join(missing)
    english = {p: english_words(QUOTED.sub(" ", translate_problem(p))) for p in problems}
    bad = {p: w for p, w in english.items() if w}
    assert not bad, "\n".join(f"{p!r} -> {translate_problem(p)!r} {w}" for p, w in bad.items())
    # the user's values come through unchanged
    assert "'h:99999'" in translate_problem("'h:99999': port 99999 is out of range 1-65535")


def test_the_untranslated_core_text_is_shown_when_unknown(qapp):
    """Without a translator, or for a message it does not know, the core's English stays as it is."""
    from wmproxy_gui.pages.validation import translate_problem

    assert translate_problem("some new core message") == "some new core message"
    assert "HOST:PORT" in translate_problem("'x' is not HOST:PORT")


def test_dialogs_with_validation_errors_speak_chinese(zh, qapp, qtbot, profile_store):
    from wmproxy_gui.pages.mappings_page import MappingDialog, ProxyDialog
    from wmproxy_gui.pages.profiles_page import ProfileDialog

    mapping = MappingDialog(None, [MappingConfig("web", "http", "127.0.0.1:8080")])
    qtbot.addWidget(mapping)
    mapping.name.setText("web")  # taken
    mapping.local_addr.setText("127.0.0.1:99999")
    mapping.headers.setPlainText("+ x-ok 1\n'unclosed")
    proxy = ProxyDialog(None, [ProxyListenerConfig("mixed", bind="127.0.0.1:8090")])
    qtbot.addWidget(proxy)
    proxy.bind.setText("127.0.0.1:8090")  # the other listener's
    for cb in proxy.protocols.values():
        cb.setChecked(False)
    proxy.username.setText("u")
    profile = ProfileDialog(profile_store)
    qtbot.addWidget(profile)
    profile.server.setText("localhost")
    profile.servers.add_server("LOCALHOST")
    profile.servers.add_server("localhost:8091")
    profile.servers.add_server("localhost:8091")
    profile.tls.setCurrentIndex(profile.tls.findData("pin"))
    profile.fingerprint.setText("12:34")
    profile.username.setText("bob")
    found: dict[str, list[str]] = {}
    shown = 0
    for dlg, keys in ((mapping, ("name", "local_addr", "headers")), (proxy, ("bind", "protocols", "password")),
                      (profile, ("server", "fingerprint", "password"))):
        dlg.validate()
        for key in keys:
            text = dlg.form.problem(key)
            assert text, f"{type(dlg).__name__}: no problem shown for {key}"
            shown += 1
        for where, text in texts_of(dlg):
            bad = english_words(QUOTED.sub(" ", text))
            if bad:
                found.setdefault(f"{type(dlg).__name__}: {where}", []).append(f"{text!r} -> {bad}")
    assert shown == 9
    assert "服务器 2" in profile.form.problem("server") and "服务器 4" in profile.form.problem("server")
    assert not found, "English left in 简体中文 dialogs:\n" + "\n".join(f"{k}: {v}" for k, v in found.items())


# ------------------------------------------------------------------ a server's refusals of mappings

def server_reasons() -> list[str]:
    """What real servers say when they refuse a mapping (extension "status"), produced by running
    them: no listener for the mode, a domain or the catch-all held by another client, the shared
    port taken by a newer mapping, remote ports below the floor, held by another client, or in use;
    and listen_error's wording of the other operating-system errors."""
    import asyncio
    import errno
    import socket

    from core.client import CenterClient
    from core.config import ServerConfig
    from core.server import CenterServer, listen_error

    def cli(srv: CenterServer, *mappings: MappingConfig) -> CenterClient:
        return CenterClient(ClientConfig(server="127.0.0.1:%d" % srv.addresses["center"][1], username="u",
                                         password="p", mappings=list(mappings), reconnect_min=0.2,
                                         reconnect_max=0.5))

    async def refusals(c: CenterClient, names: set[str]) -> list[str]:
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            st = c.uplinks[0].mapping_status
            if names <= set(st):
                return [st[n].message for n in sorted(names) if not st[n].ok]
            assert asyncio.get_running_loop().time() < deadline, f"no status for {names - set(st)}"
            await asyncio.sleep(0.05)

    async def main() -> list[str]:
        out: list[str] = []
        bare = CenterServer(ServerConfig(bind="127.0.0.1:0", username="u", password="p"))
        full = CenterServer(ServerConfig(bind="127.0.0.1:0", username="u", password="p",
                                         map_http_bind="127.0.0.1:0", map_tcp_bind="127.0.0.1:0"))
        busy = socket.socket()
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        free = socket.socket()
        free.bind(("127.0.0.1", 0))
        shared_port = free.getsockname()[1]
        free.close()
        clients: list[CenterClient] = []
        try:
            for s in (bare, full):
                await s.start()
            a = cli(bare, MappingConfig("web", "http", "127.0.0.1:1", domain="a.test"),
                    MappingConfig("t", "tcp", "127.0.0.1:1"),
                    MappingConfig("low", "tcp", "127.0.0.1:1", remote_port=80))
            b = cli(full, MappingConfig("d", "http", "127.0.0.1:1", domain="d.test"),
                    MappingConfig("all", "http", "127.0.0.1:1"), MappingConfig("s1", "tcp", "127.0.0.1:1"),
                    MappingConfig("p", "tcp", "127.0.0.1:1", remote_port=shared_port))
            clients += [a, b]
            for c in (a, b):
                await c.start()
                await c.wait_connected(10)
            out += await refusals(a, {"web", "t", "low"})
            await refusals(b, {"d", "all", "s1", "p"})
            c2 = cli(full, MappingConfig("d2", "http", "127.0.0.1:1", domain="d.test"),
                     MappingConfig("all2", "http", "127.0.0.1:1"), MappingConfig("s2", "tcp", "127.0.0.1:1"),
                     MappingConfig("p2", "tcp", "127.0.0.1:1", remote_port=shared_port),
                     MappingConfig("inuse", "tcp", "127.0.0.1:1", remote_port=taken))
            clients.append(c2)
            await c2.start()
            await c2.wait_connected(10)
            out += await refusals(c2, {"d2", "all2", "s2", "p2", "inuse"})
            out += await refusals(b, {"s1"})  # the newer s2 took the shared port
        finally:
            for c in clients:
                await c.stop()
            for s in (bare, full):
                await s.stop()
            busy.close()
        for code in (errno.EACCES, errno.EADDRNOTAVAIL, errno.EMFILE):
            out.append(str(listen_error("0.0.0.0:2000", OSError(code, __import__("os").strerror(code)))))
        return out

    return asyncio.run(main())


def test_a_servers_refusals_of_mappings_are_translated(zh, qapp):
    from wmproxy_gui.server_reasons import REASONS, translate_reason

    reasons = server_reasons()
    print("\n".join(reasons))
    assert len(reasons) >= 10, reasons
    missing = [r for r in reasons if not REASONS.knows(r)]
    assert not missing, "server refusals the GUI does not word: " + "; ".join(missing)
    values = re.compile(r"map_\w+_bind|\S+\.test\b")  # config keys and the test's domains: not words to translate
    english = {r: english_words(values.sub(" ", QUOTED.sub(" ", translate_reason(r)))) for r in reasons}
    bad = {r: w for r, w in english.items() if w and "Too many open files" not in r}  # the OS's own words
    assert not bad, "\n".join(f"{r!r} -> {translate_reason(r)!r} {w}" for r, w in bad.items())
    assert translate_reason("a reason from a newer server") == "a reason from a newer server"
