"""``cityid verifier``: check a resident's proof at a service desk, offline.

``verify`` reads the proof from QR text, a compact SD-JWT, a photo of the QR code or stdin,
checks it against trusted issuer keys and the desk's own nonce and audience, and prints
only what the proof discloses. Exit codes: 0 valid, 1 invalid, 2 usage or unreadable input.
Its parsing aside, ``verify`` is ``verifier.quickverify``, which ``cityid verify`` usually runs
without Typer: the options below and that module's ``VERIFY_OPTIONS`` are kept equal by the tests.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from credential import (
    NEWEST_PROOF_CODEC,
    CredentialError,
    encode_request_text,
    new_request,
)
from edges.console import console, errors, printable, safe
from edges.exits import exit_code
from edges.files import write_atomic
from edges.i18n import choose_language, translator
from edges.inputs import InputError, load_key_set, load_proof, read_bounded_text
from edges.words import clock_hint

from .quickverify import DEFAULT_MAX_AGE, DEFAULT_MAX_STATUS_AGE, VerifyArguments, answer, plain_words

if TYPE_CHECKING:
    from policies import Registry

app = typer.Typer(
    help="The service desk: check residents' proofs offline, keeping nothing.",
    no_args_is_help=True,
)

ProofCodecOption = Annotated[
    int,
    typer.Option(
        min=1, max=NEWEST_PROOF_CODEC,
        help="The newest proof codec this desk asks for: 2 (CID2:, smaller QR codes; a CIDR2: request) or 1 "
        "(CID1:, for residents' wallets older than CID2:; a CIDR1: request).",
    ),
]  # fmt: skip


@app.command("verify")
def verify(
    proof: Annotated[
        str,
        typer.Argument(
            metavar="INPUT",
            help="The proof: QR text (CID1:...), a compact SD-JWT, a PNG/JPEG photo of the QR code, "
            "a file holding any of these, or - to read standard input.",
            show_default=False,
        ),
    ],
    issuer_jwks: Annotated[
        Path,
        typer.Option(
            "--issuer-jwks",
            metavar="FILE",
            help="Trusted issuer keys: a JWKS file (or issuer metadata).",
            show_default=False,
        ),
    ],
    nonce: Annotated[
        str | None, typer.Option(help="The nonce of this desk's request; the proof must answer it.", show_default=False)
    ] = None,
    audience: Annotated[
        str | None, typer.Option(help="This desk's identifier (the request's audience).", show_default=False)
    ] = None,
    max_age: Annotated[
        int, typer.Option(min=0, help="Seconds the proof's key binding may be old: the request's lifetime.")
    ] = DEFAULT_MAX_AGE,
    status_lists: Annotated[
        list[Path] | None,
        typer.Option(
            "--status",
            metavar="FILE",
            help="A status list the desk fetched earlier (statuslist+jwt from the issuer's /status/N); repeat for "
            "several. The proof's revocation status is then checked against it, offline.",
            show_default=False,
        ),
    ] = None,
    max_status_age: Annotated[
        int, typer.Option(min=0, help="Seconds a status list may be old (from its iat) before it counts as stale.")
    ] = DEFAULT_MAX_STATUS_AGE,
    paper: Annotated[
        bool,
        typer.Option(
            "--paper",
            help="This desk's policy accepts paper proofs (accepts_paper): a proof without key binding is accepted "
            "and shown as not device-bound. Never use it for a policy that does not.",
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print one JSON object: valid, reason, message, claims, issuer, vct, status."),
    ] = False,
) -> None:
    """Check a proof offline and show only what it discloses.

    Exit status: 0 valid, 1 invalid (with a reason code), 2 usage error or unreadable input.
    """
    arguments = VerifyArguments(proof=proof, issuer_jwks=issuer_jwks, nonce=nonce, audience=audience, max_age=max_age,
                                status_lists=status_lists, max_status_age=max_status_age, paper=paper,
                                as_json=as_json)  # fmt: skip
    raise typer.Exit(answer(arguments))


class _TrustProblem(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def _request_registry(registry: Path | None, board_jwks: Path | None, data: Path | None, now: int) -> Registry:
    """The policies a request may name: from the files given, or else the desk's synced trust."""
    from policies import verify_registry  # noqa: PLC0415 - `verify` and `check` need no policy tools

    if registry is not None or board_jwks is not None:
        if registry is None or board_jwks is None:
            raise InputError("usage_error", "pass --registry and --board-jwks together")
        return verify_registry(read_bounded_text(registry, what="the policy registry"), load_key_set(board_jwks),
                               now=now)  # fmt: skip
    from .sync import SyncError, load_trust  # noqa: PLC0415

    try:
        return load_trust(_desk_data(data), now=now).registry
    except SyncError as exc:
        raise _TrustProblem(exc.reason, exc.message) from None


DeskDataOption = Annotated[
    Path | None,
    typer.Option("--data", metavar="DIR", show_default=False,
                 help="The desk's data directory (default: $CITYID_DESK_DATA or ~/.local/share/cityid/desk)."),
]  # fmt: skip


def _desk_data(data: Path | None) -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return data or Path(os.environ.get("CITYID_DESK_DATA") or Path(base) / "cityid" / "desk")


@app.command("request")
def request(
    policy: Annotated[str, typer.Option(help="The policy this desk works under (its id).", show_default=False)],
    audience: Annotated[
        str, typer.Option(help="This desk's identifier, e.g. desk:library-central.", show_default=False)
    ],
    registry: Annotated[
        Path | None,
        typer.Option(
            "--registry",
            metavar="FILE",
            show_default=False,
            help="A signed policy registry (JWT) to use instead of the one this desk synced.",
        ),
    ] = None,
    board_jwks: Annotated[
        Path | None,
        typer.Option(
            "--board-jwks",
            metavar="FILE",
            show_default=False,
            help="The policy board's public key (JWKS), with --registry.",
        ),
    ] = None,
    claims: Annotated[
        str | None,
        typer.Option(help="Comma-separated claims to ask for. Default: all the policy allows.", show_default=False),
    ] = None,
    lifetime: Annotated[int, typer.Option(min=10, max=86_400, help="Seconds the request stays valid.")] = 300,
    png: Annotated[Path | None, typer.Option(metavar="FILE", help="Also write the QR code as a PNG image.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: request, policy, claims, nonce, audience.")
    ] = False,
    proof_codec: ProofCodecOption = NEWEST_PROOF_CODEC,
    data: DeskDataOption = None,
) -> None:
    """Make this desk's request for a resident's wallet: a QR code naming the policy, a fresh
    nonce, this desk and an expiry. Refused when the policy does not allow the claims. The
    approved policies are those this desk synced (`cityid verifier sync`), or --registry with
    --board-jwks.

    Then check the wallet's proof with `cityid verifier check`.
    """
    from edges.qrimage import make_qr, to_png, to_terminal  # noqa: PLC0415 - only a request draws a QR code
    from policies import check_request  # noqa: PLC0415

    now = int(time.time())
    try:
        policy_registry = _request_registry(registry, board_jwks, data, now)
        wanted = (
            policy_registry.policies[policy].claim_names
            if claims is None and policy in policy_registry.policies
            else None
        )
        names = wanted or tuple(name.strip() for name in (claims or "").split(",") if name.strip())
        desk_request = new_request(
            policy=policy,
            claims=names or ("",),
            audience=audience,
            now=now,
            lifetime=lifetime,
            random_bytes=secrets.token_bytes(16),
            codec=proof_codec,
        )
        check_request(desk_request, policy_registry, now=now)
        text = encode_request_text(desk_request)
        symbol = make_qr(text)
        if png is not None:
            write_atomic(png, to_png(symbol))
    except InputError as exc:
        errors.print(Text.assemble(("error", "bold red"), f" [{exc.reason}] ", printable(exc.message)))
        raise typer.Exit(exit_code(exc.reason)) from None
    except CredentialError as exc:
        errors.print(Text.assemble(("refused", "bold red"), f" [{exc.reason.value}] ", printable(exc.message)))
        raise typer.Exit(exit_code(exc.reason.value)) from None
    except _TrustProblem as exc:
        errors.print(Text.assemble(("refused", "bold red"), f" [{exc.reason}] ", printable(exc.message)))
        raise typer.Exit(exit_code(exc.reason)) from None
    except OSError as exc:
        errors.print(Text.assemble(("error", "bold red"), f" [unwritable_output] cannot write {png}: {exc.strerror}"))
        raise typer.Exit(exit_code("unwritable_output")) from None
    if as_json:
        result = {
            "request": text,
            "policy": desk_request.policy,
            "claims": list(desk_request.claims),
            "nonce": desk_request.nonce,
            "audience": desk_request.audience,
            "expires_at": desk_request.expires_at,
            "qr_version": symbol.version,
        }
        sys.stdout.write(json.dumps(result, ensure_ascii=True) + "\n")
        return
    console.print(to_terminal(symbol), highlight=False, markup=False)
    console.print(text, markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"Policy {desk_request.policy}, asking for {', '.join(desk_request.claims)}; valid {lifetime} s. "
        f"Nonce {desk_request.nonce}"
    )


@app.command("sync")
def sync_command(
    source: Annotated[str, typer.Argument(help="The issuer's URL (https://...), or a trust package file.")],
    issuer_jwks: Annotated[
        Path | None, typer.Option("--issuer-jwks", metavar="FILE", help="The issuer's keys: needed once, then pinned.")
    ] = None,
    board_jwks: Annotated[
        Path | None, typer.Option("--board-jwks", metavar="FILE", help="The policy board's key: once, then pinned.")
    ] = None,
    fingerprint: Annotated[
        str | None,
        typer.Option(
            "--fingerprint",
            metavar="CODE",
            show_default=False,
            help="The first time: the code city IT gave this desk (XXXX-XXXX-...). The keys downloaded from "
            "the issuer's URL must match it; they are pinned afterwards.",
        ),
    ] = None,
    data: DeskDataOption = None,
    timeout: Annotated[
        float, typer.Option(min=1, max=3600, help="Seconds the whole sync may take; then nothing is changed.")
    ] = 60,
) -> None:
    """Fetch and verify the issuer's keys, status lists and policy registry, and keep them for
    offline checks. The only time the desk goes online; nothing about residents is sent.
    The first sync needs --fingerprint (or --issuer-jwks and --board-jwks); later ones neither.
    Each download is refused past 8 MB, and the whole sync after --timeout seconds."""
    from .download import bounded_fetch  # noqa: PLC0415
    from .freshness import freshness, moment  # noqa: PLC0415
    from .sync import SyncError, sync  # noqa: PLC0415

    fetch = bounded_fetch(timeout=timeout)
    try:
        anchors = json.loads(read_bounded_text(issuer_jwks, what="the issuer keys")) if issuer_jwks else None
        board = json.loads(read_bounded_text(board_jwks, what="the board key")) if board_jwks else None
        trust = sync(source, _desk_data(data), fetch=fetch, now=int(time.time()), issuer_jwks=anchors,
                     board_jwks=board, fingerprint=fingerprint)  # fmt: skip
    except SyncError as exc:
        # A bundle the issuer has just signed is "expired" only to a desk whose clock runs ahead.
        hint = (
            f" {clock_hint(translator(choose_language(None)), time.time())}" if exc.reason == "bundle_expired" else ""
        )
        errors.print(Text.assemble(("sync failed", "bold red"), f" [{exc.reason}] ", printable(exc.message + hint)))
        raise typer.Exit(exit_code(exc.reason)) from None
    except (InputError, ValueError) as exc:
        errors.print(Text.assemble(("sync failed", "bold red"), " [unreadable_input] ", printable(str(exc))))
        raise typer.Exit(exit_code("unreadable_input")) from None
    except Exception as exc:
        answered = getattr(getattr(exc, "response", None), "status_code", None)  # an HTTP error page
        detail = f"{printable(str(exc.request.url))[:200]} answered {answered}" if answered else type(exc).__name__  # type: ignore[attr-defined]
        errors.print(Text.assemble(("sync failed", "bold red"), f" [unreachable] {detail}"))
        raise typer.Exit(exit_code("unreachable")) from None
    console.print(
        f"Synced: {len(trust.issuer_keys)} issuer keys, {len(trust.status_lists)} status lists, "
        f"policy registry version {trust.registry.version} ({len(trust.registry.policies)} policies)."
    )
    fresh = freshness(trust)
    if fresh.lists_valid_until is not None and fresh.refuses_after is not None:
        console.print(f"Status lists valid until {moment(fresh.lists_valid_until)}; this desk refuses proofs as "
                      f"status_stale after {moment(fresh.refuses_after)} unless it syncs again.")  # fmt: skip


@app.command("check")
def check_command(
    proof: Annotated[str, typer.Argument(metavar="INPUT", help="The proof: QR text, a file or photo of it, or -.")],
    policy: Annotated[str | None, typer.Option(help="This desk's policy (for offline and paper proofs).")] = None,
    request: Annotated[
        str | None, typer.Option(help="The request this desk showed (CIDR1:...), when the proof answers one.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    data: DeskDataOption = None,
) -> None:
    """Check a proof with the desk engine, offline, against the synced trust and the desk's policy.

    Shows only the policy's claims; revoked, stale status, paper under a policy that does not
    accept it and wrong requests are refused with a reason. Exit 0 valid, 1 invalid, 2 when the
    proof or the desk's trust cannot be read (a picture without a QR code, no sync yet).

    Each run checks one proof and remembers nothing (it writes nothing down), so it cannot tell
    that a proof was already shown: the same offline proof (--policy) is accepted again by the
    next run for as long as it is fresh (about two minutes), and so is an answer to the same
    --request until that request expires. To refuse replays, check proofs with
    `cityid verifier serve`, which remembers every proof it accepted while it runs.
    """
    from credential import decode_request_text  # noqa: PLC0415

    from .engine import Desk, ReplayGuard  # noqa: PLC0415
    from .sync import SyncError, load_trust  # noqa: PLC0415

    now = int(time.time())
    try:
        desk = Desk(load_trust(_desk_data(data), now=now), replay=ReplayGuard(started_at=None))  # one check: no memory
        desk_request = decode_request_text(request.strip()) if request else None
        result = desk.check(
            load_proof(proof, desk.qr_context(desk_request)), now=now, request=desk_request, policy=policy
        ).to_json()
    except SyncError as exc:
        result = {"valid": False, "reason": exc.reason, "message": exc.message}
    except InputError as exc:
        result = {"valid": False, "reason": exc.reason, "message": exc.message}
    except CredentialError as exc:
        result = {"valid": False, "reason": exc.reason.value, "message": exc.message}
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=True) + "\n")
    elif result["valid"]:
        console.print(Text("✔ VALID", style="bold green"))
        for name, value in result["claims"].items():
            console.print(Text.assemble((printable(name), "bold"), ": ", printable(value)))
        if result.get("device_bound") is False:
            console.print(Text("Paper proof: not bound to a device.", style="yellow"))
    else:
        console.print(Text.assemble(("✘ NOT VALID", "bold red"), "  ", (str(result["reason"]), "red")))
        console.print(safe(plain_words(result, clock_at=now if result.get("clock_doubt") else None)))
    raise typer.Exit(exit_code(str(result["reason"])))


@app.command("serve")
def serve_command(
    audience: Annotated[str, typer.Option(help="This desk's identifier, e.g. desk:library-central.")],
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on; keep it local. The page answers only at this address "
            "(and at localhost for a loopback one)."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8500,
    clear_after: Annotated[int, typer.Option(min=2, max=120, help="Seconds a result stays on screen.")] = 8,
    proof_codec: ProofCodecOption = NEWEST_PROOF_CODEC,
    data: DeskDataOption = None,
) -> None:
    """The desk app: a page to show the desk's request and scan residents' proofs with the
    computer's camera, checked offline against the synced trust. Open http://HOST:PORT/.

    It remembers each proof it accepted while it runs (never on disk), so a proof is refused
    when shown again; after a restart, offline proofs made before it started are refused too."""
    import logging  # noqa: PLC0415 - the web stack loads only for `serve`

    import uvicorn  # noqa: PLC0415

    from .app import create_desk_app  # noqa: PLC0415
    from .guards import own_hosts  # noqa: PLC0415
    from .sync import SyncError  # noqa: PLC0415

    try:
        application = create_desk_app(_desk_data(data), audience=audience, clear_after=clear_after,
                                      allowed_hosts=own_hosts(host, port), proof_codec=proof_codec)  # fmt: skip
    except SyncError as exc:
        errors.print(Text.assemble(("cannot start", "bold red"), f" [{exc.reason}] ", printable(exc.message)))
        raise typer.Exit(exit_code(exc.reason)) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    console.print(f"Desk app for {audience} at http://{host}:{port}/ (offline checks; nothing is recorded)")
    uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False, server_header=False)
