// Draws the proof as an inline SVG built with DOM calls (no data: URL, no inline style), black
// on white with a quiet zone so a desk webcam reads it.
import { generate, mode } from "lean-qr";

const SVG = "http://www.w3.org/2000/svg";
// A CID1: proof is all QR-alphanumeric: saying so skips lean-qr's search over every mode, whose
// first run builds a Shift-JIS table (about half the time from Yes to the QR on an old phone).
const alphanumeric = (text) => [...text].every((c) => mode.alphaNumeric.test(c));

export function qrSvg(text) {
  const code = generate(alphanumeric(text) ? mode.alphaNumeric(text) : text);
  const quiet = 4;
  const n = code.size + 2 * quiet;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${n} ${n}`);
  svg.setAttribute("shape-rendering", "crispEdges");
  svg.setAttribute("role", "img");
  const bg = document.createElementNS(SVG, "rect");
  bg.setAttribute("width", n); bg.setAttribute("height", n); bg.setAttribute("fill", "#fff");
  svg.appendChild(bg);
  let d = "";
  for (let y = 0; y < code.size; y++) for (let x = 0; x < code.size; x++) if (code.get(x, y)) d += `M${x + quiet} ${y + quiet}h1v1h-1z`;
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", d); path.setAttribute("fill", "#000");
  svg.appendChild(path);
  return svg;
}
