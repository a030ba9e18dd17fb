"""The HTML audit report in a real browser: it renders, loads nothing from outside, and prints.

Set CITYID_SCREENSHOTS=DIR to keep the screenshots (docs/images/ holds the published one).
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

from browser import chromium
from PIL import Image, ImageStat
from policy_support import TODAY

from cityid.parties import storage_models
from policies import audit, bundled_catalog, default_catalogue, load_policies, render_html


def test_the_html_report_renders_and_prints_in_chromium(tmp_path: Path) -> None:
    report = audit(
        load_policies([bundled_catalog()]), today=TODAY, catalogue=default_catalogue(), parties=storage_models()
    )
    page_file = tmp_path / "audit.html"
    page_file.write_text(render_html(report), encoding="utf-8")
    requested: list[str] = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda request: requested.append(request.url))
        page.goto(page_file.as_uri())

        assert requested == [page_file.as_uri()]  # no fonts, scripts, images or trackers
        assert page.locator("section.policy").count() == len(report.policies)
        assert page.locator("section.policy.error").count() == 1
        assert "Bank account opening" in page.locator("section.policy.error h3").inner_text()
        assert page.locator("table.matrix tbody tr").count() == len(report.policies)
        assert page.locator("[lang=ar]").first.get_attribute("dir") == "rtl"
        verdict = page.locator(".verdict")
        assert verdict.is_visible() and "Not approvable" in verdict.inner_text()

        shot = page.screenshot(full_page=True)
        image = Image.open(io.BytesIO(shot)).convert("L")
        assert image.width == 1280 and image.height > 3000
        assert ImageStat.Stat(image).stddev[0] > 20  # text and tables, not a blank page

        page.emulate_media(media="print")
        page.set_viewport_size({"width": 700, "height": 1000})  # A4 width less the margins, at 96 dpi
        assert page.locator("nav").is_hidden()
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, "the printed report must fit the page width"
        pdf = page.pdf(format="A4", print_background=True)
        assert pdf.startswith(b"%PDF")
        assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) >= 3  # several printed pages

        if keep := os.environ.get("CITYID_SCREENSHOTS"):
            page.emulate_media(media="screen")
            page.set_viewport_size({"width": 1280, "height": 900})
            page.screenshot(path=str(Path(keep) / "audit-report.png"), full_page=False)
