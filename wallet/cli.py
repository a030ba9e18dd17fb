"""``cityid wallet``: the resident's wallet.

``receive`` redeems a clerk's offer; ``present`` answers a desk's request after checking it
against the signed policy registry and asking the resident; ``show`` makes an offline proof
for a policy when the desk cannot show a request; ``print`` makes the paper fallback;
``history``, ``export`` and ``import`` look after the store. Everything the resident reads is
in their language (``--lang`` or the locale). The work happens in the modules next to this
one, imported when a command runs.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import secrets
import sys
import time
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from edges.console import console, errors, printable
from edges.exits import EXIT_INTERRUPTED
from edges.i18n import LANGUAGES, Translate, choose_language, translator

if TYPE_CHECKING:
    from credential import DeskRequest
    from policies import Policy, Registry

    from .present import Proof
    from .store import Wallet, WalletError
    from .trust import Published

app = typer.Typer(help="The resident's wallet: credentials, consent and proofs.", no_args_is_help=True)

WalletOption = Annotated[
    Path | None,
    typer.Option("--wallet", metavar="FILE", show_default=False,
                 help="The wallet file (default: $CITYID_WALLET or ~/.local/share/cityid/wallet.cidw)."),
]  # fmt: skip
LangOption = Annotated[
    str | None,
    typer.Option("--lang", metavar="LANG", show_default=False,
                 help=f"Language: {', '.join(LANGUAGES)} (default: from the locale)."),
]  # fmt: skip
RegistryOption = Annotated[
    Path | None,
    typer.Option("--registry", metavar="FILE", show_default=False,
                 help="A signed policy registry from a file (not needed: by default the wallet fetches the list of "
                 "approved policies from the city's service it enrolled with, at most once a day; older ones are "
                 "refused)."),
]  # fmt: skip
BoardOption = Annotated[
    Path | None,
    typer.Option("--board-jwks", metavar="FILE", show_default=False,
                 help="The policy board's public key, with --registry (pinned the first time, like the one fetched)."),
]  # fmt: skip
PngOption = Annotated[Path | None, typer.Option(metavar="FILE", help="Also write the proof's QR code as PNG.")]
SvgOption = Annotated[Path | None, typer.Option(metavar="FILE", help="Also write the proof's QR code as SVG.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object (the consent screen goes to stderr).")]
YesOption = Annotated[bool, typer.Option("--yes", help="Agree without asking (for scripts and the demo).")]


OFFLINE_LIFETIME = 120
"""Seconds an offline proof (``show``) is meant to be fresh for."""


class _Refused(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def _wallet_path(wallet: Path | None) -> Path:
    from .store import default_path  # noqa: PLC0415

    return wallet or Path(os.environ.get("CITYID_WALLET") or default_path())


def _lock(path: Path) -> AbstractContextManager[None]:
    """The wallet's lock (``lock.py``), held from a read of the store to its save; the wait is
    $CITYID_WALLET_WAIT seconds when set."""
    from .lock import DEFAULT_WAIT, locked  # noqa: PLC0415

    try:
        wait = float(os.environ.get("CITYID_WALLET_WAIT") or DEFAULT_WAIT)
    except ValueError:
        raise _Refused("usage_error", "CITYID_WALLET_WAIT must be a number of seconds") from None
    return locked(path, wait=wait)


def _open_wallet(wallet: Path | None) -> tuple[Path, str]:
    """The wallet's path and the passphrase (asked once, before the lock is taken), for a
    command that reads the store with ``load`` inside ``with _lock(path)`` and may save it back.
    A wallet that is not there is ``no_wallet`` before any passphrase is asked for (not a wrong
    passphrase, nor an empty wallet with no registry)."""
    from .store import require_wallet  # noqa: PLC0415

    path = _wallet_path(wallet)
    require_wallet(path)
    return path, _passphrase(new=False)


def _passphrase(*, new: bool, variable: str = "CITYID_WALLET_PASSPHRASE", prompt: str = "Wallet passphrase: ") -> str:
    value = os.environ.get(variable)
    if value is None:
        if not sys.stdin.isatty():
            raise _Refused("usage_error", f"set {variable} or run in a terminal")
        value = getpass.getpass(prompt)
        if new and getpass.getpass("Again: ") != value:
            raise _Refused("usage_error", "the passphrases differ")
    if len(value) < 8:
        raise _Refused("usage_error", "a wallet passphrase needs at least 8 characters")
    return value


def _fail(_: Translate, reason: str, message: str) -> typer.Exit:
    """Say why the command stopped, in the resident's words, and exit as every command does
    (``edges.exits``). Called while the error is handled: a time refusal that carries its
    ``moment`` (the request's expiry) near this device's time also asks to check the clock."""
    from edges.exits import exit_code  # noqa: PLC0415
    from edges.words import clock_hint, clock_in_doubt, refusal  # noqa: PLC0415

    words, now = refusal(_, reason) or message, time.time()
    if clock_in_doubt(reason, moment=getattr(sys.exception(), "moment", None), now=now):
        words = f"{words} {clock_hint(_, now)}"
    errors.print(Text.assemble((_("Refused"), "bold red"), f" [{reason}] ", printable(words)))
    return typer.Exit(exit_code(reason))


def _run(language: str, action: Any) -> None:
    """Run ``action``, turning every refusal into a translated message and an exit code."""
    from credential import CredentialError  # noqa: PLC0415
    from edges.inputs import InputError  # noqa: PLC0415
    from edges.paper import FontMissingError  # noqa: PLC0415

    from .store import WalletError  # noqa: PLC0415

    _ = translator(language)
    try:
        action(_)
    except FontMissingError as exc:
        raise _fail(_, "font_missing", str(exc)) from None
    except (_Refused, InputError, WalletError) as exc:
        raise _fail(_, exc.reason, exc.message) from None
    except CredentialError as exc:
        raise _fail(_, exc.reason.value, exc.message) from None
    except OSError as exc:
        raise _fail(_, "unwritable_output", f"cannot write: {exc.strerror}") from None


def _registry(store: Wallet, registry: Path | None, board_jwks: Path | None, now: int) -> Registry:
    from edges.inputs import load_json, read_bounded_text  # noqa: PLC0415

    from .trust import current_registry, update_trust  # noqa: PLC0415

    if registry is not None or board_jwks is not None:
        if registry is None or board_jwks is None:
            raise _Refused("usage_error", "pass --registry and --board-jwks together")
        token = read_bounded_text(registry, what="the policy registry")
        return update_trust(store, token, load_json(board_jwks, what="the policy board key"), now=now)
    return current_registry(store, now=now)


REGISTRY_FETCH_TIMEOUT = 15
"""Seconds the wallet waits for its issuer's ``/registry`` before it counts as offline."""


def _store_and_registry(
    _: Translate, path: Path, passphrase: str, registry: Path | None, board_jwks: Path | None, now: int
) -> tuple[Wallet, Registry]:
    """The store and the approved registry: the files given, or the one held, or (none held, or
    stale: ``wallet/trust.py``) the one the wallet's issuer publishes, fetched with no lock held.
    A newer registry is kept, under the wallet's lock, even if the resident then says no."""
    from .store import WalletError, load, save  # noqa: PLC0415
    from .trust import accept_published, current_registry, held_while_offline, home_issuer, is_stale  # noqa: PLC0415

    with _lock(path):
        store = load(path, passphrase)
        if registry is not None or board_jwks is not None:
            approved = _registry(store, registry, board_jwks, now)
            save(path, passphrase, store)
            return store, approved
        issuer = home_issuer(store)
        if issuer is None or not is_stale(store, now=now):  # no issuer to ask, or no need to
            return store, current_registry(store, now=now)
    published = _ask_for_registry(issuer)
    with _lock(path):  # read again: whatever ran meanwhile is kept
        store = load(path, passphrase)
        if isinstance(published, WalletError):
            try:
                return store, held_while_offline(store, published, now=now)
            except WalletError as exc:
                raise _Refused(exc.reason, exc.message) from None  # edges.words says it to the resident
        approved = accept_published(store, published, now=now)
        save(path, passphrase, store)
    return store, approved


def _ask_for_registry(issuer: str) -> Published | WalletError:
    """What ``issuer`` publishes at ``/registry``, or the :class:`WalletError` saying why not."""
    from .receive import issuer_client  # noqa: PLC0415 - the HTTP client loads only when the wallet goes online
    from .store import WalletError  # noqa: PLC0415
    from .trust import fetch_registry  # noqa: PLC0415

    try:
        with issuer_client(REGISTRY_FETCH_TIMEOUT) as client:
            return fetch_registry(issuer, client)
    except WalletError as exc:
        if exc.reason == "issuer_unreachable":
            return exc
        raise


def _consent(_: Translate, language: str, policy: Policy, claims: tuple[str, ...], audience: str, screen: Any) -> None:
    """The consent screen: who asks, why, what they may keep, what is shared and what is not."""
    from credential import CREDENTIAL_TYPES  # noqa: PLC0415
    from edges.words import claim_label, retention, verifier_name  # noqa: PLC0415

    every_claim = dict.fromkeys(name for kind in CREDENTIAL_TYPES.values() for name in kind.claims)
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row(_("Who is asking"), printable(verifier_name(_, policy.verifier)))
    table.add_row(_("Desk"), printable(audience))
    table.add_row(_("Why"), printable(policy.purpose_in(language)))
    table.add_row(_("What they may keep"), retention(_, policy.retention.keeps, policy.retention.period))
    table.add_row(_("They will see"), "\n".join(f"✔ {claim_label(_, name)}" for name in claims))
    hidden = [name for name in every_claim if name not in claims]
    table.add_row(_("They will not see"), "\n".join(f"✘ {claim_label(_, name)}" for name in hidden))
    screen.print(Text(_("A desk is asking for a proof"), style="bold"))
    screen.print(Text(printable(policy.title_in(language)), style="bold cyan"))
    screen.print(table)


ASKS = 3
"""How many times a question is asked before an answer that is neither yes nor no counts as no."""


def _agree(_: Translate, language: str, yes: bool, question: str | None = None, screen: Any = console) -> None:
    """Ask ``question`` (by default: share with this desk?) on ``screen`` and stop unless the
    answer is yes, in the resident's own words (``words.read_answer``). Nothing typed, the end
    of input, or no clear answer after a few tries is a no."""
    from edges.words import read_answer, yes_no_hint  # noqa: PLC0415

    if yes:
        return
    agreed: bool | None = None
    for _attempt in range(ASKS):
        # Not markup: rich would take "[y/n]" for a style tag and print nothing of it.
        screen.print(f"{question or _('Share these with this desk?')} {yes_no_hint(_)} ", end="", markup=False)
        try:
            typed = sys.stdin.readline()
        except KeyboardInterrupt:
            typed = ""
        if not typed:  # end of input, or Ctrl-C: that is a no
            screen.print()
            break
        agreed = read_answer(language, typed)
        if agreed is not None:
            break
        screen.print(_("Please answer yes or no."))
    if not agreed:
        screen.print(_("Nothing was shared."))
        raise typer.Exit(1)


def _output(
    _: Translate, qr_text: str, *, png: Path | None, svg: Path | None, as_json: bool, extra: dict[str, Any]
) -> None:
    from edges.files import write_atomic  # noqa: PLC0415
    from edges.qrimage import make_qr, to_png, to_svg, to_terminal  # noqa: PLC0415

    symbol = make_qr(qr_text)
    if png is not None:
        write_atomic(png, to_png(symbol))
    if svg is not None:
        write_atomic(svg, to_svg(symbol, title="cityid proof"))
    if as_json:
        sys.stdout.write(json.dumps({"proof": qr_text, **extra}) + "\n")
        return
    console.print(to_terminal(symbol), markup=False, highlight=False)
    console.print(_("Show this code to the desk."))


def _share(
    _: Translate,
    language: str,
    path: Path,
    passphrase: str,
    store: Wallet,
    policy: Policy,
    request: DeskRequest,
    *,
    now: int,
    yes: bool,
    as_json: bool,
) -> Proof:
    """Ask, and only on a yes use up one credential for ``request``; the store is saved before
    the proof is shown, so a credential is never shown twice.

    The question is asked without the wallet's lock (a resident may take their time); the
    credential is picked from the store read again under the lock, so a command that ran
    meanwhile is never undone and two proofs never share a credential. ``store`` is the copy
    read before asking, to say which card the proof would use: when the least revealing cards
    have run out, the resident is told and asked before another card is used."""
    from edges.words import card_label  # noqa: PLC0415

    from .present import answer, chosen_type, unused_by_type  # noqa: PLC0415
    from .store import load, save  # noqa: PLC0415

    card, instead_of = chosen_type(store, request.claims)
    screen = errors if as_json else console
    _consent(_, language, policy, request.claims, request.audience, screen)
    question = None
    if instead_of is not None:
        left = unused_by_type(store)
        warning = _("You have no unused {wanted} left. This proof would use one of your {card} instead ({count} "
                    "left): the desk still sees only what it asked for, but it sees a different card, with more about "
                    "you in it.",
                    wanted=card_label(_, instead_of), card=card_label(_, card), count=left[card])  # fmt: skip
        errors.print(Text(warning, style="yellow"))
        question = _("Use one of your {card} for this desk?", card=card_label(_, card))
    _agree(_, language, yes, question, screen)
    with _lock(path):
        store = load(path, passphrase)
        proof = answer(store, request, now=now, policy_id=policy.id, only=card)
        save(path, passphrase, store)
    return proof


def _low_batch(_: Translate, remaining: int, type_name: str) -> None:
    from .present import LOW_BATCH  # noqa: PLC0415

    if remaining <= LOW_BATCH:
        message = _("Only {count} unused credentials left: ask a city clerk for a new batch.", count=remaining)
        errors.print(Text(f"{message} ({type_name})", style="yellow"))


def _receive_offer(_: Translate, path: Path, text: str | None, pin: str | None, *, count: int, wait: float) -> None:
    """Receive, or finish receiving, a batch (``receive.py``): each step is kept in the wallet file
    (``_Wallet``), so a stopped receive resumes and nothing that another command saved meanwhile is lost."""
    from . import receive as receiving  # noqa: PLC0415 - with the HTTP client: only when the wallet goes online
    from .schema import MAX_CREDENTIALS  # noqa: PLC0415
    from .store import WalletError  # noqa: PLC0415

    parsed = receiving.parse_offer(text) if text is not None else None
    # A typo that cannot be the PIN is refused here, before anything is sent: it spends no try.
    typed_pin = receiving.normalise_pin(parsed, pin) if parsed is not None and pin is not None else None
    wallet = _Wallet(path, _passphrase(new=not path.exists()))
    now = int(time.time())
    store = wallet.read()  # a wrong passphrase or a full wallet stops here, before the PIN is spent
    progress = receiving.find_pending(store, parsed.code if parsed is not None else None)
    if progress is None:
        if text is None or parsed is None:
            raise _Refused("usage_error", "give the clerk's offer (openid-credential-offer://... or --from FILE): "
                           "this wallet has no receive to finish")  # fmt: skip
        if len(store.credentials) + count * len(parsed.configurations) > MAX_CREDENTIALS:
            raise WalletError("wallet_full", f"this wallet cannot hold more than {MAX_CREDENTIALS} credentials")
        progress = receiving.Progress.start(text.strip(), count, now=now)
    if progress.expired(now) and not progress.finished():
        _keep_receive(wallet, progress, [], finished=True)
        raise WalletError("offer_expired", receiving.OFFER_EXPIRED)
    if progress.access_token is None and typed_pin is None:
        typed_pin = receiving.normalise_pin(progress.offer, pin if pin is not None else _ask_pin())

    kept: list[str] = []  # the credentials this run kept, forgotten again if the issuer proves untrustworthy

    def keep(current: receiving.Progress, received: list[receiving.Received]) -> None:
        _keep_receive(wallet, current, received, finished=False)
        kept.extend(item.credential for item in received)

    def busy(seconds: int) -> None:
        message = _("The city's service is busy; trying again in {seconds} s", seconds=seconds)
        errors.print(Text(message, style="yellow"))

    keep(progress, [])  # the offer is kept before anything is sent
    asked = progress.count
    try:
        with receiving.issuer_client(30) as client:  # no lock held while online
            receiving.receive(progress.offer, typed_pin, count=progress.count, client=client, progress=progress,
                              keep=keep, patience=receiving.Patience(wait, on_wait=busy))  # fmt: skip
    except WalletError as exc:
        if exc.reason in receiving.FINISHED | receiving.DISTRUSTED:  # it can never finish: the wallet forgets it
            _keep_receive(wallet, progress, [], finished=True,
                          forget=kept if exc.reason in receiving.DISTRUSTED else ())  # fmt: skip
        raise
    _keep_receive(wallet, progress, [], finished=True)
    # The policy board's key is pinned now, from the issuer just enrolled with, not at the first
    # desk; when none is published yet, or the issuer cannot be reached, the first present fetches it.
    with suppress(WalletError, _Refused):
        _store_and_registry(_, path, wallet.passphrase, None, None, int(time.time()))
    if progress.count < asked:
        clamped = _("The city sends at most {size} credentials of each type at a time, so you received {size}, "
                    "not {count}.", size=progress.count, count=asked)  # fmt: skip
        errors.print(Text(clamped, style="yellow"))
    summary = ", ".join(f"{progress.count} {name}" for name in progress.offer.configurations if name in progress.done)
    console.print(f"Received {summary} credentials from {progress.offer.issuer}; kept encrypted in {path}.")


class _Wallet:
    """One command's wallet file, read again under the lock before each save (so nothing another
    command saved is lost) but opened again (scrypt: slow, on a phone) only when its bytes
    changed since this command last read or saved it. Each save seals with a fresh salt, so
    equal bytes mean no other save came between."""

    def __init__(self, path: Path, passphrase: str) -> None:
        self.path, self.passphrase = path, passphrase
        self._seen: tuple[bytes, Wallet] | None = None

    def read(self) -> Wallet:
        with _lock(self.path):
            return self._load()

    @contextmanager
    def editing(self) -> Iterator[Wallet]:
        """The wallet, under the lock, saved when the block ends (not saved if it raises)."""
        from .store import save  # noqa: PLC0415

        with _lock(self.path):
            store = self._load()
            self._seen = None  # until it is saved, the copy in memory is not the file
            yield store
            save(self.path, self.passphrase, store)
            self._remember(store)

    def _load(self) -> Wallet:
        from .store import load  # noqa: PLC0415

        if self._seen is not None and self._seen[0] == self._digest():
            return self._seen[1]
        store = load(self.path, self.passphrase)
        self._remember(store)
        return store

    def _remember(self, store: Wallet) -> None:
        digest = self._digest()
        self._seen = None if digest is None else (digest, store)

    def _digest(self) -> bytes | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).digest()
        except OSError:
            return None


def _keep_receive(
    wallet: _Wallet, progress: Any, received: list[Any], *, finished: bool, forget: Collection[str] = ()
) -> None:
    """Save a receive's step: the credentials just received (less those to ``forget``), and its
    progress (or, once ``finished``, none)."""
    from edges.keyfile import private_jwk  # noqa: PLC0415

    from .receive import drop_pending, keep_pending  # noqa: PLC0415

    now = int(time.time())
    with wallet.editing() as store:
        store.credentials = [entry for entry in store.credentials if entry["credential"] not in forget]
        for item in received:
            store.credentials.append({"type": item.configuration, "issuer": progress.offer.issuer,
                                      "credential": item.credential, "device_key": private_jwk(item.device_key),
                                      "used": False, "received_at": now})  # fmt: skip
        if finished:
            drop_pending(store, progress)
        else:
            keep_pending(store, progress)


def _ask_pin() -> str:
    """The PIN, typed by the resident (never kept)."""
    if not sys.stdin.isatty():
        raise _Refused("usage_error", "give the PIN the clerk told you with --pin")
    return getpass.getpass("PIN: ")


@app.command("receive")
def receive(
    offer: Annotated[
        str | None, typer.Argument(help="The clerk's offer: openid-credential-offer://... (from its QR code).")
    ] = None,
    *,
    pin: Annotated[
        str | None, typer.Option(help="The PIN the clerk told you (asked when needed).", show_default=False)
    ] = None,
    count: Annotated[int, typer.Option(min=1, max=20, help="Credentials of each type: one per future proof.")] = 10,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            min=0,
            max=3600,
            metavar="SECONDS",
            help="How long to keep trying while the city's service is busy or out of reach.",
        ),
    ] = 120,
    wallet: WalletOption = None,
    lang: LangOption = None,
    offer_from: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="FILE",
            show_default=False,
            help="Read the offer from a photo or screenshot of its QR code, or a text file; - for stdin.",
        ),
    ] = None,
) -> None:
    """Receive your credentials: redeem the clerk's offer and keep the batch, encrypted, on this device.

    A receive that was stopped (Ctrl-C, a flat battery, the city's service restarting) goes on
    where it stopped: run ``cityid wallet receive`` again, with no offer (or the same one), within
    the city's time for the offer. The PIN is asked again only if the city never answered it.
    """

    def action(_: Translate) -> None:
        from .offer_source import read_offer  # noqa: PLC0415

        text = read_offer(offer_from) if offer_from is not None else offer
        try:
            _receive_offer(_, _wallet_path(wallet), text, pin, count=count, wait=wait)
        except (KeyboardInterrupt, SystemExit) as stop:  # Ctrl-C: the CLI's handler raises SystemExit(130)
            if isinstance(stop, SystemExit) and stop.code != EXIT_INTERRUPTED:
                raise
            errors.print(_("Stopped. Run `cityid wallet receive` again to finish: your offer is kept."))
            raise typer.Exit(EXIT_INTERRUPTED) from None

    _run(choose_language(lang), action)


@app.command("present")
def present_command(
    request: Annotated[
        str, typer.Argument(help="The desk's request: its QR text (CIDR1:...), a file or photo of it, or - for stdin.")
    ],
    registry: RegistryOption = None,
    board_jwks: BoardOption = None,
    yes: YesOption = False,
    png: PngOption = None,
    svg: SvgOption = None,
    as_json: JsonOption = False,
    wallet: WalletOption = None,
    lang: LangOption = None,
) -> None:
    """Answer a desk's request: check it against its approved policy, ask you, then share only that.

    A request that asks for more than its policy allows, names an unknown or expired policy,
    or comes with a tampered registry is refused before anything is asked or shared.
    """
    language = choose_language(lang)

    def action(_: Translate) -> None:
        from credential import REQUEST_PREFIXES, decode_request_text  # noqa: PLC0415
        from edges.inputs import read_text_or_qr  # noqa: PLC0415
        from policies import check_request  # noqa: PLC0415

        now = int(time.time())
        text = read_text_or_qr(request, what="desk request", prefix=REQUEST_PREFIXES)
        desk_request = decode_request_text(
            text.lstrip().rstrip("\r\n")
        )  # a damaged code: said before anything is asked
        path, passphrase = _open_wallet(wallet)
        store, approved_registry = _store_and_registry(_, path, passphrase, registry, board_jwks, now)
        policy = check_request(desk_request, approved_registry, now=now)
        proof = _share(_, language, path, passphrase, store, policy, desk_request, now=now, yes=yes, as_json=as_json)
        _output(_, proof.qr_text, png=png, svg=svg, as_json=as_json,
                extra={"policy": policy.id, "claims": list(desk_request.claims),
                       "credential_type": proof.credential_type, "remaining": proof.remaining})  # fmt: skip
        _low_batch(_, proof.remaining, proof.credential_type)

    _run(language, action)


@app.command("show")
def show(
    policy: Annotated[str, typer.Option("--policy", metavar="ID", help="The policy of the desk in front of you.")],
    registry: RegistryOption = None,
    board_jwks: BoardOption = None,
    yes: YesOption = False,
    png: PngOption = None,
    svg: SvgOption = None,
    as_json: JsonOption = False,
    wallet: WalletOption = None,
    lang: LangOption = None,
) -> None:
    """A proof for a desk that cannot show a request: bound to the policy and to this minute.

    The desk checks that it is fresh (a couple of minutes) and for its own policy; it shares
    exactly the policy's claims.
    """
    language = choose_language(lang)

    def action(_: Translate) -> None:
        from credential import new_request, offline_audience  # noqa: PLC0415
        from policies import check_request  # noqa: PLC0415

        now = int(time.time())
        path, passphrase = _open_wallet(wallet)
        store, approved_registry = _store_and_registry(_, path, passphrase, registry, board_jwks, now)
        known = approved_registry.policies.get(policy)
        if known is None:
            raise _Refused("unknown_policy", f"policy {policy!r} is not in the approved registry")
        audience = offline_audience(known.id)
        request = new_request(policy=known.id, claims=known.claim_names, audience=audience, now=now,
                              lifetime=OFFLINE_LIFETIME, random_bytes=secrets.token_bytes(16))  # fmt: skip
        approved = check_request(request, approved_registry, now=now)  # expired policies are refused here
        proof = _share(_, language, path, passphrase, store, approved, request, now=now, yes=yes, as_json=as_json)
        _output(_, proof.qr_text, png=png, svg=svg, as_json=as_json,
                extra={"policy": approved.id, "claims": list(approved.claim_names), "audience": audience,
                       "nonce": request.nonce, "remaining": proof.remaining})  # fmt: skip
        _low_batch(_, proof.remaining, proof.credential_type)

    _run(language, action)


@app.command("print")
def print_command(
    policy: Annotated[str, typer.Option("--policy", metavar="ID", help="A policy that accepts paper proofs.")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE", help="The page: FILE.pdf or FILE.png.")],
    registry: RegistryOption = None,
    board_jwks: BoardOption = None,
    yes: YesOption = False,
    wallet: WalletOption = None,
    lang: LangOption = None,
) -> None:
    """The paper fallback: a printable page with a QR proof and, in plain words, what it proves.

    Only for policies that accept paper. The paper is not tied to a phone, so anyone holding it
    can show it; desks say so when they check it. It uses up a one-time credential, so it asks
    first (the same screen as ``present``), and prints nothing when what you hold cannot prove
    what the policy needs (a senior-discount page for someone not yet 65).
    """
    language = choose_language(lang)

    def action(_: Translate) -> None:
        from credential import encode_qr_text, parse_issued, present_on_paper  # noqa: PLC0415
        from edges.files import write_atomic  # noqa: PLC0415
        from edges.paper import compose, render, to_bytes  # noqa: PLC0415

        from .present import paper_credential  # noqa: PLC0415
        from .store import load, save  # noqa: PLC0415

        now = int(time.time())
        path, passphrase = _open_wallet(wallet)
        store, approved_registry = _store_and_registry(_, path, passphrase, registry, board_jwks, now)
        approved = approved_registry.policies.get(policy)
        if approved is None:
            raise _Refused("unknown_policy", f"policy {policy!r} is not in the approved registry")
        if not approved.accepts_paper:
            raise _Refused("not_paper", f"policy {policy!r} does not accept paper proofs")
        paper_credential(store, approved.claim_names)  # refused before asking when it cannot prove it
        _consent(_, language, approved, approved.claim_names, "paper", console)
        _agree(_, language, yes, _("Print this on paper?"))
        with _lock(path):
            store = load(path, passphrase)
            entry = paper_credential(store, approved.claim_names)
            held = parse_issued(entry["credential"])
            qr_text = encode_qr_text(present_on_paper(held, disclose=approved.claim_names))
            facts = {name: held.claims[name] for name in approved.claim_names}
            page = compose(language, approved.title_in(language), facts, qr_text, printed=now,
                           until=held.payload["exp"])  # fmt: skip
            entry["used"] = True
            store.history.append({"at": now, "policy": approved.id, "audience": "paper",
                                  "claims": list(approved.claim_names), "credential_type": entry["type"]})  # fmt: skip
            save(path, passphrase, store)
        write_atomic(out, to_bytes(render(page), "pdf" if out.suffix.lower() == ".pdf" else "png"))
        console.print(f"{out}")

    _run(language, action)


@app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    wallet: WalletOption = None,
    lang: LangOption = None,
) -> None:
    """Your cards: how many unused one-time proofs of each are left, and how old the list of
    approved policies is. Shows no claim values."""

    def action(_: Translate) -> None:
        from credential import CredentialError, KeySet  # noqa: PLC0415
        from edges.words import card_label  # noqa: PLC0415
        from policies import verify_registry  # noqa: PLC0415

        from .present import LOW_BATCH, unused_by_type  # noqa: PLC0415
        from .store import load  # noqa: PLC0415

        path, passphrase = _open_wallet(wallet)
        with _lock(path):
            store = load(path, passphrase)
        now = int(time.time())
        held = dict.fromkeys(entry["type"] for entry in store.credentials)
        unused = unused_by_type(store)
        cards = [{"type": name, "unused": unused.get(name, 0),
                  "total": sum(entry["type"] == name for entry in store.credentials)} for name in held]  # fmt: skip
        registry: dict[str, Any] | None = None
        if "registry" in store.trust:
            registry = {"version": store.trust.get("version")}
            try:  # only to read when it was issued; present and show check it in full
                checked = verify_registry(store.trust["registry"], KeySet.from_jwks(store.trust["board_jwks"]),
                                          now=now, minimum_version=0)  # fmt: skip
                registry |= {"issued_at": checked.issued_at, "age_seconds": max(0, now - checked.issued_at),
                             "expires_at": checked.expires_at, "valid": True}  # fmt: skip
            except CredentialError:  # expired or damaged: reported, not fatal for a listing
                registry["valid"] = False
        from .receive import pending_summary  # noqa: PLC0415

        pending = pending_summary(store)
        if as_json:
            sys.stdout.write(json.dumps({"cards": cards, "registry": registry, "pending": pending}) + "\n")
            return
        if pending:
            unfinished = _("A receive is not finished: run `cityid wallet receive` to finish it.")
            errors.print(Text(unfinished, style="yellow"))
        if not cards:
            console.print(_("No cards in this wallet yet."))
        table = Table(show_header=True, header_style="bold")
        table.add_column(_("Card"))
        table.add_column(_("Unused proofs"), justify="right")
        for card in cards:
            style = "yellow" if card["unused"] <= LOW_BATCH else ""
            table.add_row(card_label(_, card["type"]), Text(str(card["unused"]), style=style))
        if cards:
            console.print(table)
        if registry is None:
            console.print(_("No list of approved policies yet."))
        elif registry["valid"]:
            days = registry["age_seconds"] // 86_400
            console.print(_("Approved policies: version {version}, issued {days} days ago.",
                            version=registry["version"], days=days))  # fmt: skip
        else:
            console.print(_("Approved policies: version {version}, out of date: update it.",
                            version=registry["version"]))  # fmt: skip

    _run(choose_language(lang), action)


@app.command("history")
def history(
    clear: Annotated[bool, typer.Option("--clear", help="Forget the history (credentials are kept).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    wallet: WalletOption = None,
    lang: LangOption = None,
) -> None:
    """What you shared, with which desk and policy, and when. Kept only on this device, encrypted."""

    def action(_: Translate) -> None:
        from edges.words import claim_label  # noqa: PLC0415

        from .store import load, save  # noqa: PLC0415

        path, passphrase = _open_wallet(wallet)
        with _lock(path):
            store = load(path, passphrase)
            if clear:
                store.history.clear()
                save(path, passphrase, store)
        if clear:
            console.print(_("History cleared."))
            return
        if as_json:
            sys.stdout.write(json.dumps(store.history) + "\n")
            return
        if not store.history:
            console.print(_("No history on this device."))
        for item in store.history:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(item["at"]))
            shared = ", ".join(printable(claim_label(_, name)) for name in item["claims"])
            console.print(
                Text.assemble(
                    (when, "dim"), "  ", printable(item["policy"]), f" ({printable(item['audience'])}): ", shared
                )
            )

    _run(choose_language(lang), action)


@app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE", help="Where to write the encrypted backup.")],
    wallet: WalletOption = None,
    lang: LangOption = None,
) -> None:
    """An encrypted backup of the whole wallet, under a backup passphrase of its own
    ($CITYID_WALLET_BACKUP_PASSPHRASE, or asked)."""

    def action(_: Translate) -> None:
        from .store import export_backup, load  # noqa: PLC0415

        path, passphrase = _open_wallet(wallet)
        with _lock(path):
            store = load(path, passphrase)
        backup = _passphrase(new=True, variable="CITYID_WALLET_BACKUP_PASSPHRASE", prompt="Backup passphrase: ")
        export_backup(out, backup, store)
        console.print(f"{out}")

    _run(choose_language(lang), action)


@app.command("import")
def import_command(
    backup: Annotated[Path, typer.Argument(help="A backup made by `cityid wallet export`.")],
    wallet: WalletOption = None,
    lang: LangOption = None,
) -> None:
    """Restore a backup into this device's wallet (credentials already there are kept).

    The backup is checked as strictly as the wallet's own file; anything wrong in it refuses the
    whole import and leaves the wallet as it was.
    """

    def action(_: Translate) -> None:
        from .store import load, merge, read_backup, save  # noqa: PLC0415

        if not backup.is_file():
            raise _Refused("unreadable_input", f"{backup} is not a file")
        restored = read_backup(backup, _passphrase(new=False, variable="CITYID_WALLET_BACKUP_PASSPHRASE",
                                                   prompt="Backup passphrase: "))  # fmt: skip
        path = _wallet_path(wallet)
        passphrase = _passphrase(new=not path.exists())
        with _lock(path):
            store = load(path, passphrase)
            added = merge(store, restored)
            save(path, passphrase, store)
        console.print(f"{added} credentials restored into {path}.")

    _run(choose_language(lang), action)


@app.command("app")
def app_command(
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="The directory to write the app into.")],
    force: Annotated[bool, typer.Option("--force", help="Replace DIR even if it holds other files.")] = False,
) -> None:
    """Write the phone wallet (the web app the issuer serves at /wallet/) into DIR.

    For a city that hosts the app on another web server: serve DIR at the same origin as the
    issuer's OpenID4VCI endpoints, or allow the app's origin there with CORS. The server must send
    the headers the issuer sends: Content-Security-Policy "default-src 'self';
    script-src 'self' 'wasm-unsafe-eval'", Cache-Control "no-cache", and application/wasm for .wasm.
    DIR is replaced as a whole; a non-empty DIR not written by this command is refused without --force.
    """
    import gzip  # noqa: PLC0415

    from edges.appfiles import AppNotBuilt, OutputNotEmpty, app_files, write_app  # noqa: PLC0415

    try:
        files = app_files()
        write_app(out, files, force=force)
    except (AppNotBuilt, OutputNotEmpty) as error:
        errors.print(Text(f"[{error.reason}] {error}", style="red"))
        raise typer.Exit(2) from None
    for name, data in files.items():
        console.print(Text(f"{out / name}  {len(data)} bytes"))
    packed = sum(len(gzip.compress(data, mtime=0)) for data in files.values())
    console.print(Text(f"{len(files)} files, {sum(map(len, files.values()))} bytes ({packed} bytes gzip) in {out}"))
