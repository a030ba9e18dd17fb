"""The phone wallet's logic (wallet/app/src/wallet.js) in a real Chromium against a real issuer.

The logic is bundled with esbuild and served at the issuer's own origin (``/wallet/``), as the
issuer serves the app, so its calls to the issuer's endpoints are same-origin. Every other
request to the issuer's URL goes, through Playwright's routing, to the issuer app in this
process. A desk built from the Python verifier checks what the phone shows.

What must hold: a batch of 10 per type is received with the clerk's PIN; the device keys read
back from IndexedDB cannot be exported; IndexedDB holds no claim value in the clear; a receive
whose answer was lost after the token step goes on after a reload with no PIN; a desk's request
is answered with a proof the desk accepts, showing only what it asked; an over-asking request is
refused and spends nothing; an older registry than the one pinned is refused.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from browser import chromium
from issuer_support import ISSUER_URL, Issuer, enrolled, running_issuer
from playwright.sync_api import Browser, BrowserContext, Page, Request, Route

from credential import encode_request_text, new_request
from edges.keyfile import new_es256_key, public_jwks
from issuer.registry import publish
from policies import bundled_catalog, default_catalogue, load_policies, sign_registry
from verifier.engine import Desk
from verifier.sync import load_trust, sync

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "wallet" / "app"
ESBUILD = APP / "node_modules" / ".bin" / "esbuild"
ENTRY = Path(__file__).resolve().parent / "phone_logic"
CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'"
POLICIES = ("library-card", "recreation-centre", "clinic-registration", "senior-discount")
RESIDENT = enrolled("Ana", "1990-05-17")
CLAIM_VALUES = ("Okafor", "1990-05-17", "12 Elm Street", "Riverton")
"""What the resident's claims hold: none of it may be readable in IndexedDB (values of six
characters or more, so that random ciphertext cannot hold one by chance)."""
DAY = 86_400
Hook = Callable[[Route, Request], bool]


def bundle(out: Path) -> Path:
    """The test entry (wallet.js on ``window``) bundled as the app is: ES2020, one file."""
    if not ESBUILD.exists():
        pytest.skip("the phone app's npm packages are not installed (wallet/app/node_modules)")
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(ESBUILD), str(ENTRY / "entry.js"), "--bundle", "--format=esm", "--target=es2020,chrome80,safari15",
         f"--outfile={out / 'entry.js'}", "--log-level=warning"],
        check=True, cwd=APP,
    )  # fmt: skip
    shutil.copy(ENTRY / "index.html", out / "index.html")
    return out


def signed_registry(board: Any, version: int) -> str:
    chosen = [lp.policy for lp in load_policies([bundled_catalog()]) if lp.policy and lp.policy.id in POLICIES]
    return sign_registry(chosen, board, issuer="Riverton Policy Board", version=version, now=int(time.time()),
                         lifetime=30 * DAY, catalogue=default_catalogue())  # fmt: skip


@dataclass
class City:
    issuer: Issuer
    board: Any
    older_registry: str
    desk_data: Path
    hooks: list[Hook] = field(default_factory=list)

    @property
    def board_jwks(self) -> dict[str, Any]:
        return public_jwks(self.board)

    def desk(self) -> Desk:
        """A desk synced with the issuer now (the way `verifier sync` does it)."""
        client = self.issuer.client
        sync(ISSUER_URL, self.desk_data, fetch=lambda url: client.get(url).text, now=int(time.time()),
             issuer_jwks=client.get("/.well-known/jwt-vc-issuer").json(), board_jwks=self.board_jwks)  # fmt: skip
        return Desk(load_trust(self.desk_data))


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    folder = tmp_path_factory.mktemp("phone-city")
    with running_issuer(folder / "issuer") as issuer:
        board = new_es256_key()
        older = signed_registry(board, 1)
        publish(issuer.settings.data, signed_registry(board, 2), public_jwks(board), now=int(time.time()))
        yield City(issuer, board, older, folder / "desk")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Browser, Path]]:
    served = bundle(tmp_path_factory.mktemp("phone-bundle"))
    with chromium() as launched:
        yield launched, served


FORWARDED = frozenset({"authorization", "content-type"})
DROPPED = frozenset({"content-length", "content-encoding", "transfer-encoding"})


def ask_issuer(city: City, request: Request) -> Any:
    """What the issuer app in this process answers to ``request``, as the issuer's server would."""
    path = request.url[len(ISSUER_URL) :] or "/"
    wanted = {name: value for name, value in request.headers.items() if name.lower() in FORWARDED}
    return city.issuer.client.request(request.method, path, headers=wanted, content=request.post_data_buffer)


def forward(city: City, route: Route, request: Request) -> None:
    answer = ask_issuer(city, request)
    headers = {name: value for name, value in answer.headers.items() if name.lower() not in DROPPED}
    route.fulfill(status=answer.status_code, headers=headers, body=answer.content)


DUMP = """async () => {
    const db = await new Promise((ok, fail) => {
        const opening = indexedDB.open("cityid-wallet");
        opening.onsuccess = () => ok(opening.result);
        opening.onerror = () => fail(opening.error);
    });
    const asText = (bytes) => Array.from(bytes, (b) => String.fromCharCode(b)).join("");
    const plain = (value) => {
        if (value instanceof CryptoKey) {
            return {cryptoKey: value.type, extractable: value.extractable, usages: value.usages};
        }
        if (value instanceof ArrayBuffer) return asText(new Uint8Array(value));
        if (ArrayBuffer.isView(value)) {
            return asText(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
        }
        if (Array.isArray(value)) return value.map(plain);
        if (value && typeof value === "object") {
            return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
        }
        return value;
    };
    const dump = {};
    for (const name of Array.from(db.objectStoreNames)) {
        const store = db.transaction(name, "readonly").objectStore(name);
        const [keys, values] = await Promise.all([
            new Promise((ok) => { const r = store.getAllKeys(); r.onsuccess = () => ok(r.result); }),
            new Promise((ok) => { const r = store.getAll(); r.onsuccess = () => ok(r.result); }),
        ]);
        dump[name] = keys.map((key, i) => [plain(key), plain(values[i])]);
    }
    db.close();
    return JSON.stringify(dump);
}"""
"""Every object store of the wallet's IndexedDB as JSON, bytes as Latin-1 text (so that any
plaintext in them would show), CryptoKeys as their description."""


class Phone:
    """A fresh phone (browser context: its own IndexedDB) with the wallet open in a page."""

    def __init__(self, context: BrowserContext, served: Path, city: City) -> None:
        self.context, self.served, self.city = context, served, city
        self.page: Page = context.new_page()
        self.page.route(ISSUER_URL + "/**", self._route)
        self.open()

    def _route(self, route: Route, request: Request) -> None:
        path = request.url[len(ISSUER_URL) :]
        if path.startswith("/wallet/"):
            name = path[len("/wallet/") :].split("#")[0].split("?")[0] or "index.html"
            file = self.served / name
            kind = "text/javascript" if name.endswith(".js") else "text/html; charset=utf-8"
            headers = {"Content-Type": kind, "Content-Security-Policy": CSP, "Cache-Control": "no-cache"}
            route.fulfill(status=200, body=file.read_bytes(), headers=headers)
            return
        for hook in list(self.city.hooks):
            if hook(route, request):
                return
        forward(self.city, route, request)

    def open(self) -> None:
        """(Re)load the app and open the wallet, as a resident opening the app does."""
        self.page.goto(ISSUER_URL + "/wallet/index.html")
        self.page.wait_for_function("() => window.cityidWallet !== undefined")
        self.page.evaluate("async () => { window.wallet = await window.cityidWallet.openWallet(); }")

    def call(self, method: str, *arguments: Any) -> Any:
        """``wallet[method](...arguments)``; a WalletError comes back as ``{"refused": reason}``."""
        return self.page.evaluate(
            """async ([method, args]) => {
                try { return {value: await window.wallet[method](...args)}; }
                catch (error) { return {refused: error.reason || String(error), message: String(error.message)}; }
            }""",
            [method, list(arguments)],
        )

    def ok(self, method: str, *arguments: Any) -> Any:
        answer = self.call(method, *arguments)
        assert "refused" not in answer, answer
        return answer.get("value")

    def refused(self, method: str, *arguments: Any) -> str:
        answer = self.call(method, *arguments)
        assert "refused" in answer, answer
        return str(answer["refused"])

    def receive_batch(self, offer_text: str | None = None) -> dict[str, int]:
        created = self.city.issuer.offer(RESIDENT)
        self.ok("startReceive", offer_text or created.offer_uri)
        received: dict[str, int] = self.ok("receive", created.pin)["received"]
        return received

    def dump(self) -> str:
        """Every object store of the wallet's IndexedDB, bytes as Latin-1 text (so that any
        plaintext in them would show), CryptoKeys as their description."""
        return str(self.page.evaluate(DUMP))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def new_phone(browser: tuple[Browser, Path], city: City) -> Iterator[Callable[[], Phone]]:
    made: list[Phone] = []

    def make() -> Phone:
        phone = Phone(browser[0].new_context(), browser[1], city)
        made.append(phone)
        return phone

    yield make
    city.hooks.clear()
    for phone in made:
        phone.close()


@pytest.fixture(scope="module")
def enrolled_phone(browser: tuple[Browser, Path], city: City) -> Iterator[Phone]:
    """One phone that received a batch: for the tests that read it, or spend at most one credential."""
    phone = Phone(browser[0].new_context(), browser[1], city)
    assert phone.receive_batch() == {"residency": 10, "identity": 10}
    yield phone
    phone.close()


def test_a_batch_of_ten_is_received_with_the_pin_and_its_keys_cannot_be_read_out(enrolled_phone: Phone) -> None:
    status = enrolled_phone.ok("status")
    assert status["unused"] == {"residency": 10, "identity": 10}
    assert (status["issuer"], status["hasPending"], status["low"]) == (ISSUER_URL, False, False)
    assert enrolled_phone.ok("pendingReceive") is None
    keys = enrolled_phone.ok("keyReport")
    assert len(keys) == 20
    assert all(key == {"extractable": False, "exportFails": True} for key in keys), keys


def test_indexeddb_holds_no_claim_value_in_the_clear(enrolled_phone: Phone) -> None:
    dump = enrolled_phone.dump()
    stores = json.loads(dump)
    assert len(stores["credentials"]) == 20 and len(stores["deviceKeys"]) == 20
    assert [key for key, _ in stores["state"]] == ["trust"]  # the board key pinned at the receive
    for value in CLAIM_VALUES:
        assert value not in dump, f"{value!r} is readable in IndexedDB"


def test_a_desk_request_is_answered_and_the_desk_sees_only_what_it_asked(enrolled_phone: Phone, city: City) -> None:
    desk, now = city.desk(), int(time.time())
    request = desk.new_request("library-card", audience="desk:lib", now=now)
    before = enrolled_phone.ok("status")["unused"]
    prepared = enrolled_phone.ok("prepareAnswer", encode_request_text(request))
    assert (prepared["card"], prepared["insteadOf"], prepared["policy"]["id"]) == ("residency", None, "library-card")
    assert enrolled_phone.ok("status")["unused"] == before  # preparing spends nothing
    shared = enrolled_phone.ok("share", prepared)
    assert request.codec >= 2 and shared["qrText"].startswith("CID2:")  # the desk reads CID2: its request says so
    assert (shared["type"], shared["remaining"]) == ("residency", before["residency"] - 1)
    result = desk.check(shared["qrText"], request=request, now=int(time.time()))
    assert result.valid, result
    assert dict(result.claims) == {"resident_of": "Riverton"} and result.dropped == ()
    assert result.device_bound is True
    assert enrolled_phone.ok("status")["unused"]["residency"] == before["residency"] - 1
    last = enrolled_phone.ok("history")[-1]
    assert {k: last[k] for k in ("policy", "audience", "claims", "type")} == {
        "policy": "library-card",
        "audience": "desk:lib",
        "claims": ["resident_of"],
        "type": "residency",
    }


def test_an_offline_proof_is_accepted_by_a_desk_for_its_policy(enrolled_phone: Phone, city: City) -> None:
    listed = [policy["id"] for policy in enrolled_phone.ok("policies")]
    assert sorted(listed) == sorted(POLICIES)
    desk = city.desk()
    before = enrolled_phone.ok("status")["unused"]
    shown = enrolled_phone.ok("showOffline", "recreation-centre")
    assert (shown["type"], shown["policy"]["id"]) == ("residency", "recreation-centre")
    assert shown["qrText"].startswith("CID1:")  # whichever desk scans it, every desk reads CID1
    result = desk.check(shown["qrText"], policy="recreation-centre", now=int(time.time()))
    assert result.valid, result
    assert set(result.claims) == {"resident_of", "age_over_18"}
    assert enrolled_phone.ok("status")["unused"]["residency"] == before["residency"] - 1
    assert enrolled_phone.refused("showOffline", "no-such-desk") == "unknown_policy"


def test_a_desk_that_reads_only_cid1_is_answered_in_cid1(enrolled_phone: Phone, city: City) -> None:
    desk, now = city.desk(), int(time.time())
    request = desk.new_request("library-card", audience="desk:lib", now=now)
    older = replace(request, codec=1)
    text = encode_request_text(older)
    assert text.startswith("CIDR1:")
    shared = enrolled_phone.ok("share", enrolled_phone.ok("prepareAnswer", text))
    assert shared["qrText"].startswith("CID1:")
    result = desk.check(shared["qrText"], request=older, now=int(time.time()))
    assert result.valid and dict(result.claims) == {"resident_of": "Riverton"}, result


def test_a_request_from_a_newer_desk_is_refused_as_a_newer_version(enrolled_phone: Phone) -> None:
    """Not as a damaged code: a desk request of a version the app does not read yet."""
    assert enrolled_phone.refused("prepareAnswer", "CIDR3:ABC") == "unsupported_format"


def test_an_over_asking_request_is_refused_and_spends_nothing(enrolled_phone: Phone) -> None:
    now = int(time.time())
    greedy = new_request(policy="library-card", claims=("resident_of", "birthdate"), audience="desk:lib", now=now,
                         lifetime=300, random_bytes=bytes(range(16)))  # fmt: skip
    before, history = enrolled_phone.ok("status")["unused"], enrolled_phone.ok("history")
    assert enrolled_phone.refused("prepareAnswer", encode_request_text(greedy)) == "claims_exceed_policy"
    assert enrolled_phone.ok("status")["unused"] == before
    assert enrolled_phone.ok("history") == history
    unknown = new_request(policy="no-such-desk", claims=("resident_of",), audience="desk:x", now=now, lifetime=300,
                          random_bytes=bytes(16))  # fmt: skip
    assert enrolled_phone.refused("prepareAnswer", encode_request_text(unknown)) == "unknown_policy"
    assert enrolled_phone.refused("prepareAnswer", "CIDR1:not-a-request") in {"malformed", "bad_encoding"}


def test_when_the_least_revealing_card_runs_out_another_answers_and_says_so(
    new_phone: Callable[[], Phone], city: City
) -> None:
    phone = new_phone()
    phone.receive_batch()
    desk, now = city.desk(), int(time.time())
    text = encode_request_text(desk.new_request("library-card", audience="desk:lib", now=now))
    spent = phone.page.evaluate(
        """async (text) => {
            const left = [];
            for (let i = 0; i < 10; i += 1) {
                const prepared = await window.wallet.prepareAnswer(text);
                left.push((await window.wallet.share(prepared)).remaining);
            }
            return left;
        }""",
        text,
    )
    assert spent == list(range(9, -1, -1))
    status = phone.ok("status")
    assert status["unused"] == {"residency": 0, "identity": 10} and status["low"] is True
    request = desk.new_request("library-card", audience="desk:lib", now=now)
    prepared = phone.ok("prepareAnswer", encode_request_text(request))
    assert (prepared["card"], prepared["insteadOf"], prepared["remaining"]) == ("identity", "residency", 10)
    shared = phone.ok("share", prepared)
    result = desk.check(shared["qrText"], request=request, now=int(time.time()))
    assert result.valid and dict(result.claims) == {"resident_of": "Riverton"} and result.dropped == ()
    senior = desk.new_request("senior-discount", audience="desk:bus", now=now)
    assert phone.refused("prepareAnswer", encode_request_text(senior)) == "no_credential"


def test_a_receive_whose_answer_was_lost_goes_on_after_a_reload_without_the_pin(
    new_phone: Callable[[], Phone], city: City
) -> None:
    phone = new_phone()
    created = city.issuer.offer(RESIDENT)
    link = f"{ISSUER_URL}/wallet/#offer={quote(created.offer_uri, safe='')}"
    lost: list[str] = []

    def lose_credential_answers(route: Route, request: Request) -> bool:
        """The issuer issues, and the answer never reaches the phone (until the reload)."""
        if not request.url.endswith("/credential"):
            return False
        forward_then_abort(city, route, request)
        lost.append(request.url)
        return True

    city.hooks.append(lose_credential_answers)
    started = phone.ok("startReceive", link)
    assert started["issuer"] == ISSUER_URL and started["configurations"] == ["residency", "identity"]
    assert phone.ok("pendingReceive")["needsPin"] is True
    with phone.page.expect_event("requestfailed", lambda failed: failed.url.endswith("/credential"), timeout=20_000):
        phone.page.evaluate("(pin) => { window.receiving = window.wallet.receive(pin).catch(() => null); }",
                            created.pin)  # fmt: skip
    assert lost, "the phone never asked for its credentials"
    phone.open()  # the app is closed mid-receive and opened again
    city.hooks.clear()
    pending = phone.ok("pendingReceive")
    assert (pending["needsPin"], pending["step"], pending["issuer"]) == (False, "credentials", ISSUER_URL)
    assert phone.ok("receive", None)["received"] == {"residency": 10, "identity": 10}
    assert phone.ok("pendingReceive") is None
    assert phone.ok("status")["unused"] == {"residency": 10, "identity": 10}
    assert len(phone.ok("keyReport")) == 20  # the keys of the lost answer were thrown away


def forward_then_abort(city: City, route: Route, request: Request) -> None:
    ask_issuer(city, request)
    route.abort("connectionreset")


def test_a_pin_that_cannot_be_right_spends_no_try_and_a_wrong_one_is_the_issuers_refusal(
    new_phone: Callable[[], Phone], city: City
) -> None:
    phone = new_phone()
    created = city.issuer.offer(RESIDENT)
    phone.ok("startReceive", created.offer_uri)
    assert phone.refused("receive", "12a4") == "invalid_pin"
    wrong = "".join(str((int(digit) + 1) % 10) for digit in created.pin)
    assert phone.refused("receive", wrong) == "wrong_pin"
    assert phone.ok("pendingReceive")["needsPin"] is True
    spaced = " ".join(created.pin)  # as read off the slip
    assert phone.ok("receive", spaced)["received"] == {"residency": 10, "identity": 10}


def test_an_older_registry_or_another_board_key_is_refused(new_phone: Callable[[], Phone], city: City) -> None:
    phone = new_phone()
    phone.receive_batch()  # pins the board key and registry version 2
    later = int(time.time()) + 2 * DAY  # the registry is stale: the phone asks the issuer again
    request = new_request(policy="library-card", claims=("resident_of",), audience="desk:lib", now=later,
                          lifetime=300, random_bytes=bytes(16))  # fmt: skip
    text = encode_request_text(request)

    def serve(published: dict[str, Any]) -> Hook:
        def hook(route: Route, request: Request) -> bool:
            if not request.url.endswith("/registry"):
                return False
            route.fulfill(status=200, content_type="application/json", body=json.dumps(published))
            return True

        return hook

    city.hooks[:] = [serve({"registry": city.older_registry, "board_jwks": city.board_jwks})]
    assert phone.refused("prepareAnswer", text, {"now": later}) == "registry_rollback"
    impostor = new_es256_key()
    city.hooks[:] = [serve({"registry": signed_registry(impostor, 3), "board_jwks": public_jwks(impostor)})]
    assert phone.refused("prepareAnswer", text, {"now": later}) == "board_key_changed"
    city.hooks.clear()
    phone.context.set_offline(True)  # offline, the registry held is used while it is current
    assert phone.ok("prepareAnswer", text, {"now": later})["policy"]["id"] == "library-card"
    assert phone.refused("prepareAnswer", text, {"now": later + 40 * DAY}) == "registry_offline"
    phone.context.set_offline(False)
    assert phone.ok("status")["unused"] == {"residency": 10, "identity": 10}
