// Translations from messages/<lang>.json (made from the gettext catalogs by the Python side), so
// the phone says the same words as the CLI; English msgids are the fallback.
export const LANGUAGES = ["en", "es", "zh-Hans", "ar"];
let table = { lang: "en", dir: "ltr", messages: {}, refusals: {}, claims: {}, cards: {}, verifiers: {} };

/** Picks the phone's language when the resident has not chosen one in the app. */
export function defaultLanguage(list = navigator.languages || [navigator.language || "en"]) {
  for (const tag of list) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (base === "zh") return "zh-Hans";
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

/** Loads one language and sets <html lang dir>; a missing file leaves English. */
export async function setLanguage(lang) {
  const fallback = { lang, dir: lang === "ar" ? "rtl" : "ltr", messages: {}, refusals: {}, claims: {}, cards: {}, verifiers: {} };
  try {
    const response = await fetch(`messages/${lang}.json`);
    table = response.ok ? { ...fallback, ...(await response.json()) } : fallback;
  } catch {
    table = fallback;
  }
  document.documentElement.lang = lang;
  document.documentElement.dir = table.dir || "ltr";
  return table;
}
export const currentLanguage = () => table.lang || "en";

/** Like Python's str.format with named fields. */
export function _(msgid, values = {}) {
  const text = table.messages[msgid] || msgid;
  return text.replace(/\{(\w+)\}/g, (all, key) => (key in values ? String(values[key]) : all));
}
export const refusal = (reason) => table.refusals[reason] || _("This could not be done ({reason}).", { reason });
export const claimLabel = (name) => table.claims[name] || name.replace(/_/g, " ");
/** Claim names in the credential types' order (the messages list them so), unknown ones last. */
export const inClaimOrder = (names) => {
  const order = Object.keys(table.claims || {});
  const rank = (name) => (order.includes(name) ? order.indexOf(name) : order.length);
  return [...names].sort((a, b) => rank(a) - rank(b));
};
export const cardLabel = (type) => table.cards[type] || type;
export const verifierName = (name) => table.verifiers[name] || name;
