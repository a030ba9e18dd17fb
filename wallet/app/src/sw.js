// The service worker: keeps the app working with no network (a desk on a mountain pass), and
// never caches the issuer's API, so credentials and registries always come fresh.
const PRECACHE = "__CITYID_PRECACHE__";
const LIST = Array.isArray(PRECACHE) ? PRECACHE : [];
const SCOPE = new URL(self.registration.scope);

/** A cache name from the file hashes, so any changed file installs a new cache. */
function cacheName() {
  let h = 0;
  for (const ch of JSON.stringify(LIST)) h = (Math.imul(h, 31) + ch.charCodeAt(0)) | 0;
  return "cityid-app-" + (h >>> 0).toString(16);
}
const CACHE = cacheName();

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(LIST.map((entry) => new URL(entry[0], SCOPE).href))).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((names) => Promise.all(names.filter((n) => n.startsWith("cityid-app-") && n !== CACHE).map((n) => caches.delete(n)))).then(() => self.clients.claim()));
});
self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== SCOPE.origin || !url.pathname.startsWith(SCOPE.pathname)) return;
  const known = new Set(LIST.map((entry) => new URL(entry[0], SCOPE).pathname));
  if (request.mode === "navigate") {
    event.respondWith(caches.open(CACHE).then((cache) => fetch(request).catch(() => cache.match(new URL("index.html", SCOPE).href))));
    return;
  }
  if (!known.has(url.pathname)) return; // the issuer's API: network only
  event.respondWith(caches.open(CACHE).then((cache) => cache.match(url.href).then((hit) => hit || fetch(request))));
});
