"""Every screen of the phone wallet in en and ar: no axe violations (with WCAG 2.2 target size),
no sideways scrolling at 320 px with 200% text, right to left in Arabic. The screens are reached
by driving the real app, on a phone that is not throttled: nothing checked here depends on speed
(the journey test runs the throttled phone). With CITYID_SCREENSHOTS=DIR each screen is saved as
DIR/phone-<screen>.png (and DIR/phone-<screen>-ar.png in Arabic; docs/images/ has them).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx
from browser import serving
from phone_support import (
    AXE,
    phones,
    require_browser_and_app,
    screen,
    served_issuer,
)
from playwright.sync_api import Page, sync_playwright

from credential import decode_request_text, encode_request_text
from verifier.app import create_desk_app

AXE_RUN = """async () => {
  const found = (await axe.run(document, {rules: {"target-size": {enabled: true}}})).violations;
  return found.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}));
}"""
"""axe's default rules and WCAG 2.2's target size (off by default), in one run."""


def check_screen(page: Page, name: str, language: str) -> list[str]:
    """The problems found on the current screen, as text (empty when it passes)."""
    problems: list[str] = []
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    problems += [f"{name}/{language} axe {v}" for v in page.evaluate(AXE_RUN)]
    if language == "ar" and page.get_attribute("html", "dir") != "rtl":
        problems.append(f"{name}/ar is not dir=rtl")
    page.set_viewport_size({"width": 320, "height": 640})
    page.evaluate("() => { document.documentElement.style.fontSize = '200%'; }")
    wide = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
    if wide[0] > wide[1]:
        problems.append(f"{name}/{language} scrolls sideways at 320 px with 200% text: {wide}")
    if (keep := os.environ.get("CITYID_SCREENSHOTS")) and (language == "en" or name == "consent"):
        page.evaluate("() => { document.documentElement.style.fontSize = ''; }")
        page.set_viewport_size({"width": 360, "height": 640})
        suffix = "" if language == "en" else "-ar"
        page.screenshot(path=str(Path(keep) / f"phone-{name}{suffix}.png"), full_page=True)
    page.evaluate("() => { document.documentElement.style.fontSize = ''; }")
    page.set_viewport_size({"width": 360, "height": 640})
    return problems


def test_every_phone_screen_is_accessible_and_reflows_in_english_and_arabic(tmp_path: Path) -> None:
    require_browser_and_app()
    problems: list[str] = []
    with served_issuer(tmp_path / "issuer") as issuer, sync_playwright() as playwright:
        issuer.sync_desk(tmp_path / "desk")
        with serving(create_desk_app(tmp_path / "desk", audience="desk:library", clear_after=30)) as desk, \
                phones(playwright, tmp_path) as city:  # fmt: skip
            for language in ("en", "ar"):
                offer = issuer.offer()  # the clerk's pages are the journey test's
                asked = httpx.get(f"{desk}/api/request", params={"policy": "library-card"}).json()["request"]
                request = decode_request_text(asked)
                greedy = encode_request_text(replace(request, claims=(*request.claims, "birthdate")))
                with city.phone(throttle=1) as page:  # a new phone for each language

                    def check(name: str, lang: str = language, shown: Page = page) -> list[str]:
                        return check_screen(shown, name, lang)

                    city.camera.show_text(asked)
                    problems += _receive_and_answer(page, issuer.url, offer.link, offer.pin, language, check)
                    city.camera.show_text(greedy)  # the camera now shows a desk asking for more than its policy
                    problems += _the_other_screens(page, issuer.url, check)
    assert problems == [], "\n".join(problems)


def _receive_and_answer(
    page: Page, base: str, link: str, pin: str, language: str, check: Callable[[str], list[str]]
) -> list[str]:
    found: list[str] = []
    page.goto(f"{base}/wallet/")
    screen(page, "home")
    page.select_option("#language", language)
    page.wait_for_selector(f'html[lang="{language}"]')
    found += check("home")
    page.goto(link)
    screen(page, "offer")
    found += check("offer")
    page.fill("#pin", pin)
    page.click("#pin-submit")
    screen(page, "received", timeout=60_000)
    found += check("received")
    page.click("#done")
    screen(page, "home")
    page.click("#scan-request")
    screen(page, "scan")
    found += check("scan")
    screen(page, "consent")
    found += check("consent")
    page.click("#consent-yes")
    screen(page, "proof")
    found += check("proof")
    page.click("#proof-done")
    screen(page, "home")
    return found


def _the_other_screens(page: Page, base: str, check: Callable[[str], list[str]]) -> list[str]:
    found: list[str] = []
    page.goto(f"{base}/wallet/")
    screen(page, "home")
    page.click("#scan-request")
    screen(page, "refused")
    found += check("refused")
    page.click("#refusal-back")
    screen(page, "home")
    page.click("#open-history")
    screen(page, "history")
    found += check("history")
    page.goto(f"{base}/wallet/")
    screen(page, "home")
    page.click("#show-offline")
    screen(page, "show")
    found += check("show")
    page.goto(f"{base}/wallet/")
    screen(page, "home")
    page.click("#open-settings")
    screen(page, "settings")
    found += check("settings")
    page.fill("#lock-pin", "2468")
    page.click("#lock-save")
    page.wait_for_selector("#lock-remove", state="visible")  # the PIN's key stretching has finished and it is saved
    page.reload()
    screen(page, "lock")
    found += check("lock")
    page.fill("#unlock-pin", "2468")
    page.click("#unlock-submit")
    screen(page, "home")
    return found
