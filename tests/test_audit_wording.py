"""The audit report reads as people write: one policy *has* errors, ages in days."""

from __future__ import annotations

import datetime as dt
import re

from cityid.parties import storage_models
from policies import audit, bundled_catalog, default_catalogue, load_policies, render_html, render_markdown, verdict

TODAY = dt.date(2026, 12, 1)


def test_one_policy_with_errors_has_errors_and_ages_read_in_days() -> None:
    report = audit(
        load_policies([bundled_catalog()]), today=TODAY, catalogue=default_catalogue(), parties=storage_models()
    )
    assert verdict(report).startswith("Not approvable: 1 of 10 policies has errors (bank-account-opening;")
    html = render_html(report)
    assert "cityid · 10 policies ·" in html
    assert "at most 90 days old" in html and "at most 3 days old" in html
    assert not re.search(r"at most \d+ hours old", html)
    assert "accepts revocation data 90 days old, but status lists expire after 31 days" in render_markdown(report)


def test_a_report_of_one_policy_says_policy() -> None:
    report = audit(
        load_policies([bundled_catalog() / "library-card.toml"]),
        today=TODAY,
        catalogue=default_catalogue(),
        parties=storage_models(),
    )
    assert "cityid · 1 policy ·" in render_html(report)
