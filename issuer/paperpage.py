"""The paper proof as the clerk's desk prints it: the same page the wallet prints."""

from __future__ import annotations

import base64

from edges.paper import compose, render, to_bytes
from policies import Policy

from .service import PaperIssued


def paper_page(issued: PaperIssued, policy: Policy, language: str, now: int) -> str:
    """The page as base64 PNG, for an ``<img>`` the browser prints."""
    page = compose(
        language, policy.title_in(language), issued.facts, issued.qr_text, printed=now, until=issued.expires_at
    )
    return base64.b64encode(to_bytes(render(page), "png")).decode("ascii")
