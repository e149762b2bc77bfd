// The explorer's controls: the nets strip, the weight list, the slider and window, keyboard, save, and the page's
// small API (window.explorer) that tests and benchmarks drive.
"use strict";

const LIST_MAX = 400;  // rows shown after sorting and filtering (an SGD apple has 46,000 weights)

function weightRows(net) {  // the genome's links, or every non-zero weight of a net without a genome
  const ids = net.rec.links || [...net.params.keys()].filter((i) => net.params[i] !== 0);
  return ids.map((wid) => {
    const { layer, row, col } = locate(net.arch, wid), s = net.rec.sweeps[wid] || [];
    return { wid, layer, row, col, weight: net.params[wid], label: net.rec.labels[wid] || "",
             effect: s[0] ?? null, locality: s[1] ?? null, meaningful: s.length ? (s[4] ? 1 : 0) : null };
  });
}

function sortedRows() {
  const rows = weightRows(NETS[S.net]), k = S.sort, f = S.filter.toLowerCase();
  const keep = f ? rows.filter((r) => `${r.wid} L${r.layer} ${r.label}`.toLowerCase().includes(f)) : rows;
  const val = (r) => (k === "weight" ? Math.abs(r.weight) : r[k]);
  keep.sort((a, b) => {  // missing values (weights not swept) always last
    const x = val(a), y = val(b);
    if (x === null || y === null) return (x === null) - (y === null);
    const c = typeof x === "string" ? x.localeCompare(y) : x - y;
    return (S.desc ? -c : c) || a.wid - b.wid;
  });
  return keep;
}

function fmt(v, d = 3) { return v === null || v === undefined ? "–" : typeof v === "number" ? v.toPrecision(d) : v; }

function drawList() {
  const net = NETS[S.net], tb = document.querySelector("#weights tbody");
  listRows = sortedRows();
  tb.textContent = "";
  for (const r of listRows.slice(0, LIST_MAX)) {
    const tr = document.createElement("tr");
    tr.tabIndex = 0;
    tr.dataset.wid = r.wid;
    tr.setAttribute("aria-selected", String(r.wid === S.w));
    for (const [v, cls] of [[r.wid], [r.layer], [fmt(r.weight)], [r.label, "label"], [fmt(r.effect, 2)],
                            [fmt(r.locality, 2)], [r.meaningful === null ? "–" : r.meaningful ? "✓" : ""]]) {
      const td = document.createElement("td");
      td.textContent = v;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    tr.onclick = () => selectWeight(r.wid);
    tr.onkeydown = (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); selectWeight(r.wid); } };
    tb.appendChild(tr);
  }
  const swept = Object.keys(net.rec.sweeps).length;
  $("weights-note").textContent = `${listRows.length} weights${listRows.length > LIST_MAX ? `, first ${LIST_MAX} shown` : ""}; ` +
    (swept ? `effect, locality and m(eaningful) from fracturelab.fer sweeps of ${swept} of them.` : "no sweeps were run (explore --sweep-res 0).");
  for (const th of document.querySelectorAll("#weights th button")) {
    th.setAttribute("aria-sort", th.dataset.sort === S.sort ? (S.desc ? "descending" : "ascending") : "none");
    th.textContent = th.textContent.replace(/ [▲▼]$/, "") + (th.dataset.sort === S.sort ? (S.desc ? " ▼" : " ▲") : "");
  }
}

function selectWeight(wid) {
  S.w = wid; S.dir = null;
  const { layer, col } = locate(NETS[S.net].arch, wid);
  S.unit = [layer + 1, col];
  syncControls(); drawList(); frame();
}

function selectNet(i) {
  S.net = i; S.w = null; S.dir = null; S.unit = null; S.dw = 0;
  S.partner = defaultPartner(i);
  syncControls(); drawGraphBase(); drawList(); frame(); partnerFrame();
}

function syncControls() {
  const net = NETS[S.net];
  $("net-name").textContent = net.rec.name;
  $("net-arch").textContent = `${net.rec.source} · arch ${net.arch.text} · ${net.arch.nParams} weights, ` +
    `${net.params.filter((v) => v !== 0).length} non-zero`;
  $("image-cap").textContent = net.rec.name;
  const dw = $("dw");
  dw.min = -S.range; dw.max = S.range; dw.step = S.range / 100; dw.value = S.dw;
  $("range").value = S.range;
  ["x0", "x1", "y0", "y1"].forEach((k, i) => { $(k).value = S.win[i]; });
  $("res").value = String(S.res);
  if (![...$("res").options].some((o) => o.value === String(S.res))) $("res").add(new Option(S.res, S.res, true, true));
  $("partner-select").value = String(S.partner);
  $("wid").value = S.w ?? "";
  for (const b of document.querySelectorAll("#nets button")) b.setAttribute("aria-pressed", String(+b.dataset.i === S.net));
}

function buildNets() {  // the strip of every net, side by side, and the "beside it" choice
  const nav = $("nets"), sel = $("partner-select");
  sel.add(new Option("(none)", "-1"));
  NETS.forEach((n, i) => {
    const b = document.createElement("button"), c = document.createElement("canvas"), s = document.createElement("span");
    b.type = "button"; b.dataset.i = i; b.title = `${n.rec.name} (${n.rec.source})`;
    s.textContent = n.rec.name;
    b.append(c, s);
    b.onclick = () => selectNet(i);
    nav.appendChild(b);
    sel.add(new Option(n.rec.name, String(i)));
  });
}
function drawThumbs() {
  document.querySelectorAll("#nets canvas").forEach((c, i) => paint(c, baseRun(i, 48).run.raw, 48));
}

function setWindow(win) { S.win = win; syncControls(); drawThumbs(); partnerFrame(); frame(); }

function saveCanvas(canvas, name) {  // a download link: works from file:// with no server
  const a = document.createElement("a");
  a.href = canvas.toDataURL("image/png");
  a.download = name;
  document.body.appendChild(a); a.click(); a.remove();
}

function bind() {
  $("dw").oninput = (e) => { S.dw = +e.target.value; frame(timing.total > 100); };
  $("dw").onchange = (e) => { S.dw = +e.target.value; frame(); };
  $("range").onchange = (e) => { if (+e.target.value > 0) { S.range = +e.target.value; S.dw = Math.max(-S.range, Math.min(S.range, S.dw)); syncControls(); frame(); } };
  $("zero").onclick = () => { S.dw = 0; syncControls(); frame(); };
  $("random").onclick = () => { pickRandomDirection(); syncControls(); drawList(); frame(); };
  $("wid-go").onclick = () => { const v = +$("wid").value; if ($("wid").value !== "" && v >= 0 && v < NETS[S.net].arch.nParams) selectWeight(v | 0); };
  $("wid").onkeydown = (e) => { if (e.key === "Enter") $("wid-go").click(); };
  $("filter").oninput = (e) => { S.filter = e.target.value; drawList(); };
  for (const b of document.querySelectorAll("#weights th button")) {
    b.onclick = () => { S.desc = S.sort === b.dataset.sort ? !S.desc : true; S.sort = b.dataset.sort; drawList(); writeHash(); };
  }
  ["x0", "x1", "y0", "y1"].forEach((k) => { $(k).onchange = () => {
    const w = ["x0", "x1", "y0", "y1"].map((j) => +$(j).value);
    if (w.every(isFinite) && w[0] !== w[1] && w[2] !== w[3]) setWindow(w); else syncControls(); }; });
  $("win-wide").onclick = () => setWindow(S.win.map((v) => v * 1.5));
  $("win-reset").onclick = () => setWindow([-1, 1, -1, 1]);
  $("res").onchange = (e) => { S.res = +e.target.value; partnerFrame(); frame(); };
  $("partner-select").onchange = (e) => { S.partner = +e.target.value; partnerFrame(); writeHash(); };
  $("save-image").onclick = () => saveCanvas($("image"), `${NETS[S.net].rec.name}_dw${S.dw}.png`);
  $("save-grid").onclick = () => saveCanvas($("grid"), `${NETS[S.net].rec.name}_maps_dw${S.dw}.png`);
  $("grid").onclick = (e) => {
    const r = $("grid").getBoundingClientRect(), l = Math.floor((e.clientY - r.top) / gridGeom.pitch);
    const u = Math.floor((e.clientX - r.left) / gridGeom.pitch);
    if (l >= 0 && l < lastMaps.length && u >= 0 && u < lastMaps[l].length) { S.unit = [l, u]; frame(); }
  };
  $("grid").onkeydown = (e) => {
    const mv = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }[e.key];
    if (!mv) return;
    e.preventDefault();
    const [l, u] = S.unit || [0, 0], nl = Math.max(0, Math.min(lastMaps.length - 1, l + mv[0]));
    S.unit = [nl, Math.max(0, Math.min(lastMaps[nl].length - 1, u + mv[1]))];
    frame();
  };
  $("graph").onclick = (e) => {  // the nearest unit
    const c = $("graph"), r = c.getBoundingClientRect(), arch = NETS[S.net].arch;
    const x = (e.clientX - r.left) * c.width / r.width, y = (e.clientY - r.top) * c.height / r.height;
    let best = null, bd = Infinity;
    for (let l = 0; l <= arch.L; l++) for (let u = 0; u < (l ? arch.W : 4); u++) {
      const [px, py] = graphPos(l, u, arch, c), dd = (px - x) ** 2 + (py - y) ** 2;
      if (dd < bd) { bd = dd; best = [l, u]; }
    }
    S.unit = best; frame();
  };
  document.addEventListener("keydown", (e) => {
    if (e.target.matches("input, select, textarea") || e.ctrlKey || e.metaKey || e.altKey) return;
    const step = S.range / 20, i = listRows.findIndex((r) => r.wid === S.w);
    const act = {
      "[": () => { S.dw = Math.max(-S.range, S.dw - step); syncControls(); frame(); },
      "]": () => { S.dw = Math.min(S.range, S.dw + step); syncControls(); frame(); },
      "0": () => { S.dw = 0; syncControls(); frame(); },
      "n": () => listRows.length && selectWeight(listRows[Math.min(listRows.length - 1, i + 1)].wid),
      "p": () => listRows.length && selectWeight(listRows[Math.max(0, i - 1)].wid),
      "r": () => $("random").click(),
      ",": () => selectNet((S.net + NETS.length - 1) % NETS.length),
      ".": () => selectNet((S.net + 1) % NETS.length),
    }[e.key];
    if (act) { e.preventDefault(); act(); }
  });
  window.addEventListener("hashchange", () => { const before = `${S.net}|${S.win}`; readHash(); applyAll(before); });
  window.addEventListener("resize", () => { drawGraphBase(); frame(); });
}

function applyAll(before) {
  syncControls(); drawList();
  if (before !== `${S.net}|${S.win}`) { drawGraphBase(); drawThumbs(); }
  partnerFrame(); frame();
}

// For tests and benchmarks: the canvases' pixels as base64, the novel count, and frame timing.
function canvasB64(id) { const c = $(id); return bytesB64(c.getContext("2d").getImageData(0, 0, c.width, c.height).data); }
function bytesB64(d) {
  let s = "";
  for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
  return btoa(s);
}
window.explorer = {
  state: S, nets: NETS.map((n) => n.rec.name), frame, timing,
  go(hash) {  // replaceState, not location.hash: no hashchange event, so no second frame
    history.replaceState(null, "", "#" + hash); readHash(); applyAll("");
    return { novel: novelCount, timing: { ...timing } };
  },
  image: () => canvasB64("image"),
  novel: () => novelCount,
  preview() { frame(true); return $("image").width; },  // what a slider drag draws now: its resolution
  bench(n) {  // n frames sweeping the current perturbation over [-range, range]: median image and full-frame ms
    const img = [], all = [];
    for (let k = 0; k < n; k++) { S.dw = S.range * (2 * (k + 1) / (n + 1) - 1); frame(); img.push(timing.image); all.push(timing.total); }
    return { image_ms: median(img), frame_ms: median(all) };
  },
  // the WebGL2 engine on the current state: "dense" or "sparse" shader; the image as base64 RGBA, or median ms
  glImage(mode) { return bytesB64(webgl().render(NETS[S.net], perturbation(), S.dw, S.res, S.win, mode)); },
  benchGL(mode, n) {
    const gl = webgl(), ms = [], pert = perturbation();
    gl.render(NETS[S.net], pert, 0, S.res, S.win, mode);  // compile outside the timing, as the page would once
    for (let k = 0; k < n; k++) {
      const dw = S.range * (2 * (k + 1) / (n + 1) - 1), t = performance.now();
      gl.render(NETS[S.net], pert, dw, S.res, S.win, mode);
      ms.push(performance.now() - t);
    }
    return median(ms);
  },
};
function median(a) { return a.slice().sort((x, y) => x - y)[a.length >> 1]; }
let GL = null;
function webgl() { GL = GL || makeGL(document.createElement("canvas")); if (!GL) throw new Error("no WebGL2"); return GL; }

buildNets(); bind(); readHash(); syncControls(); drawGraphBase(); drawThumbs(); drawList(); partnerFrame(); frame();
