"""``cityid policies``: the privacy reviewer's audit, the policy board's signature, and checks.

Exit codes, for CI and scripts: 0 fine, 1 a policy has errors or a registry or request is
refused (with a reason code), 2 usage error or unreadable input.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from credential import REQUEST_PREFIXES, CredentialError, decode_request_text
from edges.console import console, errors, printable, safe
from edges.exits import EXIT_OK, EXIT_REFUSED, exit_code
from edges.files import write_atomic
from edges.inputs import InputError, load_key_set, read_bounded_text, read_text_or_qr
from edges.keyfile import load_private_key, new_es256_key, public_jwks, write_private_key

from ._audit import AuditReport, audit
from ._claims import default_catalogue
from ._dcql import DcqlMappingError, dcql_query
from ._files import PolicyPathError, bundled_catalog, load_policies
from ._html import render_html
from ._model import Finding, Policy, Severity
from ._parties import RoleStorage
from ._registry import Registry, UnapprovedPoliciesError, check_request, sign_registry, verify_registry
from ._report import render_json, render_markdown, verdict

app = typer.Typer(
    help="Verifier policies: what each desk may ask, for what purpose, and what it may keep.",
    no_args_is_help=True,
)

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.NOTE: "cyan"}


class Format(StrEnum):
    TEXT = "text"
    MD = "md"
    HTML = "html"
    JSON = "json"


PathsArgument = Annotated[
    list[Path] | None,
    typer.Argument(
        metavar="[PATH]...",
        help="Policy files, or directories of *.toml policy files. Default: the catalog shipped with cityid.",
        show_default=False,
    ),
]
DateOption = Annotated[
    dt.datetime | None,
    typer.Option("--date", formats=["%Y-%m-%d"], help="Audit as of this day (YYYY-MM-DD). Default: today (UTC)."),
]


def _fail(reason: str, message: str) -> typer.Exit:
    errors.print(Text.assemble(("error", "bold red"), f" [{reason}] ", printable(message)))
    return typer.Exit(exit_code(reason))


def _audit_paths(paths: list[Path] | None, day: dt.date, roles: RoleStorage | None = None) -> AuditReport:
    try:
        loaded = load_policies(paths or [bundled_catalog()])
    except PolicyPathError as exc:
        raise _fail("usage_error", str(exc)) from None
    return audit(loaded, today=day, catalogue=default_catalogue(), parties=roles.models() if roles else ())


def _today(date: dt.datetime | None) -> dt.date:
    return date.date() if date else dt.datetime.now(dt.UTC).date()


def _print_text(report: AuditReport, to: Console = console) -> None:
    for policy_audit in report.policies:
        status = policy_audit.status
        label = Text(
            status.value.upper() if status else "OK", style=_STYLE.get(status, "bold green") if status else "bold green"
        )
        title = policy_audit.policy.title["en"] if policy_audit.policy else "(unreadable)"
        to.print(
            Text.assemble(
                label, "  ", (policy_audit.id, "bold"), "  ", printable(title), (f"  {policy_audit.source}", "dim")
            )
        )
        for finding in policy_audit.findings:
            _print_finding(finding, to=to)
    summary = Table.grid(padding=(0, 2))
    for severity in Severity:
        summary.add_row(Text(f"{severity.value}s", style=_STYLE[severity]), str(report.total(severity)))
    to.print()
    to.print(summary)
    to.print(Text(verdict(report), style="bold green" if report.approved else "bold red"))


def _print_finding(finding: Finding, *, with_file: bool = False, to: Console = console) -> None:
    where = [finding.source] if with_file and finding.source else []
    where += [f"line {finding.line}"] if finding.line else []
    where += [finding.field] if finding.field else []
    line = Text.assemble(
        "    ",
        (finding.severity.value, _STYLE[finding.severity]),
        f"  {finding.rule}",
        (f"  {', '.join(where)}", "dim"),
    )
    to.print(line)
    to.print(Text("      " + printable(finding.message)))
    if finding.acknowledged:
        to.print(Text("      acknowledged: " + printable(finding.acknowledged), style="dim"))


def _plain_text(report: AuditReport) -> str:
    """The terminal report without colour, for ``--format text --out FILE``."""
    buffer = io.StringIO()
    _print_text(report, Console(file=buffer, width=100, color_system=None, highlight=False))
    return buffer.getvalue()


@app.command("audit")
def audit_command(
    ctx: typer.Context,
    paths: PathsArgument = None,
    output_format: Annotated[
        Format, typer.Option("--format", "-f", help="text (terminal), md, html (printable page) or json.")
    ] = Format.TEXT,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write the report here instead of stdout.")
    ] = None,
    date: DateOption = None,
) -> None:
    """Audit policies: findings per policy, who can learn what, who could link whom, who stores what.

    Exit status: 0 when no policy has an error, 1 when any has (so CI can gate on it), 2 when
    the paths name no policy files.
    """
    report = _audit_paths(paths, _today(date), ctx.find_object(RoleStorage))  # the roles, from the cityid command
    if output_format is Format.TEXT and out is None:
        _print_text(report)
    else:
        rendered = {
            Format.TEXT: _plain_text,
            Format.MD: render_markdown,
            Format.HTML: render_html,
            Format.JSON: render_json,
        }[output_format](report)
        if out is None:
            sys.stdout.write(rendered)
        else:
            try:
                write_atomic(out, rendered)
            except OSError as exc:
                raise _fail("unwritable_output", f"cannot write {out}: {exc.strerror}") from None
            errors.print(f"Wrote {out}. {verdict(report)}")
    raise typer.Exit(EXIT_OK if report.approved else EXIT_REFUSED)


@app.command("keygen")
def keygen(
    out: Annotated[Path, typer.Option("--out", metavar="FILE", help="New private key file (created 0600).")],
    public: Annotated[
        Path,
        typer.Option("--public", metavar="FILE", help="Where to write the public key (JWKS) for wallets and desks."),
    ],
) -> None:
    """Make the policy board's signing key (ES256). Keep the private file offline."""
    key = new_es256_key()
    try:
        write_private_key(key, out)
    except FileExistsError:
        raise _fail("usage_error", f"{out} exists: a key file is never overwritten") from None
    except OSError as exc:
        raise _fail("unwritable_output", f"cannot write {out}: {exc.strerror}") from None
    try:
        write_atomic(public, json.dumps(public_jwks(key), indent=2) + "\n")
    except OSError as exc:
        raise _fail("unwritable_output", f"cannot write {public}: {exc.strerror}") from None
    console.print(f"Policy board key {key.kid} written to {out} (private) and {public} (public JWKS).")


@app.command("sign")
def sign(
    key: Annotated[Path, typer.Option("--key", metavar="FILE", help="The policy board's private key file.")],
    version: Annotated[
        int, typer.Option(min=1, help="Registry version; wallets and desks refuse one older than they have seen.")
    ],
    paths: PathsArgument = None,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE", help="Where to write the registry JWT.")] = Path(
        "registry.jwt"
    ),
    issuer: Annotated[str, typer.Option(help="Who signs: the policy board's name.")] = "Riverton Policy Board",
    valid_days: Annotated[int, typer.Option(min=1, max=730, help="Days until the registry expires.")] = 180,
) -> None:
    """Sign the approved policies into a registry; refuses when any policy has an error."""
    now = int(time.time())
    report = _audit_paths(paths, dt.datetime.fromtimestamp(now, dt.UTC).date())
    if not report.approved:
        errors.print(Text(f"Not signed. {verdict(report)}", style="bold red"))
        for item in report.policies:
            for finding in item.findings:
                if finding.severity is Severity.ERROR:
                    _print_finding(finding, with_file=True, to=errors)
        raise typer.Exit(EXIT_REFUSED)
    try:
        signing_key = load_private_key(key)
        token = sign_registry(
            [item.policy for item in report.policies if item.policy is not None],
            signing_key,
            issuer=issuer,
            version=version,
            now=now,
            lifetime=valid_days * 86_400,
            catalogue=default_catalogue(),
        )
    except InputError as exc:
        raise _fail(exc.reason, exc.message) from None
    except UnapprovedPoliciesError as exc:
        errors.print(Text(f"Not signed: {len(exc.errors)} error(s) block approval.", style="bold red"))
        for finding in exc.errors:
            _print_finding(finding, with_file=True, to=errors)
        raise typer.Exit(EXIT_REFUSED) from None
    try:
        write_atomic(out, token + "\n")
    except OSError as exc:
        raise _fail("unwritable_output", f"cannot write {out}: {exc.strerror}") from None
    console.print(f"Signed registry version {version} with {len(report.policies)} policies: {out}")


def _load_registry(path: Path, board_jwks: Path, *, minimum_version: int = 0) -> Registry:
    token = read_bounded_text(path, what="the policy registry")
    return verify_registry(token, load_key_set(board_jwks), now=int(time.time()), minimum_version=minimum_version)


RegistryOption = Annotated[Path, typer.Option("--registry", metavar="FILE", help="The signed policy registry (JWT).")]
BoardOption = Annotated[
    Path, typer.Option("--board-jwks", metavar="FILE", help="The policy board's public key (JWKS).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _report(as_json: bool, result: dict[str, Any], code: int) -> typer.Exit:
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=True) + "\n")
    elif code == EXIT_OK:
        console.print(Text.assemble(("✔ ", "bold green"), printable(result["message"])))
    else:
        console.print(Text.assemble(("✘ REFUSED ", "bold red"), (result["reason"], "red")))
        console.print(safe(result["message"]))
    return typer.Exit(code)


def _refusal(exc: Exception) -> tuple[dict[str, Any], int]:
    if isinstance(exc, InputError):
        reason, message = exc.reason, exc.message
    elif isinstance(exc, CredentialError):
        reason, message = exc.reason.value, exc.message
    else:
        reason, message = "internal_error", "could not be checked (internal error)"
    return {"valid": False, "reason": reason, "message": message}, exit_code(reason)


@app.command("verify")
def verify_command(
    registry: Annotated[Path, typer.Argument(metavar="REGISTRY", help="The registry JWT file.", show_default=False)],
    board_jwks: BoardOption,
    minimum_version: Annotated[int, typer.Option(min=0, help="Refuse registries older than this version.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Check a signed policy registry: signature, expiry, version, every policy well-formed."""
    try:
        verified = _load_registry(registry, board_jwks, minimum_version=minimum_version)
    except Exception as exc:  # every failure becomes a reason code, never a traceback
        raise _report(as_json, *_refusal(exc)) from None
    result = {
        "valid": True,
        "reason": "ok",
        "message": f"registry version {verified.version} from {verified.issuer} with "
        f"{len(verified.policies)} policies, valid until "
        f"{dt.datetime.fromtimestamp(verified.expires_at, dt.UTC).date().isoformat()}",
        "version": verified.version,
        "issuer": verified.issuer,
        "issued_at": verified.issued_at,
        "expires_at": verified.expires_at,
        "policies": sorted(verified.policies),
    }
    raise _report(as_json, result, EXIT_OK)


@app.command("check")
def check_command(
    request: Annotated[
        str,
        typer.Argument(
            metavar="REQUEST",
            help="The desk's request: its QR text (CIDR1:...), a file or image holding it, or - for stdin.",
            show_default=False,
        ),
    ],
    registry: RegistryOption,
    board_jwks: BoardOption,
    as_json: JsonOption = False,
) -> None:
    """Check a desk's request against the signed registry, as the wallet does before asking consent."""
    try:
        policy_registry = _load_registry(registry, board_jwks)
        text = read_text_or_qr(request, what="desk request", prefix=REQUEST_PREFIXES)
        desk_request = decode_request_text(text.lstrip().rstrip("\r\n"))  # keep inner spaces: base45
        policy = check_request(desk_request, policy_registry, now=int(time.time()))
    except Exception as exc:  # every failure becomes a reason code, never a traceback
        raise _report(as_json, *_refusal(exc)) from None
    result = {
        "valid": True,
        "reason": "ok",
        "message": f"the request fits policy '{policy.id}' ({policy.title['en']}): {', '.join(desk_request.claims)}",
        "policy": policy.id,
        "claims": list(desk_request.claims),
        "audience": desk_request.audience,
        "expires_at": desk_request.expires_at,
    }
    raise _report(as_json, result, EXIT_OK)


def _catalog_policies() -> dict[str, Policy]:
    """The bundled catalog's well-formed policies by id (audit errors do not matter here)."""
    loaded = load_policies([bundled_catalog()])
    return {item.policy.id: item.policy for item in loaded if item.policy is not None}


def _json(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=True) + "\n"


@app.command("dcql")
def dcql_command(
    policy_id: Annotated[
        str | None,
        typer.Argument(metavar="POLICY", help="A catalog policy's id, e.g. library-card.", show_default=False),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every catalog policy: one JSON object of policy id to its query.")
    ] = False,
) -> None:
    """Print a catalog policy's OpenID4VP 1.0 DCQL query (the dcql_query request parameter) as JSON.

    It asks any wallet for one dc+sd-jwt credential of a cityid type with the policy's claims, key-bound.

    Purpose, retention, legal basis, and the desk's audience and nonce are not DCQL: see docs/interop.md.

    With --all: one object of policy id to query; a policy no one credential can answer is named on stderr.

    Exit status: 0 printed; 1 unknown_policy or no_single_credential; 2 usage_error (POLICY or --all).
    """
    if (policy_id is None) == (not every):
        raise _fail("usage_error", "give one POLICY id, or --all")
    catalog = _catalog_policies()
    if every:
        queries: dict[str, object] = {}
        for found_id, policy in sorted(catalog.items()):
            try:
                queries[found_id] = dcql_query(policy)
            except DcqlMappingError as exc:
                errors.print(Text.assemble(("not mapped", "yellow"), f" [{exc.reason}] ", printable(exc.message)))
        sys.stdout.write(_json(queries))
        return
    assert policy_id is not None
    if policy_id not in catalog:
        raise _fail("unknown_policy", f"no policy '{policy_id}' in the catalog; it has {', '.join(sorted(catalog))}")
    try:
        query = dcql_query(catalog[policy_id])
    except DcqlMappingError as exc:
        raise _fail(exc.reason, exc.message) from None
    sys.stdout.write(_json(query))
