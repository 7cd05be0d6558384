"""Which client link serves which public name, on the server.

Routes are keyed by mode and name: ``(http, domain)`` and ``(https, domain)``
are two routes (an ``http`` and an ``https`` mapping of one domain go to
their own local services), ``(http, "")`` is an http catch-all, and tcp/proxy
mappings are found by mode (upstream's shared port: the newest mapping
without a port of its own) or by name.

A domain belongs to one *owner*: a client identity (the id a version-2 client
sends, else username and address). The owner's links all serve it (a
multi-homed client, or a new link of a reconnecting client while its old one
has not timed out yet): routing takes the newest of them. Another client's
claim is refused while the owner holds it; it is kept waiting and takes over,
in the order claims came in, once the owner's last link is gone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from . import frames as F

HTTP_MODES = ("http", "https")
SHARED_MODES = ("tcp", "proxy")  # modes with one shared public port (besides per-mapping remote ports)


class RoutedLink(Protocol):
    """What the router needs of a server link (hashable by identity)."""

    alive: bool
    identity: str  # the client it belongs to
    peer: str


@dataclass(eq=False)
class Route:
    link: RoutedLink
    entry: F.MappingEntry
    port: int = 0  # tcp/proxy: the public port of its own (remote_port), 0 = the shared port
    options: frozenset[str] = frozenset()  # extension "opts": "h2" = the local service speaks HTTP/2


Key = tuple[str, str]  # (mode, lower-cased domain) of an http/https mapping


def route_key(entry: F.MappingEntry) -> Key | None:
    mode = entry.mode.lower()
    return (mode, entry.domain.lower().rstrip(".")) if mode in HTTP_MODES else None


class Router:
    """Routes of every client link; see the module docstring for who wins a domain."""

    def __init__(self) -> None:
        self._claims: dict[Key, list[Route]] = {}  # in the order the claims came in
        self._holder: dict[Key, str] = {}  # key -> owner identity
        self._by_link: dict[RoutedLink, list[Route]] = {}  # its routes, links in announcement order
        self.version = 0  # changes whenever any route or holder changes (lets callers cache lookups)

    # ------------------------------------------------------------ updates
    def update(self, link: RoutedLink, entries: tuple[F.MappingEntry, ...],
               ports: dict[str, int] | None = None,
               options: dict[str, frozenset[str]] | None = None) -> set[RoutedLink]:
        """Replace ``link``'s routes. Returns the links whose standing changed (to tell them)."""
        self.version += 1
        ports = ports or {}
        options = options or {}
        shared_before = self._shared()
        old = {self._ident(r): r for r in self._by_link.get(link, ())}
        routes: list[Route] = []
        changed: set[RoutedLink] = {link}
        for e in entries:
            port = ports.get(e.name, 0) if e.mode in ("tcp", "proxy") else 0
            opts = options.get(e.name, frozenset())
            prev = old.pop((e.mode, e.name, route_key(e)), None)
            if prev is not None:  # same mapping again (an edit): keep its place in the queue
                prev.entry, prev.port, prev.options = e, port, opts
                routes.append(prev)
                continue
            r = Route(link, e, port, opts)
            routes.append(r)
            key = route_key(e)
            if key is not None:
                self._claims.setdefault(key, []).append(r)
                self._holder.setdefault(key, link.identity)
        for r in old.values():
            changed |= self._drop(r)
        self._by_link[link] = routes
        return changed | self._shared_moved(shared_before)

    def remove(self, link: RoutedLink) -> set[RoutedLink]:
        """Forget ``link`` (it closed). Returns the links that took over a domain or a shared port from it."""
        self.version += 1
        shared_before = self._shared()
        changed: set[RoutedLink] = set()
        for r in self._by_link.pop(link, ()):
            changed |= self._drop(r)
        changed |= self._shared_moved(shared_before)
        changed.discard(link)
        return changed

    def _shared(self) -> dict[str, "Route | None"]:
        """Who holds each shared port by the table (a link that died but is not removed yet still
        does: the change is told when it is removed)."""
        return {mode: self._newest_shared(mode, live_only=False) for mode in SHARED_MODES}

    def _shared_moved(self, before: dict[str, "Route | None"]) -> set[RoutedLink]:
        """The links that lost or won a shared port since ``before`` (the newest mapping holds it)."""
        out: set[RoutedLink] = set()
        for mode, now in self._shared().items():
            was = before[mode]
            if was is not now:
                out |= {r.link for r in (was, now) if r is not None}
        return out

    def _drop(self, r: Route) -> set[RoutedLink]:
        key = route_key(r.entry)
        if key is None:
            return set()
        claims = self._claims.get(key, [])
        if r in claims:
            claims.remove(r)
        if not claims:
            self._claims.pop(key, None)
            self._holder.pop(key, None)
            return set()
        holder = self._holder.get(key)
        if any(c.link.identity == holder for c in claims):
            return set()
        self._holder[key] = new = claims[0].link.identity  # the earliest waiting claim takes over
        return {c.link for c in claims if c.link.identity == new}

    @staticmethod
    def _ident(r: Route) -> tuple[str, str, Key | None]:
        return (r.entry.mode, r.entry.name, route_key(r.entry))

    # ------------------------------------------------------------ lookups
    def for_host(self, mode: str, host: str) -> Route | None:
        """The route for a request to ``host`` on the ``mode`` listener.

        The mapping of that exact mode wins; a domain served only in the other
        mode is served here too (upstream routes by domain alone). Then
        ``*.example.com`` wildcards, then a catch-all mapping without domain.
        """
        host = host.lower().rstrip(".")
        other = "https" if mode == "http" else "http"
        names = [host]
        parts = host.split(".")
        names += ["*." + ".".join(parts[i:]) for i in range(1, len(parts))]
        names.append("")
        for name in names:
            for m in (mode, other):
                r = self._active((m, name))
                if r is not None:
                    return r
        return None

    def _active(self, key: Key) -> Route | None:
        holder = self._holder.get(key)
        if holder is None:
            return None
        for r in reversed(self._claims.get(key, ())):
            if r.link.identity == holder and r.link.alive:
                return r
        return None

    def holds(self, r: Route) -> bool:
        """Does ``r`` serve its domain (False: another client holds it and this claim waits)?"""
        key = route_key(r.entry)
        return key is None or self._holder.get(key) == r.link.identity

    def holder_peer(self, r: Route) -> str:
        """Address of a link of the client holding ``r``'s domain (for messages)."""
        key = route_key(r.entry)
        holder = self._holder.get(key) if key else None
        for c in self._claims.get(key, ()) if key else ():
            if c.link.identity == holder:
                return c.link.peer
        return "?"

    def for_mode(self, mode: str) -> Route | None:
        """The shared port of ``mode`` (tcp/proxy): the newest live mapping without a port of its own."""
        return self._newest_shared(mode, live_only=True)

    def _newest_shared(self, mode: str, live_only: bool) -> Route | None:
        best: Route | None = None
        for routes in self._by_link.values():
            for r in routes:
                if r.entry.mode == mode and not r.port and (r.link.alive or not live_only):
                    best = r  # dicts keep insertion order: later links announced later
        return best

    def routes_of(self, link: RoutedLink) -> list[Route]:
        return list(self._by_link.get(link, ()))
