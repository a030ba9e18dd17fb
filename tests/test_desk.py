"""The desk engine and trust sync: offline checks against synced trust, with every refusal."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from desk_support import answer, make_world, offline, paper
from issuer_support import PASSPHRASE, running_issuer
from typer.testing import CliRunner

from cityid.cli import app
from credential import encode_request_text
from edges.camerasim import camera_frame
from edges.keyfile import new_es256_key, public_jwks
from edges.qrimage import make_qr
from issuer.commands import export_trust
from issuer.db import sessions
from issuer.service import revoke_batch
from verifier.engine import Desk
from verifier.sync import SyncError, load_trust, sync


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    with running_issuer(tmp_path / "issuer") as issuer:
        yield make_world(issuer, tmp_path / "desk")


def test_a_synced_desk_accepts_an_answer_and_shows_only_the_policys_claims(world) -> None:  # type: ignore[no-untyped-def]
    world.sync()
    desk, now = Desk(load_trust(world.data)), int(time.time())
    request = desk.new_request("library-card", audience="desk:lib", now=now)
    result = desk.check(answer(world.residency[0], request, disclose=("resident_of", "age_over_18"), now=now),
                        request=request, now=now)  # fmt: skip
    assert result.valid, result
    assert result.claims == {"resident_of": "Riverton"} and result.dropped == ("age_over_18",)
    assert result.device_bound is True and result.policy == "library-card"
    again = desk.check(answer(world.residency[1], request, now=now), request=request, now=now)
    assert (again.valid, again.reason) == (False, "replayed")


def test_a_desk_reads_cid2_answers_and_older_desks_get_cid1(world) -> None:  # type: ignore[no-untyped-def]
    """A desk's request says it reads CID2:, so the wallet leaves out what the desk rebuilds; a
    CID1:-only desk (CIDR1:) gets CID1:. The same CID2: proof shown to another request is
    refused as an answer to another request, not as a forgery."""
    world.sync()
    desk, now = Desk(load_trust(world.data)), int(time.time())
    request = desk.new_request("library-card", audience="desk:lib", now=now)
    assert request.codec == 2 and encode_request_text(request).startswith("CIDR2:")
    proof = answer(world.residency[0], request, now=now)
    assert proof.startswith("CID2:") and desk.check(proof, request=request, now=now).valid
    other = desk.new_request("library-card", audience="desk:lib", now=now)
    assert desk.check(proof, request=other, now=now).reason == "nonce_mismatch"
    old_desk = replace(desk.new_request("library-card", audience="desk:lib", now=now), codec=1)
    older = answer(world.residency[1], old_desk, now=now)
    assert older.startswith("CID1:") and desk.check(older, request=old_desk, now=now).valid


def test_a_status_list_past_its_expiry_is_stale(tmp_path: Path) -> None:
    """recreation-centre accepts status data 3 days old, but this issuer's lists expire in a day
    (set shorter than the default, which covers every policy): past its exp, a list is stale."""
    with running_issuer(tmp_path / "issuer", status_list_lifetime=86_400) as issuer:
        world = make_world(issuer, tmp_path / "desk")
        world.sync()
    now = int(time.time())
    desk = Desk(load_trust(world.data))
    later = now + 86_400 + 1
    request = desk.new_request("recreation-centre", audience="desk:rec", now=later - 10)
    result = desk.check(answer(world.residency[0], request, now=later - 5), request=request, now=later)
    assert (result.valid, result.reason) == (False, "status_stale")
    fresh = desk.new_request("recreation-centre", audience="desk:rec", now=now)
    assert desk.check(answer(world.residency[1], fresh, now=now), request=fresh, now=now).valid


def test_each_policy_judges_staleness_by_its_own_max_status_age(tmp_path: Path) -> None:
    """With week-long status lists, two days after a sync: fine for a 3-day policy, stale for 24 h."""
    with running_issuer(tmp_path / "issuer", status_list_lifetime=7 * 86_400) as issuer:
        world = make_world(issuer, tmp_path / "desk")
        world.sync()
        desk, later = Desk(load_trust(world.data)), int(time.time()) + 2 * 86_400
        recreation = desk.new_request("recreation-centre", audience="desk:rec", now=later)
        assert desk.check(answer(world.residency[0], recreation, now=later), request=recreation, now=later).valid
        clinic = desk.new_request("clinic-registration", audience="desk:clinic", now=later)
        result = desk.check(answer(world.identity[0], clinic, now=later), request=clinic, now=later)
        assert (result.valid, result.reason) == (False, "status_stale")


def test_revocation_reaches_the_desk_at_its_next_sync(tmp_path: Path) -> None:
    with running_issuer(tmp_path / "issuer") as issuer:
        world = make_world(issuer, tmp_path / "desk")
        offer = issuer.offer()
        other = issuer.receive(offer, count=1)
        with sessions(issuer.engine).begin() as session:
            revoke_batch(session, issuer.clerk(), offer.revocation_code, now=int(time.time()))
        issuer.client.app.state.runtime.status_cache.invalidate()
        world.sync()
        desk, now = Desk(load_trust(world.data)), int(time.time())
        request = desk.new_request("library-card", audience="desk:lib", now=now)
        revoked = next(r for r in other if r.configuration == "residency")
        result = desk.check(answer(revoked, request, now=now), request=request, now=now)
        assert (result.valid, result.reason) == (False, "revoked")
        fine = desk.new_request("library-card", audience="desk:lib", now=now)
        assert desk.check(answer(world.residency[0], fine, now=now), request=fine, now=now).valid


def test_paper_only_under_a_paper_policy(world) -> None:  # type: ignore[no-untyped-def]
    world.sync()
    desk, now = Desk(load_trust(world.data)), int(time.time())
    accepted = desk.check(paper(world.residency[0], ("resident_of",)), policy="library-card", now=now)
    assert accepted.valid and accepted.device_bound is False
    refused = desk.check(paper(world.identity[0], ("given_name", "family_name", "birthdate")),
                         policy="clinic-registration", now=now)  # fmt: skip
    assert (refused.valid, refused.reason) == (False, "paper_not_accepted")


def test_offline_proofs_are_fresh_policy_bound_and_shown_once(world) -> None:  # type: ignore[no-untyped-def]
    world.sync()
    desk, now = Desk(load_trust(world.data)), int(time.time())
    proof = offline(world.residency[0], "senior-discount", ("age_over_65",), now, nonce="fresh-nonce-0123456789")
    assert desk.check(proof, policy="senior-discount", now=now).valid
    assert desk.check(proof, policy="senior-discount", now=now).reason == "replayed"
    elsewhere = offline(world.residency[1], "senior-discount", ("age_over_65",), now, nonce="another-nonce-0123456")
    assert desk.check(elsewhere, policy="library-card", now=now).reason == "audience_mismatch"
    old = offline(world.residency[2], "senior-discount", ("age_over_65",), now - 600, nonce="old-nonce-0123456789ab")
    assert desk.check(old, policy="senior-discount", now=now).reason == "kb_not_fresh"


def test_sync_refuses_a_stranger_an_old_registry_and_a_changed_board(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SyncError) as caught:
        sync(world.issuer.settings.issuer_url, tmp_path / "x", fetch=world.fetch, now=int(time.time()),
             issuer_jwks=public_jwks(new_es256_key()), board_jwks=world.board_jwks)  # fmt: skip
    assert caught.value.reason == "unknown_key"
    world.sync()
    with pytest.raises(SyncError) as changed:
        sync(world.issuer.settings.issuer_url, world.data, fetch=world.fetch, now=int(time.time()),
             board_jwks=public_jwks(new_es256_key()))  # fmt: skip
    assert changed.value.reason == "board_key_changed"
    record = json.loads((world.data / "trust.json").read_text())
    record["registry_version"] = 5
    (world.data / "trust.json").write_text(json.dumps(record))
    with pytest.raises(SyncError) as rollback:
        sync(world.issuer.settings.issuer_url, world.data, fetch=world.fetch, now=int(time.time()))
    assert rollback.value.reason == "registry_rollback"


def test_a_tampered_trust_file_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    world.sync()
    record = json.loads((world.data / "trust.json").read_text())
    bundle = record["bundle"]
    record["bundle"] = bundle[:-5] + ("AAAAA" if not bundle.endswith("AAAAA") else "BBBBB")
    (world.data / "trust.json").write_text(json.dumps(record))
    with pytest.raises(SyncError) as caught:
        load_trust(world.data)
    assert caught.value.reason in {"bad_signature", "bad_encoding"}


def test_the_verifier_commands_sync_from_a_package_and_check_offline(tmp_path: Path) -> None:
    with running_issuer(tmp_path / "issuer") as issuer:
        world = make_world(issuer, tmp_path / "desk")
        (tmp_path / "issuer.json").write_text(json.dumps(issuer.client.get("/.well-known/jwt-vc-issuer").json()))
        (tmp_path / "board.jwks").write_text(json.dumps(world.board_jwks))
        os.environ.update(CITYID_ISSUER_PASSPHRASE=PASSPHRASE, CITYID_ISSUER_URL=issuer.settings.issuer_url)
        try:
            export_trust(tmp_path / "package.json", tmp_path / "issuer", None, with_status_lists=True)
        finally:
            del os.environ["CITYID_ISSUER_PASSPHRASE"], os.environ["CITYID_ISSUER_URL"]
    runner = CliRunner()
    data = str(tmp_path / "desk-cli")
    synced = runner.invoke(app, ["verifier", "sync", str(tmp_path / "package.json"), "--data", data,
                                 "--issuer-jwks", str(tmp_path / "issuer.json"),
                                 "--board-jwks", str(tmp_path / "board.jwks")])  # fmt: skip
    assert synced.exit_code == 0, synced.output
    assert "1 status lists" in synced.output and "registry version 1" in synced.output
    desk, now = Desk(load_trust(Path(data))), int(time.time())
    request = desk.new_request("library-card", audience="desk:lib", now=now)
    proof = answer(world.residency[0], request, now=now)
    checked = runner.invoke(app, ["verifier", "check", proof, "--request", encode_request_text(request),
                                  "--data", data, "--json"])  # fmt: skip
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["claims"] == {"resident_of": "Riverton"}
    printed = runner.invoke(app, ["verifier", "check", paper(world.residency[1], ("resident_of",)),
                                  "--policy", "library-card", "--data", data])  # fmt: skip
    assert printed.exit_code == 0 and "not bound to a device" in printed.stdout
    unsynced = runner.invoke(
        app, ["verifier", "check", proof, "--policy", "library-card", "--data", str(tmp_path / "none")]
    )
    assert unsynced.exit_code == 2 and "not_synced" in unsynced.stdout  # no trust file: like a missing file


def test_with_the_network_cut_off_the_desk_checks_a_camera_image(tmp_path: Path) -> None:
    """`cityid verifier check` in a new network namespace (no interface is up, not even
    loopback): a camera photo of the proof is valid, and after a revocation and a sync the next
    one is refused as revoked. (Stale lists: the engine and browser tests, which set the clock.)"""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-n", "true"], check=False).returncode != 0:
        pytest.skip("cannot make a network namespace here (unshare -n): the offline check is covered by test_privacy")
    with running_issuer(tmp_path / "issuer") as issuer:
        world = make_world(issuer, tmp_path / "desk")
        world.sync()
        desk, now = Desk(load_trust(world.data)), int(time.time())

        def offline_check(item, name: str, when: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
            request = desk.new_request("library-card", audience="desk:lib", now=when)
            photo = tmp_path / name
            photo.write_bytes(camera_frame(make_qr(answer(item, request, now=when)), seed=when))
            command = [sys.executable, "-m", "cityid", "verifier", "check", str(photo), "--request",
                       encode_request_text(request), "--data", str(world.data), "--json"]  # fmt: skip
            done = subprocess.run(["unshare", "-n", *command], capture_output=True, text=True, check=False, timeout=120)
            return json.loads(done.stdout)

        valid = offline_check(world.residency[0], "valid.jpg", now)
        assert valid["valid"] is True and valid["claims"] == {"resident_of": "Riverton"}
        with sessions(issuer.engine).begin() as session:
            revoke_batch(session, issuer.clerk(), world.revocation_code, now=now)
        issuer.client.app.state.runtime.status_cache.invalidate()
        world.sync()
        assert offline_check(world.residency[1], "revoked.jpg", now)["reason"] == "revoked"


def test_a_desk_can_ask_for_cid1_for_older_wallets(world) -> None:  # type: ignore[no-untyped-def]
    """`verifier serve --proof-codec 1` and `verifier request --proof-codec 1`: CIDR1: requests,
    which wallets from before CID2: read, answered and checked in CID1:."""
    from fastapi.testclient import TestClient  # noqa: PLC0415

    from credential import decode_request_text  # noqa: PLC0415
    from verifier.app import create_desk_app  # noqa: PLC0415

    world.sync()
    base = "http://127.0.0.1:8500"
    client = TestClient(create_desk_app(world.data, audience="desk:lib", proof_codec=1), base_url=base)
    shown = client.get("/api/request", params={"policy": "library-card"}).json()["request"]
    assert shown.startswith("CIDR1:")
    proof = answer(world.residency[0], decode_request_text(shown), now=int(time.time()))
    assert proof.startswith("CID1:")
    result = client.post("/api/scan", params={"policy": "library-card"}, content=proof.encode(),
                         headers={"Origin": base, "Content-Type": "text/plain"}).json()["result"]  # fmt: skip
    assert result["valid"], result
    made = CliRunner().invoke(app, ["verifier", "request", "--policy", "library-card", "--audience", "desk:lib",
                                    "--proof-codec", "1", "--json", "--data", str(world.data)])  # fmt: skip
    assert made.exit_code == 0 and json.loads(made.stdout)["request"].startswith("CIDR1:")
