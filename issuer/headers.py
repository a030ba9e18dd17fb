"""Security headers on every response of the issuer, error responses included.

No page of the issuer may be framed, send a referrer or be sniffed into another type; a
response without its own content security policy gets one that allows nothing (the clerk's
pages set their own, ``issuer/desk.py``). Over HTTPS, browsers are told to stay on HTTPS.
``edges.middleware.SecurityHeaders`` adds them.
"""

from __future__ import annotations

HSTS = "max-age=31536000"


def security_headers(*, https: bool) -> dict[str, str]:
    """The headers every response carries (HSTS only when the issuer is served over HTTPS)."""
    headers = {
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    }
    if https:
        headers["Strict-Transport-Security"] = HSTS
    return headers
