// Reads QR codes from the back camera with the same zxing-cpp core as the desk; the wasm is
// served by the app itself, never a CDN.
import { prepareZXingModule, readBarcodes } from "zxing-wasm/reader";

prepareZXingModule({ overrides: { locateFile: (path, prefix) => (path.endsWith(".wasm") ? new URL("zxing_reader.wasm", location.href).href : prefix + path) } });

/** Starts scanning into video; calls onText once per read; returns stop(). Throws if the camera is refused. */
export async function startScan(video, onText, onSlow) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  video.srcObject = stream;
  video.setAttribute("playsinline", "");
  video.muted = true;
  await video.play().catch(() => {});
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  let stopped = false;
  let busy = false;
  const started = Date.now();
  let warned = false;
  const timer = setInterval(async () => {
    if (stopped || busy || !video.videoWidth) return;
    busy = true;
    try {
      canvas.width = video.videoWidth; canvas.height = video.videoHeight;
      ctx.drawImage(video, 0, 0);
      const results = await readBarcodes(ctx.getImageData(0, 0, canvas.width, canvas.height), { formats: ["QRCode"], tryHarder: true });
      const hit = results.find((r) => r.isValid && r.text);
      if (hit && !stopped) { stop(); onText(hit.text); return; }
      if (!warned && Date.now() - started > 6000) { warned = true; onSlow(); }
    } catch { /* a bad frame: try the next one */ } finally { busy = false; }
  }, 100);
  function stop() {
    stopped = true;
    clearInterval(timer);
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
  }
  return stop;
}
