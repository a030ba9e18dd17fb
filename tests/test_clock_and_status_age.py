"""Time, as desks and wallets meet it: status lists live as long as the longest revocation age a
policy may accept, and a refusal about a time near the device's own asks to check its clock."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from desk_support import World, answer, make_world
from fastapi.testclient import TestClient
from issuer_support import running_issuer

from credential import decode_request_text, encode_request_text
from edges.i18n import translator
from issuer.settings import IssuerSettings
from policies import LONGEST_STATUS_AGE, Finding, Severity, check_policy, default_catalogue, parse_policy_text
from policies._registry import RequestExpiredError
from verifier.engine import Desk
from verifier.sync import load_trust

DAY = 86_400
DESK = "http://127.0.0.1:8500"
CLOCK = "Check this device's clock (it says"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """An issuer with its default settings, and a desk synced from it."""
    folder = tmp_path_factory.mktemp("clock")
    with running_issuer(folder / "issuer") as issuer:
        synced = make_world(issuer, folder / "desk")
        synced.sync()
        yield synced


def test_status_lists_live_as_long_as_the_longest_age_a_policy_may_accept() -> None:
    assert IssuerSettings().status_list_lifetime == LONGEST_STATUS_AGE


def test_a_two_day_old_list_passes_a_3_day_policy_and_is_stale_for_a_24_hour_one(world: World) -> None:
    """library-card accepts revocation data 3 days old, clinic-registration 24 hours: the same
    unexpired list, two days on, answers each as its policy says (it used to expire after a day,
    so no policy could accept more than that)."""
    desk = Desk(load_trust(world.data))
    later = int(time.time()) + 2 * DAY
    assert all(token.expires_at is not None and token.expires_at > later for token in desk.trust.status_lists.values())
    library = desk.new_request("library-card", audience="desk:lib", now=later)
    accepted = desk.check(answer(world.residency[0], library, now=later), request=library, now=later)
    assert (accepted.valid, accepted.reason) == (True, "ok"), accepted
    clinic = desk.new_request("clinic-registration", audience="desk:clinic", now=later)
    stale = desk.check(answer(world.identity[0], clinic, now=later), request=clinic, now=later)
    assert (stale.valid, stale.reason) == (False, "status_stale")


def test_a_list_stale_right_after_a_sync_asks_to_check_the_clock(world: World, tmp_path: Path) -> None:
    """A desk whose clock is 30 hours ahead syncs, and finds the fresh list already too old for a
    24-hour policy: that says the clock. A desk that has not synced for as long is not told so."""
    ahead = int(time.time()) + 30 * 3600
    desk_ahead = replace(world, data=tmp_path / "desk-ahead")
    desk_ahead.sync(now=ahead)
    for data, expected in ((desk_ahead.data, True), (world.data, False)):
        desk = Desk(load_trust(data, now=ahead))
        clinic = desk.new_request("clinic-registration", audience="desk:clinic", now=ahead)
        stale = desk.check(answer(world.identity[1], clinic, now=ahead), request=clinic, now=ahead)
        assert (stale.reason, stale.clock_doubt) == ("status_stale", expected), data


def test_the_audit_refuses_a_policy_that_accepts_older_revocation_data_than_lists_live() -> None:
    source = (Path(__file__).parent.parent / "policies" / "catalog" / "library-card.toml").read_text()

    def status_age(age: str) -> list[Finding]:
        policy = parse_policy_text(source.replace('"3d"', age), "library-card.toml").policy
        assert policy is not None
        found = check_policy(policy, catalogue=default_catalogue(), today=dt.date(2026, 12, 1))
        return [finding for finding in found if finding.rule == "status-age"]

    findings = {age: status_age(age) for age in ('"3d"', '"31d"', '"32d"')}
    assert findings['"3d"'] == []
    assert [f.severity for f in findings['"31d"']] == [Severity.WARNING]
    (error,) = findings['"32d"']
    assert error.severity is Severity.ERROR and "status lists expire after 31 days" in error.message


def test_a_request_that_expired_minutes_ago_asks_to_check_the_clock_and_one_from_last_week_does_not(
    world: World,
) -> None:
    desk, now = Desk(load_trust(world.data)), int(time.time())
    request = desk.new_request("library-card", audience="desk:lib", now=now, lifetime=60)
    proof = answer(world.residency[1], request, now=now)
    soon = desk.check(proof, request=request, now=now + 600)
    assert (soon.reason, soon.clock_doubt) == ("request_expired", True)
    long_after = desk.check(proof, request=request, now=now + 7 * DAY)
    assert (long_after.reason, long_after.clock_doubt) == ("request_expired", False)
    assert desk.check(proof, request=request, now=now).valid  # and it was a good proof


def test_the_desk_page_asks_to_check_the_clock_for_a_proof_made_an_hour_ahead(world: World) -> None:
    """A phone an hour ahead makes proofs "from the future": the desk refuses them, and says
    what its own clock reads, so staff can compare the two before turning the resident away."""
    from verifier.app import create_desk_app  # noqa: PLC0415

    client = TestClient(create_desk_app(world.data, audience="desk:lib"), base_url=DESK)
    shown = client.get("/api/request", params={"policy": "library-card"}).json()["request"]
    proof = answer(world.residency[2], decode_request_text(shown), now=int(time.time()) + 3600)
    for lang, words in (("en", "This code is too old. Ask for a new one."), ("es", "Compruebe el reloj")):
        result = client.post("/api/scan", params={"policy": "library-card", "lang": lang}, content=proof.encode(),
                             headers={"Origin": DESK, "Content-Type": "text/plain"}).json()["result"]  # fmt: skip
        assert result["reason"] == "kb_not_fresh" and words in result["words"], result
        assert ("UTC" in result["words"]) and (lang != "en" or CLOCK in result["words"])


def test_verifier_check_asks_to_check_the_clock_and_keeps_the_detail_for_json(world: World) -> None:
    desk, now = Desk(load_trust(world.data)), int(time.time())
    request = desk.new_request("library-card", audience="desk:lib", now=now)
    proof = answer(world.residency[3], request, now=now + 2 * 3600)

    def check(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cityid", "verifier", "check", proof, "--request",
                               encode_request_text(request), "--data", str(world.data), *extra],
                              capture_output=True, text=True, env={**os.environ, "LANG": "C.UTF-8", "LC_ALL": ""},
                              timeout=120, check=False)  # fmt: skip

    shown = check()
    assert shown.returncode == 1 and "kb_not_fresh" in shown.stdout, shown.stdout + shown.stderr
    assert CLOCK in shown.stdout and time.strftime("%H:", time.gmtime()) in shown.stdout.split(CLOCK)[1]
    assert "key-binding" not in shown.stdout  # the technical detail is for --json
    as_json = check("--json")
    assert as_json.returncode == 1 and '"clock_doubt": true' in as_json.stdout and "key-binding" in as_json.stdout


def test_the_wallet_asks_to_check_the_clock_for_a_request_that_has_just_expired(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from wallet.cli import _fail  # noqa: PLC0415

    for expired, hinted in ((int(time.time()) - 120, True), (int(time.time()) - 30 * DAY, False)):
        try:
            raise RequestExpiredError(expired)
        except RequestExpiredError as exc:
            code = _fail(translator("zh-Hans"), exc.reason.value, exc.message).exit_code
        said = " ".join(capsys.readouterr().err.split())
        assert code == 1 and "[request_expired]" in said
        assert ("请检查此设备的时钟" in said) is hinted, said
