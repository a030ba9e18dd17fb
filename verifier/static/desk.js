// The desk page: ask the local server for a request QR, send camera frames to the local server,
// show the answer big, clear it. No library, no network beyond this server.
"use strict";
(() => {
  const lang = document.body.dataset.lang;
  const clearAfter = __CLEAR_AFTER__ * 1000;
  const $ = (id) => document.getElementById(id);
  const policy = $("policy"), video = $("camera"), canvas = $("frame"), result = $("result");
  let busy = false, showing = false, lastText = "", clearTimer = 0;
  // The code whose answer was just dismissed: while the phone is still held up, its frames are
  // not answered again (that would only say "already answered"); forgotten once it is not seen
  // for FORGET_MS, so the same phone can be shown again after it was taken away.
  const FORGET_MS = 3000;
  let dismissed = { code: "", seenAt: 0 };

  // GET shows the open request; POST (the New request button) replaces it.
  async function newRequest(fresh) {
    const url = `/api/request?policy=${encodeURIComponent(policy.value)}&lang=${lang}`;
    const answer = await (await fetch(url, { method: fresh ? "POST" : "GET" })).json();
    $("request-qr").innerHTML = answer.svg || "";
    $("request-qr").dataset.request = answer.request || "";
    $("asks").textContent = (answer.asks || []).join(" · ");
  }

  function show(answer) {
    showing = true;
    result.hidden = false;
    result.className = answer.valid ? "valid" : "invalid";
    result.dataset.reason = answer.reason;
    $("verdict").textContent = (answer.valid ? "✔ " : "✘ ") + answer.words;
    $("facts").replaceChildren(...answer.facts.map((fact) => Object.assign(document.createElement("li"), { textContent: fact })));
    $("issuer").textContent = answer.issuer ? `${answer.issuer_label} ${answer.issuer}` : "";
    $("paper").textContent = answer.paper_note || "";
    result.focus();
    clearTimeout(clearTimer);
    clearTimer = setTimeout(clear, clearAfter);
  }

  function clear() {
    if (!showing) return;
    clearTimeout(clearTimer);
    dismissed = { code: shownCode, seenAt: Date.now() };
    showing = false;
    result.hidden = true;
    result.className = "";
    newRequest(false);
    $("typed").focus();
  }

  // Resolves to the HTTP response; rejects when the server cannot be reached.
  let shownCode = "";
  async function send(body, type) {
    const fromCamera = type !== "text/plain";
    busy = true;
    try {
      const response = await fetch(`/api/scan?policy=${encodeURIComponent(policy.value)}&lang=${lang}`,
        { method: "POST", body, headers: { "Content-Type": type } });
      const answer = await response.json();
      if (answer.found && fromCamera && answer.code === dismissed.code && Date.now() - dismissed.seenAt < FORGET_MS) {
        dismissed.seenAt = Date.now();  // still the phone whose answer was dismissed
      } else if (answer.found) {
        shownCode = answer.code || "";
        show(answer.result);
      }
      return response;
    } finally {
      busy = false;
    }
  }

  // The camera loop. The next frame is taken as soon as the answer to the last one arrives: a
  // frame costs the server a few milliseconds when it reads, well under 100 when it cannot, so a
  // fixed pause would only add to the wait. While an answer is shown or a typed scan is out the
  // loop idles; when the server is busy, failing or gone it backs off (doubling, up to
  // ERROR_MAX_MS) so a broken server is not hammered; while the page is hidden it stops.
  const IDLE_MS = 100, ERROR_MS = 1000, ERROR_MAX_MS = 8000;
  let looping = false, backOff = 0;

  function failed(retryAfterSeconds) {
    backOff = Math.min(ERROR_MAX_MS, Math.max(backOff * 2, ERROR_MS, retryAfterSeconds * 1000 || 0));
    return backOff;
  }

  async function frame() {
    if (document.hidden) { looping = false; return; }
    let wait = IDLE_MS;
    if (!busy && !showing && video.videoWidth) {
      try {
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        canvas.getContext("2d").drawImage(video, 0, 0);
        const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
        if (blob) {
          const response = await send(blob, "image/jpeg");
          if (response.ok) { backOff = 0; wait = 0; } else wait = failed(Number(response.headers.get("Retry-After")));
        }
      } catch (error) {
        wait = failed(0);  // offline, or an answer that is not JSON
      }
    }
    setTimeout(frame, wait);
  }

  function startLoop() {
    if (looping || document.hidden) return;
    looping = true;
    frame();
  }

  async function camera() {
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      $("camera-state").textContent = "";
      document.addEventListener("visibilitychange", startLoop);
      startLoop();
    } catch (error) {
      $("camera-state").textContent = $("camera-state").dataset.noCamera;  // translated by the server
    }
  }

  $("typed").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.value.trim()) {
      const text = event.target.value.trim();
      event.target.value = "";
      if (text !== lastText || !showing) { lastText = text; send(text, "text/plain"); }
    }
  });
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") clear(); });
  policy.addEventListener("change", () => newRequest(false));
  $("renew").addEventListener("click", () => newRequest(true));
  const wanted = new URLSearchParams(location.search).get("policy");
  if (wanted) policy.value = wanted;
  newRequest(false);
  camera();
})();
