"""Cross-origin access for wallets that run in a browser on another origin (RFC 6454, Fetch).

Only the wallet-facing endpoints open up: the public, read-only metadata, keys, status lists,
types, registry and trust bundle, and the OpenID4VCI issuance endpoints, which authenticate
with an ``Authorization`` header and never with a cookie. So the answer is
``Access-Control-Allow-Origin: *`` without credentials, and a cross-origin page can read an
issuance answer only with the access token it already holds. The clerk pages (``/desk``) and
the phone app (``/wallet/``) get no CORS headers at all: a browser keeps other sites out of them.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

OPEN_PREFIXES = ("/.well-known/", "/status/", "/types/")
OPEN_PATHS = frozenset({"/trust", "/registry", "/token", "/credential", "/nonce", "/notification"})
ALLOWED_HEADERS = "Authorization, Content-Type, DPoP"
EXPOSED_HEADERS = "WWW-Authenticate, DPoP-Nonce, Retry-After"
PREFLIGHT_MAX_AGE = 600


def is_open(path: str) -> bool:
    """Whether ``path`` may be read from another origin."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


class WalletCors:
    """Answer preflights and add the CORS headers on the open paths; elsewhere, do nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope["headers"]}
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            await send({"type": "http.response.start", "status": 204, "headers": [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
                (b"access-control-max-age", str(PREFLIGHT_MAX_AGE).encode()),
                (b"cache-control", b"no-store"),
            ]})  # fmt: skip
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"access-control-allow-origin", b"*"),
                    (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
                ]
            await send(message)

        await self.app(scope, receive, with_cors)
