// The explorer's page: state (kept in the URL hash), the frame (image, partner, map grid, unit, graph), controls.
"use strict";

const DATA = JSON.parse(document.getElementById("data").textContent);
const NETS = DATA.nets.map(makeNet);
const MAP_RES = 64;  // fer/maps.py's resolution: the grid's novel count is comparable with `fracturelab fer`'s
const $ = (id) => document.getElementById(id);
const S = { net: 0, partner: -1, w: null, dir: null, dw: 0, range: 1, res: DATA.res || 128, win: [-1, 1, -1, 1],
            unit: null, sort: "effect", desc: true, filter: "" };
const timing = { image: 0, maps: 0, total: 0, res: 1 };
let novelCount = 0, listRows = [];

// ------------------------------------------------------------------------------------------------ state <-> hash
function writeHash() {
  const h = [`net=${S.net}`, `partner=${S.partner}`, `dw=${+S.dw.toFixed(6)}`, `range=${S.range}`, `res=${S.res}`,
             `win=${S.win.join(",")}`, `sort=${S.sort}`, `desc=${S.desc ? 1 : 0}`];
  if (S.w !== null) h.push(`w=${S.w}`);
  if (S.dir) h.push(`dir=${S.dir.join(",")}`);
  if (S.unit) h.push(`unit=${S.unit.join(",")}`);
  if (location.hash !== "#" + h.join("&")) history.replaceState(null, "", "#" + h.join("&"));
}
function readHash() {
  const q = new URLSearchParams(location.hash.slice(1)), num = (k, d) => (q.has(k) && isFinite(+q.get(k)) ? +q.get(k) : d);
  const nums = (k) => (q.get(k) || "").split(",").filter((s) => s !== "").map(Number);
  S.net = Math.min(Math.max(num("net", 0) | 0, 0), NETS.length - 1);
  S.partner = num("partner", defaultPartner(S.net)) | 0;
  S.range = num("range", 1) > 0 ? num("range", 1) : 1;
  S.dw = num("dw", 0);
  S.res = Math.min(Math.max(num("res", S.res) | 0, 1), 1024);
  const win = nums("win");
  S.win = win.length === 4 && win.every(isFinite) && win[0] !== win[1] && win[2] !== win[3] ? win : [-1, 1, -1, 1];
  S.sort = q.get("sort") || "effect";
  S.desc = q.get("desc") !== "0";
  S.w = q.has("w") ? num("w", null) : null;
  if (S.w !== null && !(Number.isInteger(S.w) && S.w >= 0 && S.w < NETS[S.net].arch.nParams)) S.w = null;
  const dir = nums("dir"), u = nums("unit");
  S.dir = dir.length === 3 && dir.every(Number.isInteger) ? dir : null;
  S.unit = u.length === 2 && u.every(Number.isInteger) ? u : null;
}
function defaultPartner(i) {  // another net of the same arch (a replica beside its reference), else none
  const j = NETS.findIndex((n, k) => k !== i && n.arch.text === NETS[i].arch.text);
  return j;
}

// ------------------------------------------------------------------------------------------------ the perturbation
function perturbation() {  // {layer, col, vec, text} of the current sweep, or null
  const net = NETS[S.net], arch = net.arch;
  if (S.dir) {
    const [layer, col, seed] = S.dir;
    if (!(layer >= 0 && layer <= arch.L && col >= 0 && col < arch.shape(layer)[1])) return null;
    return { layer, col, vec: randomDirection(arch.shape(layer)[0], seed),
             text: `random direction (seed ${seed}) in the incoming weights of unit ${col} of layer ${layer + 1}` };
  }
  if (S.w === null) return null;
  const { layer, row, col } = locate(arch, S.w), vec = new Float64Array(arch.shape(layer)[0]);
  vec[row] = 1;
  const label = net.rec.labels[S.w];
  return { layer, row, col, vec, text: `weight ${S.w}: layer ${layer} unit ${row} → layer ${layer + 1} unit ${col}, ` +
           `w = ${net.params[S.w].toPrecision(4)}${label ? ` “${label}”` : ""}` };
}

function pickRandomDirection() {  // a column with a non-zero incoming weight, in the swept weight's layer if any
  const arch = NETS[S.net].arch, seed = ((S.dir ? S.dir[2] : 0) + 1) | 0;
  const rnd = randomDirection(2, seed * 7919 + 1);
  const layer = S.w !== null ? locate(arch, S.w).layer : Math.floor(Math.abs(rnd[0]) * 1e6) % (arch.L + 1);
  const cols = NETS[S.net].links[layer].map((c, d) => (c.src.length ? d : -1)).filter((d) => d >= 0);
  const pool = cols.length ? cols : [...Array(arch.shape(layer)[1]).keys()];
  S.dir = [layer, pool[Math.floor(Math.abs(rnd[1]) * 1e6) % pool.length], seed];
  S.w = null;
}

// ------------------------------------------------------------------------------------------------ evaluation
const cache = new Map();  // base runs per (net, res, window): the slider only recomputes what the sweep reaches
function baseRun(i, res) {
  const key = `${i}|${res}|${S.win}`;
  if (!cache.has(key)) {
    if (cache.size > 24) cache.delete(cache.keys().next().value);
    const g = grid(res, S.win);
    cache.set(key, { g, run: forward(NETS[i].arch, NETS[i].links, g) });
  }
  return cache.get(key);
}
function run(i, res, pert, dw) {
  const b = baseRun(i, res);
  if (!pert || dw === 0) return { g: b.g, run: b.run };
  const p = NETS[i].perturbed(pert, dw);
  return { g: b.g, run: forward(NETS[i].arch, p.links, b.g, b.run, pert) };
}
function paint(canvas, raw, res) {
  canvas.width = res; canvas.height = res;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(res, res);
  toRGBA(raw, res * res, img.data);
  ctx.putImageData(img, 0, 0);
}

// ------------------------------------------------------------------------------------------------ the frame
let gridGeom = null, lastMaps = null, lastNovel = null;
// preview: while the slider is dragged on a net whose full frame is slow, draw the image at the resolution the last
// full frame's cost per pixel allows in ~50 ms (16 to 64 pixels a side) and leave the maps as they were; the full
// frame follows when the slider is let go.
function previewRes() {
  const perPixel = timing.image / (timing.res * timing.res);
  return Math.max(16, Math.min(S.res, 64, Math.floor(Math.sqrt(50 / Math.max(perPixel, 1e-9)))));
}
function frame(preview = false) {
  const t0 = performance.now(), net = NETS[S.net], pert = perturbation(), res = preview ? previewRes() : S.res;
  const im = run(S.net, res, pert, S.dw);
  paint($("image"), im.run.raw, res);
  const t1 = performance.now();
  if (!preview || !lastMaps) {
    const mp = run(S.net, MAP_RES, pert, S.dw);
    lastMaps = mp.run.acts.slice(0, net.arch.L + 1);
    lastNovel = novelMaps(lastMaps.flat(), MAP_RES * MAP_RES);
    novelCount = lastNovel.reduce((s, v) => s + v, 0);
    drawGrid();
  }
  const t2 = performance.now();
  if (!preview) { timing.image = t1 - t0; timing.maps = t2 - t1; timing.total = t2 - t0; timing.res = S.res; }
  $("novel-count").textContent = novelCount;
  $("dw-out").textContent = (S.dw >= 0 ? "+" : "") + S.dw.toFixed(3);
  $("swept").textContent = pert ? pert.text : "Pick a weight in the list, type its ID, or draw a random direction.";
  $("status").textContent = preview ? `preview at ${res}×${res} while dragging (${(t1 - t0).toFixed(1)} ms); ` +
    "the full frame follows on release" : `${S.res}×${S.res} image ${timing.image.toFixed(1)} ms, maps + novel ${timing.maps.toFixed(1)} ms`;
  drawUnit();
  drawGraphOverlay(pert);
  writeHash();
}

function partnerFrame() {
  const p = S.partner;
  if (p >= 0 && p < NETS.length) paint($("partner"), baseRun(p, S.res).run.raw, S.res);
  else $("partner").getContext("2d").clearRect(0, 0, $("partner").width, $("partner").height);
}

// ------------------------------------------------------------------------------------------------ the map grid
function greyRange(m, N) {  // per-map min..max -> 0..255 (constant maps mid-grey), as matplotlib's imshow default
  let lo = Infinity, hi = -Infinity;
  for (let k = 0; k < N; k++) { const v = m[k]; if (v < lo) lo = v; if (v > hi) hi = v; }
  return hi > lo ? [lo, 255 / (hi - lo)] : [0, 0];
}
function greyMap(m, N) { const [lo, s] = greyRange(m, N); return (k) => (s ? (m[k] - lo) * s : 128); }
function drawGrid() {
  const arch = NETS[S.net].arch, rows = arch.L + 1, cols = Math.max(4, arch.W);
  const avail = Math.max(200, $("grid-wrap").clientWidth - 4);
  const t = Math.max(6, Math.min(28, Math.floor(avail / cols) - 2)), pitch = t + 2;
  const c = $("grid");
  c.width = cols * pitch; c.height = rows * pitch;
  gridGeom = { t, pitch, rows, cols };
  const ctx = c.getContext("2d"), img = ctx.createImageData(c.width, c.height), px = img.data;
  let flat = 0;
  const ranges = new Map(), xs = [...Array(t).keys()].map((x) => Math.floor((x + 0.5) * MAP_RES / t));
  for (let l = 0; l < rows; l++) {
    for (let u = 0; u < lastMaps[l].length; u++, flat++) {
      const m = lastMaps[l][u], dim = lastNovel[flat] ? 1 : 0.45, add = dim < 1 ? 140 : 0;
      if (!ranges.has(m)) ranges.set(m, greyRange(m, MAP_RES * MAP_RES));  // copies share their range
      const [lo, s] = ranges.get(m);
      for (let y = 0; y < t; y++) {
        const row = xs[y] * MAP_RES;
        for (let x = 0; x < t; x++) {
          const v = (s ? (m[row + xs[x]] - lo) * s : 128) * dim + add;
          const o = 4 * ((l * pitch + 1 + y) * c.width + u * pitch + 1 + x);
          px[o] = px[o + 1] = px[o + 2] = v; px[o + 3] = 255;
        }
      }
    }
  }
  ctx.putImageData(img, 0, 0);
  ctx.lineWidth = 2;
  flat = 0;
  for (let l = 0; l < rows; l++) {
    for (let u = 0; u < lastMaps[l].length; u++, flat++) {
      if (lastNovel[flat]) { ctx.strokeStyle = "orange"; ctx.strokeRect(u * pitch + 1, l * pitch + 1, t, t); }
    }
  }
  if (S.unit) { ctx.strokeStyle = "#d00"; ctx.lineWidth = 2; ctx.strokeRect(S.unit[1] * pitch, S.unit[0] * pitch, pitch, pitch); }
}

// ------------------------------------------------------------------------------------------------ the selected unit
function drawUnit() {
  const net = NETS[S.net], arch = net.arch;
  if (!S.unit || !(S.unit[0] >= 0 && S.unit[0] <= arch.L && S.unit[1] >= 0 && S.unit[1] < lastMaps[S.unit[0]].length)) {
    $("unit-title").textContent = "Click a map (or use the arrows on the grid) to see it large with its incoming weights.";
    $("unit-in").textContent = "";
    return;
  }
  const [l, u] = S.unit, m = lastMaps[l][u], N = MAP_RES * MAP_RES, g = greyMap(m, N);
  const c = $("unit-map"), ctx = c.getContext("2d"), img = ctx.createImageData(MAP_RES, MAP_RES);
  for (let k = 0; k < N; k++) { img.data[4 * k] = img.data[4 * k + 1] = img.data[4 * k + 2] = g(k); img.data[4 * k + 3] = 255; }
  ctx.putImageData(img, 0, 0);
  const names = net.rec.units, name = l === 0 ? ["x", "y", "d", "bias"][u] : (names && names[l - 1] ? names[l - 1][u] : "");
  let flat = u;
  for (let k = 0; k < l; k++) flat += lastMaps[k].length;
  $("unit-title").textContent = `layer ${l} unit ${u}` + (l ? ` (${arch.actOf[u]})` : "") + (name ? `, node ${name}` : "") +
    (lastNovel[flat] ? ", novel map" : ", same as an earlier map");
  const box = $("unit-in");
  box.textContent = "";
  if (l === 0) return;
  const nin = arch.shape(l - 1)[0], nout = arch.shape(l - 1)[1];
  for (let r = 0; r < nin; r++) {
    const wid = arch.offsets[l - 1] + r * nout + u, w = net.params[wid];
    if (w === 0 && wid !== S.w) continue;
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = `${wid}: from ${r} w=${w.toPrecision(3)}` + (net.rec.labels[wid] ? ` ${net.rec.labels[wid]}` : "");
    b.onclick = () => selectWeight(wid);
    box.appendChild(b);
  }
  if (!box.childNodes.length) box.textContent = "no incoming weights (a constant unit)";
}

// ------------------------------------------------------------------------------------------------ the layer graph
let graphBase = null;
function graphPos(l, u, arch, c) {
  const x = 12 + l * (c.width - 24) / (arch.L + 1), n = l === 0 ? 4 : l === arch.L + 1 ? 3 : arch.W;
  return [x, 8 + (n === 1 ? 0.5 : u / (n - 1)) * (c.height - 16)];
}
function drawGraphBase() {  // every non-zero link, faint by |w|; drawn once per net
  const net = NETS[S.net], arch = net.arch, c = $("graph");
  c.width = Math.max(300, c.clientWidth || 600);
  const off = document.createElement("canvas");
  off.width = c.width; off.height = c.height;
  const ctx = off.getContext("2d");
  let mx = 0;
  for (const w of net.params) mx = Math.max(mx, Math.abs(w));
  for (let j = 0; j <= arch.L; j++) {
    for (let d = 0; d < net.links[j].length; d++) {
      const { src, w } = net.links[j][d];
      for (let k = 0; k < src.length; k++) {
        ctx.strokeStyle = `rgba(40,60,120,${Math.min(1, 0.08 + Math.abs(w[k]) / mx)})`;
        ctx.lineWidth = 0.6;
        ctx.beginPath(); ctx.moveTo(...graphPos(j, src[k], arch, c)); ctx.lineTo(...graphPos(j + 1, d, arch, c)); ctx.stroke();
      }
    }
  }
  for (let l = 0; l <= arch.L + 1; l++) {
    const n = l === 0 ? 4 : l === arch.L + 1 ? 3 : arch.W;
    for (let u = 0; u < n; u++) { ctx.fillStyle = "#444"; ctx.fillRect(...graphPos(l, u, arch, c).map((v) => v - 1.5), 3, 3); }
  }
  graphBase = off;
}
function drawGraphOverlay(pert) {
  const c = $("graph"), ctx = c.getContext("2d"), arch = NETS[S.net].arch;
  ctx.clearRect(0, 0, c.width, c.height);
  if (graphBase) ctx.drawImage(graphBase, 0, 0);
  if (pert) {
    ctx.strokeStyle = "#e00"; ctx.lineWidth = 2.5;
    const rows = pert.row !== undefined ? [pert.row] : [...pert.vec.keys()];
    for (const r of rows) {
      ctx.beginPath(); ctx.moveTo(...graphPos(pert.layer, r, arch, c)); ctx.lineTo(...graphPos(pert.layer + 1, pert.col, arch, c)); ctx.stroke();
    }
  }
  if (S.unit) { ctx.strokeStyle = "#f80"; ctx.lineWidth = 2; const [x, y] = graphPos(S.unit[0], S.unit[1], arch, c); ctx.strokeRect(x - 4, y - 4, 8, 8); }
}
