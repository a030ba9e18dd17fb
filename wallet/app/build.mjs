// Builds the phone wallet into dist/: one bundled module, the service worker, static files and
// the QR decoder's wasm, so the issuer can serve everything from its own origin (no CDN).
import { build } from "esbuild";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const dist = "dist";
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist);
const common = { bundle: true, minify: true, sourcemap: false, target: ["es2020", "chrome80", "safari15"], legalComments: "none", logLevel: "warning" };
await build({ ...common, entryPoints: ["src/main.js"], outfile: join(dist, "app.js"), format: "esm" });
await build({ ...common, entryPoints: ["src/sw.js"], outfile: join(dist, "sw.js"), format: "iife" });
for (const name of ["index.html", "app.css", "manifest.webmanifest", "icons"]) {
  cpSync(join("src", name), join(dist, name), { recursive: true });
}
cpSync("node_modules/zxing-wasm/dist/reader/zxing_reader.wasm", join(dist, "zxing_reader.wasm"));
if (!readFileSync(join(dist, "sw.js"), "utf8").includes("__CITYID_PRECACHE__")) {
  throw new Error("sw.js lost its __CITYID_PRECACHE__ placeholder");
}

/** Lists files under dir, relative to it, so sizes can be checked against the budget. */
function files(dir, prefix = "") {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path, prefix + name + "/") : [prefix + name];
  });
}
let appGzip = 0;
let totalGzip = 0;
for (const name of files(dist)) {
  const data = readFileSync(join(dist, name));
  const gz = gzipSync(data, { level: 9 }).length;
  totalGzip += gz;
  if (!name.endsWith(".wasm")) appGzip += gz;
  console.log(`${name.padEnd(28)} ${String(data.length).padStart(9)} B  ${String(gz).padStart(8)} B gzip`);
}
console.log(`app code gzip: ${(appGzip / 1000).toFixed(1)} kB (budget 150 kB); first visit gzip: ${(totalGzip / 1000).toFixed(1)} kB (budget 700 kB)`);
if (appGzip > 150000 || totalGzip > 700000) throw new Error("over the size budget");
