"""The shipped catalog: realistic, translated, and clean except the deliberately over-asking bank."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from policy_support import TODAY
from typer.testing import CliRunner

from cityid.cli import app
from cityid.parties import storage_models
from credential import CREDENTIAL_TYPES
from policies import (
    WALLET_LANGUAGES,
    Severity,
    audit,
    bundled_catalog,
    default_catalogue,
    load_policies,
    render_html,
    render_markdown,
)
from policies._report import verdict
from policies._wording import duration

ROOT = Path(__file__).resolve().parent.parent
OVER_ASKING = "bank-account-opening"


def catalog_report():  # type: ignore[no-untyped-def]
    return audit(
        load_policies([bundled_catalog()]), today=TODAY, catalogue=default_catalogue(), parties=storage_models()
    )


def test_the_catalog_is_the_one_in_the_repository() -> None:
    assert bundled_catalog().resolve() == (ROOT / "policies" / "catalog").resolve()


def test_at_least_eight_policies_and_only_the_bank_has_errors_or_warnings() -> None:
    report = catalog_report()
    assert len(report.policies) >= 9
    troubled = {a.id for a in report.policies if a.count(Severity.ERROR) or a.count(Severity.WARNING)}
    assert troubled == {OVER_ASKING}
    assert not report.approved


def test_the_bank_is_refused_for_over_asking() -> None:
    (bank,) = [a for a in catalog_report().policies if a.id == OVER_ASKING]
    errors = {f.rule for f in bank.findings if f.severity is Severity.ERROR}
    assert {"substitute-available", "identifying-combination", "retention-without-legal-basis"} <= errors


def test_every_catalog_policy_speaks_every_wallet_language_but_the_bank() -> None:
    for loaded in load_policies([bundled_catalog()]):
        assert loaded.policy is not None
        if loaded.policy.id != OVER_ASKING:
            assert set(WALLET_LANGUAGES) <= set(loaded.policy.title) & set(loaded.policy.purpose), loaded.policy.id


def test_the_claims_catalogue_covers_every_credential_claim() -> None:
    every_claim = {name for kind in CREDENTIAL_TYPES.values() for name in kind.claims}
    assert set(default_catalogue().claims) == every_claim


def test_cli_json_report_lists_each_policy_and_fails_only_for_the_bank() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cityid", "policies", "audit", "policies/catalog", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    files = sorted(p.name for p in (ROOT / "policies" / "catalog").glob("*.toml"))
    assert sorted(Path(p["file"]).name for p in report["policies"]) == files
    assert {p["id"] for p in report["policies"] if p["status"] == "error"} == {OVER_ASKING}
    assert all("findings" in p for p in report["policies"])
    assert report["summary"]["errors"] == sum(
        f["severity"] == "error" for p in report["policies"] for f in p["findings"]
    )
    assert set(report["disclosure_matrix"]["rows"]) == {p["id"] for p in report["policies"]}
    # What each party stores, from the roles' own models, which the cityid command hands the audit
    parties = {party["party"]: party for party in report["parties"]}
    issuer, desk = parties["Issuer (the city)"], parties["Desk software"]
    assert issuer["built"] and issuer["source"] == "issuer/models.py"
    assert {"status_entry", "batch", "offer"} <= {item["what"] for item in issuer["stores"]}, issuer
    assert desk["built"] and desk["per_event"].startswith("nothing")
    assert not parties["Wallet (the resident's device)"]["built"]


def test_without_the_bank_the_audit_passes(tmp_path: Path) -> None:
    for path in bundled_catalog().glob("*.toml"):
        if path.stem != OVER_ASKING:
            (tmp_path / path.name).write_bytes(path.read_bytes())
    result = CliRunner().invoke(app, ["policies", "audit", str(tmp_path), "--date", "2026-11-24"])
    assert result.exit_code == 0, result.output
    assert "Approvable" in result.output


def test_reports_in_every_format_name_every_policy(tmp_path: Path) -> None:
    report = catalog_report()
    markdown, html = render_markdown(report), render_html(report)
    for policy_audit in report.policies:
        assert f"`{policy_audit.id}`" in markdown
        assert f'id="{policy_audit.id}"' in html
    for output_format in ("md", "html", "json", "text"):
        out = tmp_path / f"report.{output_format}"
        result = CliRunner().invoke(
            app, ["policies", "audit", "--format", output_format, "--out", str(out), "--date", "2026-11-24"]
        )
        assert result.exit_code == 1 and out.stat().st_size > 1000
        assert "retention-without-legal-basis" in out.read_text(encoding="utf-8")
        assert "retention-without-legal-basis" not in result.stdout  # the report went to the file only


def test_audit_usage_errors_exit_2(tmp_path: Path) -> None:
    for arguments in (["policies", "audit", str(tmp_path)], ["policies", "audit", str(tmp_path / "missing.toml")]):
        result = CliRunner().invoke(app, arguments)
        assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_broken_file_is_an_error_in_the_report_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_bytes(b"id = [\n")
    result = CliRunner().invoke(app, ["policies", "audit", str(tmp_path), "--format", "json"])
    assert result.exit_code == 1
    (entry,) = json.loads(result.output)["policies"]
    assert entry["findings"][0]["rule"] == "schema" and entry["findings"][0]["line"] is not None


def test_reports_speak_plain_english_counts_and_durations() -> None:
    """'1 of 10 policies has errors', and a status age in days, never '2160 hours'."""
    report = catalog_report()
    assert "Not approvable: 1 of 10 policies has errors (bank-account-opening; 7 errors, 2 warnings" in verdict(report)
    html = render_html(report)
    assert "at most 90 days old" in html and "hours old" not in html
    assert [duration(s) for s in (86_400, 3 * 86_400, 3600, 5400, 90, 1)] == [
        "1 day", "3 days", "1 hour", "90 minutes", "90 seconds", "1 second"
    ]  # fmt: skip
