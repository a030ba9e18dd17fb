// The phone wallet's screens. Every user-visible string goes through a literal _() call so it is translated.
import { openWallet, WalletError } from "./wallet.js";
import { _, refusal, claimLabel, inClaimOrder, cardLabel, verifierName, setLanguage, defaultLanguage, currentLanguage, LANGUAGES } from "./i18n.js";
import { h, say } from "./ui/dom.js";
import { qrSvg } from "./qrcode.js";
import { looksLikeRequest } from "./core/request.js";

const LANGUAGE_NAMES = { en: "English", es: "Español", "zh-Hans": "简体中文", ar: "العربية" };
let wallet;
let leave = () => {};

/** Replaces the screen, records its name for tests and moves focus to its heading for screen readers. */
function show(name, ...children) {
  leave(); leave = () => {};
  const app = document.getElementById("app");
  app.replaceChildren(...children.flat().filter((child) => child != null));
  document.body.dataset.screen = name;
  const heading = app.querySelector("h1");
  if (heading) { heading.tabIndex = -1; heading.focus(); }
}
const button = (id, text, onclick, cls = "") => h("button", { id, type: "button", class: cls, onclick }, text);
const reasonOf = (e) => (e instanceof WalletError || (e && e.reason) ? e.reason : "malformed");

function languageSelect() {
  return h("label", { class: "field" }, _("Language"), h("select", { id: "language", onchange: async (e) => { await wallet.setSetting("language", e.target.value); await setLanguage(e.target.value); home(); } },
    LANGUAGES.map((l) => h("option", { value: l, lang: l, selected: l === currentLanguage() }, LANGUAGE_NAMES[l]))));
}

async function home() {
  const st = await wallet.status();
  const count = (st.unused.residency || 0) + (st.unused.identity || 0);
  show("home",
    h("h1", {}, _("Your City ID")),
    h("p", { id: "unused-count", class: "big" }, _("{count} unused credentials", { count })),
    h("p", { id: "low-batch", class: "warning", hidden: !st.low }, _("Only {count} unused credentials left: ask a city clerk for a new batch.", { count: Math.min(st.unused.residency || 0, st.unused.identity || 0) })),
    h("div", { class: "actions" },
      button("scan-request", _("Scan a desk's code"), () => scan("request"), "primary"),
      button("scan-offer", _("Receive credentials"), () => scan("offer")),
      button("show-offline", _("Show a proof without a desk code"), showScreen),
      button("open-history", _("What I shared"), historyScreen),
      button("open-settings", _("Settings"), settings)),
    languageSelect());
}

function refused(reason) {
  show("refused", h("h1", {}, _("Nothing was shared.")), h("p", { id: "refusal", "data-reason": reason, class: "warning" }, refusal(reason)), button("refusal-back", _("Back"), home, "primary"));
}

async function offer(info) {
  const pin = h("input", { id: "pin", type: info.pinNumeric ? "password" : "text", inputmode: info.pinNumeric ? "numeric" : "text", autocomplete: "one-time-code", maxlength: info.pinLength || false, required: true });
  show("offer", h("h1", {}, _("New credentials from the city")), h("p", {}, _("From: {issuer}", { issuer: info.issuer })),
    h("form", { onsubmit: (e) => { e.preventDefault(); receive(pin.value); } },
      h("label", { class: "field" }, _("The PIN on your slip"), pin), button("pin-submit", _("Receive"), null, "primary")),
    button("offer-cancel", _("Cancel"), async () => { await wallet.forgetPendingReceive(); home(); }));
  document.getElementById("pin-submit").type = "submit";
}

async function receive(pin) {
  const progress = h("progress", { max: 1, value: 0 });
  show("receiving", h("h1", {}, _("Receiving your credentials…")), progress);
  try {
    const r = await wallet.receive(pin, { onProgress: (done, total) => { progress.max = total; progress.value = done; say(_("{done} of {total}", { done, total })); } });
    const count = (r.received.residency || 0) + (r.received.identity || 0);
    show("received", h("h1", {}, _("Received")), h("p", { id: "received-count", class: "big" }, _("{count} credentials received", { count })), button("done", _("Done"), home, "primary"));
  } catch (e) {
    const pending = await wallet.pendingReceive().catch(() => null);
    // A PIN refused on the phone (no try used) or by the issuer: the offer is kept, so ask again.
    if (["invalid_pin", "wrong_pin"].includes(reasonOf(e)) && pending) { await offer(pending); say(refusal(reasonOf(e))); return; }
    refused(reasonOf(e));
  }
}

async function scan(kind) {
  const hint = h("p", { id: "scan-hint", "aria-live": "polite" }, kind === "offer" ? _("Point the camera at the code the clerk shows you.") : _("Point the camera at the desk's code."));
  const video = h("video", { id: "camera", playsinline: true, muted: true, autoplay: true });
  show("scan", h("h1", {}, _("Scan a code")), video, hint, button("scan-cancel", _("Back"), home));
  const { startScan } = await import("./scan.js");
  try {
    const stop = await startScan(video, (text) => handleText(text), () => { hint.textContent = _("No code read yet. Hold the phone steady, closer, with more light."); });
    leave = stop;
  } catch {
    hint.textContent = _("The camera could not be used. Allow the camera for this app in the phone's settings.");
  }
}

async function handleText(text) {
  text = text.trim();
  try {
    if (looksLikeRequest(text)) return consent(await wallet.prepareAnswer(text)); // a newer version than CIDR2 is refused there
    if (text.startsWith("openid-credential-offer://") || text.includes("/wallet/#offer=")) return offer(await wallet.startReceive(text));
  } catch (e) { return refused(reasonOf(e)); }
  refused("not_a_desk_code");
}

const localized = (map) => (map && (map[currentLanguage()] || map.en)) || "";
function retentionText(policy) {
  const r = policy.retention || {};
  const keeps = r.keeps || [];
  if (!keeps.length) return _("Nothing: they keep no record of you");
  return _("{claims}, for {period}", { claims: keeps.map(claimLabel).join(", "), period: r.period || "" });
}

function consent(prepared) {
  const { request, policy } = prepared;
  const sharedNames = request.claims;
  // What the card that answers holds (its own disclosures, wallet.js), less what is shared: a
  // residency card holds no name, so "They will not see" never lists one it could not show.
  const hidden = inClaimOrder(prepared.holds.filter((n) => !sharedNames.includes(n)));
  const purpose = localized(policy.purpose);
  const row = (label, id, value) => h("div", { class: "row" }, h("h2", {}, label), h("p", { id }, value));
  const voice = speechSynthesis && speechSynthesis.getVoices().find((v) => v.lang.toLowerCase().startsWith(currentLanguage().toLowerCase().split("-")[0]));
  const shared = h("ul", { id: "consent-shared" }, sharedNames.map((n) => h("li", {}, claimLabel(n))));
  const notShared = h("ul", { id: "consent-hidden" }, hidden.length ? hidden.map((n) => h("li", {}, claimLabel(n))) : h("li", {}, _("Nothing more: they see all that this card holds.")));
  show("consent",
    h("h1", {}, _("A desk is asking for a proof")),
    h("p", { id: "consent-title", class: "policy-title" }, localized(policy.title)),
    row(_("Who is asking"), "consent-verifier", verifierName(policy.verifier)),
    row(_("Desk"), "consent-desk", request.audience),
    row(_("Why"), "consent-purpose", purpose),
    row(_("What they may keep"), "consent-keeps", retentionText(policy)),
    h("h2", {}, _("They will see")), shared,
    h("h2", {}, _("They will not see")), notShared,
    prepared.insteadOf ? h("p", { id: "consent-card-warning", class: "warning" }, _("Your {card} card will be used instead of the {other} card.", { card: cardLabel(prepared.card), other: cardLabel(prepared.insteadOf) })) : null,
    h("div", { class: "actions yesno" },
      button("consent-yes", _("Yes, share"), async () => { try { proof(await wallet.share(prepared)); } catch (e) { refused(reasonOf(e)); } }, "primary"),
      button("consent-no", _("No"), () => { say(_("Nothing was shared.")); home(); })),
    voice ? button("read-aloud", _("Read aloud"), () => {
      const u = new SpeechSynthesisUtterance([_("A desk is asking for a proof"), localized(policy.title), verifierName(policy.verifier), purpose, _("They will see"), sharedNames.map(claimLabel).join(", ")].join(". "));
      u.voice = voice; u.lang = voice.lang; speechSynthesis.cancel(); speechSynthesis.speak(u);
    }) : null);
}

function proof(result) {
  const svg = qrSvg(result.qrText);
  svg.id = "proof-qr";
  svg.setAttribute("data-qr-text", result.qrText);
  svg.setAttribute("aria-label", _("Show this code to the desk."));
  show("proof", h("h1", {}, _("Show this code to the desk.")), h("div", { class: "qr" }, svg),
    h("p", { id: "proof-brightness" }, _("Turn the screen brightness up so the desk can read it.")), button("proof-done", _("Done"), home, "primary"));
}

async function showScreen() {
  const list = await wallet.policies();
  show("show", h("h1", {}, _("Show a proof without a desk code")),
    h("div", { class: "actions" }, list.map((p) => h("button", { type: "button", "data-policy": p.id, onclick: async () => { try { proof(await wallet.showOffline(p.id)); } catch (e) { refused(reasonOf(e)); } } }, localized(p.title) || p.id))),
    button("show-back", _("Back"), home));
}

async function historyScreen() {
  const items = await wallet.history();
  show("history", h("h1", {}, _("What I shared")), h("p", {}, _("This list is kept only on this phone.")),
    h("ul", { id: "history-list" }, items.length ? items.map((i) => h("li", {}, _("{when}: {claims} to {desk}", { when: new Date(i.at * (i.at < 1e12 ? 1000 : 1)).toLocaleString(currentLanguage()), claims: (i.claims || []).map(claimLabel).join(", "), desk: i.audience }))) : h("li", {}, _("Nothing shared yet."))),
    button("history-clear", _("Clear the list"), async () => { if (confirm(_("Clear the list of what you shared?"))) { await wallet.clearHistory(); historyScreen(); } }),
    button("history-back", _("Back"), home));
}

async function settings() {
  const pin = h("input", { id: "lock-pin", type: "password", inputmode: "numeric", autocomplete: "new-password", minlength: 4 });
  const locked = await wallet.lockSet();
  show("settings", h("h1", {}, _("Settings")), languageSelect(),
    h("h2", {}, _("App lock")), h("p", {}, _("A PIN for this app, for phones shared with family.")),
    h("label", { class: "field" }, _("New app PIN"), pin),
    h("div", { class: "actions" }, button("lock-save", _("Save the app PIN"), async () => { if (pin.value.length >= 4) { await wallet.setLock(pin.value); say(_("Saved")); settings(); } else say(_("Use at least 4 digits.")); }),
      button("lock-remove", _("Remove the app PIN"), async () => { await wallet.setLock(null); say(_("Saved")); settings(); }, locked ? "" : "hidden")),
    h("p", {}, _("If you forget the app PIN, the credentials on this phone cannot be opened. Take your slip to a city desk for a new batch.")),
    h("h2", {}, _("Lost phone or new phone")),
    h("p", { id: "lost-phone" }, _("Take your slip to a city desk. The clerk stops the old credentials with the code on the slip and gives you a new batch. Credentials cannot be copied to another phone.")),
    h("p", {}, _("On an iPhone, add this app to the home screen. Otherwise Safari deletes its data after 7 days without use.")),
    button("settings-back", _("Back"), home));
}

function lock() {
  const pin = h("input", { id: "unlock-pin", type: "password", inputmode: "numeric", autocomplete: "current-password" });
  const err = h("p", { id: "unlock-error", class: "warning", hidden: true, "aria-live": "assertive" }, _("Wrong PIN. Try again."));
  show("lock", h("h1", {}, _("Enter the app PIN")), h("form", { onsubmit: async (e) => { e.preventDefault(); if (await wallet.unlock(pin.value)) start(); else err.hidden = false; } },
    h("label", { class: "field" }, _("App PIN"), pin), err, h("button", { id: "unlock-submit", type: "submit", class: "primary" }, _("Open"))));
}

let unlocked = false;
async function start() {
  unlocked = true;
  const match = location.hash.match(/^#offer=(.+)$/);
  if (match) {
    const text = location.href;
    history.replaceState(null, "", location.pathname + location.search);
    try { return offer(await wallet.startReceive(text)); } catch (e) { return refused(reasonOf(e)); }
  }
  const pending = await wallet.pendingReceive().catch(() => null);
  if (pending) return pending.needsPin ? offer(pending) : receive(null);
  return home();
}

async function boot() {
  wallet = await openWallet();
  await setLanguage((await wallet.getSetting("language")) || defaultLanguage());
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});
  if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {});
  if ((await wallet.lockSet()) && !unlocked) return lock();
  return start();
}
// An offer link opened while the app is already open (same page, new fragment) starts the receive too.
window.addEventListener("hashchange", () => { if (unlocked && location.hash.startsWith("#offer=")) start(); });
boot().catch((e) => { document.body.dataset.screen = "error"; document.getElementById("app").textContent = String(e && e.message); });
