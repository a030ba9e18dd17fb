// The desk page: ask the local server for a request QR, send camera frames to the local server,
// show the answer big, clear it. No library, no network beyond this server.
"use strict";
(() => {
  const lang = document.body.dataset.lang;
  const clearAfter = __CLEAR_AFTER__ * 1000;
  const $ = (id) => document.getElementById(id);
  const policy = $("policy"), video = $("camera"), canvas = $("frame"), result = $("result");
  let busy = false, showing = false, lastText = "";

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
    setTimeout(clear, clearAfter);
  }

  function clear() {
    if (!showing) return;
    showing = false;
    result.hidden = true;
    result.className = "";
    newRequest(false);
    $("typed").focus();
  }

  async function send(body, type) {
    busy = true;
    try {
      const response = await fetch(`/api/scan?policy=${encodeURIComponent(policy.value)}&lang=${lang}`,
        { method: "POST", body, headers: { "Content-Type": type } });
      const answer = await response.json();
      if (answer.found) show(answer.result);
    } finally {
      busy = false;
    }
  }

  async function frame() {
    if (!busy && !showing && video.videoWidth) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
      if (blob) await send(blob, "image/jpeg");
    }
    setTimeout(frame, 250);
  }

  async function camera() {
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      $("camera-state").textContent = "";
      frame();
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
