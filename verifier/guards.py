"""The desk app's HTTP guards: it answers only at its own address and only its own page may
change anything; the security headers on every response are
``edges.middleware.SecurityHeaders``.

A desk runs on ``127.0.0.1``, but any web page the desk's browser opens can send requests
there, and a domain that resolves to ``127.0.0.1`` (DNS rebinding) can even read the answers.
So :class:`SameOrigin` refuses, with a 403 and a stable ``reason``:

* ``forbidden_host``: a ``Host`` that is not the desk's own address (DNS rebinding);
* ``forbidden_origin``: an ``Origin`` that is not the desk's own, or a request that changes
  state (anything but GET and HEAD) without ``Origin`` or ``Sec-Fetch-Site: same-origin``
  showing it comes from the desk's own page.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
EVERY_INTERFACE = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - names to recognise, not to bind
SAFE_METHODS = frozenset({"GET", "HEAD"})


def own_hosts(host: str, port: int) -> frozenset[str]:
    """The ``Host`` values of a desk served on ``host:port``: that address, and, when it is a
    loopback address (or every interface), each loopback name, all with the port."""
    names = {host.lower()} - EVERY_INTERFACE
    if host.lower() in LOOPBACK | EVERY_INTERFACE:
        names |= LOOPBACK
    bracketed = {f"[{name}]" if ":" in name else name for name in names}
    return frozenset({f"{name}:{port}" for name in bracketed} | (bracketed if port == 80 else set()))


def refusal(method: str, headers: Mapping[str, str], hosts: Collection[str]) -> tuple[str, str] | None:
    """Why a request to a desk served at ``hosts`` is refused (reason, message), or ``None``."""
    if headers.get("host", "").lower() not in hosts:
        return "forbidden_host", "this desk answers only at its own address"
    origin, site = headers.get("origin"), headers.get("sec-fetch-site")
    if origin is not None and origin.lower() not in {f"http://{host}" for host in hosts}:
        return "forbidden_origin", "only the desk's own page may call it"
    if method not in SAFE_METHODS and (site not in (None, "same-origin") or (origin is None and site is None)):
        return "forbidden_origin", "only the desk's own page may change anything (no Origin shows it came from there)"
    return None


class SameOrigin:
    """Refuse requests that are not for this desk's own address or not from its own page.
    ``allowed_hosts`` defaults to the address the server is listening on."""

    def __init__(self, app: ASGIApp, allowed_hosts: Collection[str] | None = None) -> None:
        self.app = app
        self.hosts = None if allowed_hosts is None else frozenset(host.lower() for host in allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        server = scope.get("server")
        hosts = self.hosts if self.hosts is not None else own_hosts(*server) if server else frozenset()
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        refused = refusal(scope["method"], headers, hosts)
        if refused is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps({"reason": refused[0], "message": refused[1]}).encode()
        answer = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 403, "headers": answer})
        await send({"type": "http.response.body", "body": body})
