// The explorer's engine: a CPPN forward pass in float64 over typed arrays, FER's HSV->RGB rule, and the novel-map
// rule of fer/maps.py. No DOM code here. Mirrors cppn/arch.py (arch strings, flat order), cppn/module.py (inputs,
// activations) and cppn/color.py; the tests check renders against `fracturelab render`.
"use strict";

const ACT = {  // cppn/module.py ACTIVATION_FNS; null = identity (a copy needs no work)
  cache: null, identity: null,
  sin: Math.sin, cos: Math.cos, tanh: Math.tanh,
  sigmoid: (x) => 2 / (1 + Math.exp(-x)) - 1,
  gaussian: (x) => 2 * Math.exp(-x * x) - 1,
  relu: (x) => (x > 0 ? x : 0),
};

function parseArch(text) {
  // "L;act:n,act:n" -> {L, W, groups, actOf (unit -> name), offsets[i] (start of Dense_i), shape(i)}
  const [depth, rest] = text.trim().split(";");
  const groups = rest.split(",").map((g) => { const [a, n] = g.split(":"); return [a.trim(), parseInt(n, 10)]; });
  const L = parseInt(depth, 10), W = groups.reduce((s, g) => s + g[1], 0);
  const actOf = [];
  for (const [a, n] of groups) for (let i = 0; i < n; i++) actOf.push(a);
  const shape = (i) => [i === 0 ? 4 : W, i === L ? 3 : W];
  // kernels are stored in lexicographic order of their names: Dense_0, Dense_1, Dense_10, Dense_11, Dense_2, ...
  const names = [...Array(L + 1).keys()].sort((a, b) => ("Dense_" + a < "Dense_" + b ? -1 : 1));
  const offsets = new Array(L + 1);
  let pos = 0;
  for (const i of names) { offsets[i] = pos; pos += shape(i)[0] * shape(i)[1]; }
  return { L, W, groups, actOf, offsets, shape, nParams: pos, text };
}

function locate(arch, wid) {  // flat weight ID -> {layer, row, col}; inverse of Arch.weight_id
  let layer = -1;
  for (let i = 0; i <= arch.L; i++) {
    if (arch.offsets[i] <= wid && (layer < 0 || arch.offsets[i] > arch.offsets[layer])) layer = i;
  }
  const nout = arch.shape(layer)[1];
  const r = wid - arch.offsets[layer];
  return { layer, row: Math.floor(r / nout), col: r % nout };
}

function decodeParams(b64) {  // base64 little-endian float32 -> Float64Array (the float32 values, exactly)
  const bin = atob(b64), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return Float64Array.from(new Float32Array(bytes.buffer));
}

// Column d of Dense_j as its non-zero (source unit, weight) pairs: pixels only ever meet non-zero weights.
function columnLinks(arch, params, j, d) {
  const [nin, nout] = arch.shape(j), off = arch.offsets[j], src = [], w = [];
  for (let r = 0; r < nin; r++) {
    const v = params[off + r * nout + d];
    if (v !== 0) { src.push(r); w.push(v); }
  }
  return { src, w };
}

function allLinks(arch, params) {  // links[j][d] for every column of every kernel
  const out = [];
  for (let j = 0; j <= arch.L; j++) {
    const nout = arch.shape(j)[1], cols = new Array(nout);
    for (let d = 0; d < nout; d++) cols[d] = columnLinks(arch, params, j, d);
    out.push(cols);
  }
  return out;
}

function linspace(a, b, n, i) { return n === 1 ? a : a + (b - a) * i / (n - 1); }

function grid(res, win) {
  // inputs per pixel, row-major: x along columns over [x0, x1], y down rows over [y0, y1], d = 1.4 sqrt(x²+y²), 1
  const N = res * res, x = new Float64Array(N), y = new Float64Array(N), d = new Float64Array(N);
  const b = new Float64Array(N).fill(1);
  for (let r = 0; r < res; r++) {
    const yv = linspace(win[2], win[3], res, r);
    for (let c = 0; c < res; c++) {
      const xv = linspace(win[0], win[1], res, c), p = r * res + c;
      x[p] = xv; y[p] = yv; d[p] = 1.4 * Math.sqrt(xv * xv + yv * yv);
    }
  }
  return { res, win, N, inputs: [x, y, d, b] };
}

// One unit: z = sum of w * source over its non-zero links, then its activation. A cache/identity unit fed by one
// link of weight 1 is a copy: the source's own array is returned (bit-identical, as in torch's float64 matmul).
const CONST = new Map();  // a unit with no links is the constant act(0): one shared array per (N, value)
function unitValues(links, prev, act, N) {
  const { src, w } = links;
  if (act === null && src.length === 1 && w[0] === 1) return prev[src[0]];
  if (src.length === 0) {
    const v = act === null ? 0 : act(0), key = N + "|" + v;
    if (!CONST.has(key)) CONST.set(key, new Float64Array(N).fill(v));
    return CONST.get(key);
  }
  const z = new Float64Array(N);
  let k = 0;
  // four sources per pass over the pixels: a quarter of the loads and stores of z (2x faster on dense SGD nets)
  for (; k + 3 < src.length; k += 4) {
    const h0 = prev[src[k]], h1 = prev[src[k + 1]], h2 = prev[src[k + 2]], h3 = prev[src[k + 3]];
    const w0 = w[k], w1 = w[k + 1], w2 = w[k + 2], w3 = w[k + 3];
    for (let i = 0; i < N; i++) z[i] += w0 * h0[i] + w1 * h1[i] + w2 * h2[i] + w3 * h3[i];
  }
  for (; k < src.length; k++) {
    const h = prev[src[k]], wk = w[k];
    for (let i = 0; i < N; i++) z[i] += wk * h[i];
  }
  if (act !== null) for (let i = 0; i < N; i++) z[i] = act(z[i]);
  return z;
}

// The forward pass. acts[l] (l = 0..L) are the layers' unit arrays (layer 0 = inputs), acts[L+1] = raw (h, s, v).
// With `base` (an earlier run of the same grid) and `pert` = {layer, col}, only units downstream of column col of
// Dense_layer are recomputed (the weights moved there only); the others are the base run's arrays.
function forward(arch, links, g, base = null, pert = null) {
  const acts = [g.inputs];
  let reach = null;
  for (let j = 0; j <= arch.L; j++) {
    const nout = arch.shape(j)[1], out = new Array(nout), now = new Uint8Array(nout);
    for (let d = 0; d < nout; d++) {
      let dirty = true;
      if (base && pert) {
        if (j < pert.layer) dirty = false;
        else if (j === pert.layer) dirty = d === pert.col;
        else { const s = links[j][d].src; dirty = false; for (let k = 0; k < s.length; k++) if (reach[s[k]]) { dirty = true; break; } }
      }
      now[d] = dirty ? 1 : 0;
      out[d] = dirty ? unitValues(links[j][d], acts[j], j === arch.L ? null : ACT[arch.actOf[d]], g.N) : base.acts[j + 1][d];
    }
    reach = now;
    acts.push(out);
  }
  return { acts, raw: acts[arch.L + 1] };
}

// cppn/color.py to_rgb: h = (h + 1) mod 1, s = clip(s, 0, 1), v = clip(|v|, 0, 1); HSV -> RGB as colorsys.
function mod(a, m) { const r = a % m; return r < 0 ? r + m : r; }
function toRGBA(raw, N, out) {  // raw [h, s, v] arrays -> RGBA bytes (Uint8ClampedArray rounds half to even, as numpy)
  const [H, S, V] = raw;
  for (let i = 0; i < N; i++) {
    const h = mod(H[i] + 1, 1), s = Math.min(Math.max(S[i], 0), 1), v = Math.min(Math.abs(V[i]), 1);
    for (let c = 0; c < 3; c++) {
      const k = mod([5, 3, 1][c] + 6 * h, 6);
      const f = Math.min(Math.max(Math.min(k, 4 - k), 0), 1);
      out[4 * i + c] = 255 * (v - v * s * f);
    }
    out[4 * i + 3] = 255;
  }
  return out;
}

// fer/maps.py: two maps are the same when max|a - b| <= tol * max(1, max|a|, max|b|); a map is novel when no earlier
// map (layer order, then unit order) is the same. Bit-identical maps are grouped first (hash, then compare); among
// group representatives only pairs whose L2 norms differ by at most sqrt(N) * tol * scale can be the same map.
const TOL = 1e-3;
function novelMaps(maps, N, tol = TOL) {  // maps: flat list of Float64Array -> Uint8Array novel flags
  const n = maps.length, group = new Int32Array(n), reps = [], byKey = new Map(), seen = new Map();
  const stride = Math.max(1, Math.floor(2 * N / 97));
  for (let i = 0; i < n; i++) {
    const m = maps[i];
    if (seen.has(m)) { group[i] = seen.get(m); continue; }  // the same array: a cache copy
    const u = new Uint32Array(m.buffer, m.byteOffset, 2 * N);
    let h1 = 2166136261, h2 = 0;  // a hash of ~100 pixels' bits is enough: every match is then checked in full
    for (let k = 0; k < u.length; k += stride) { h1 = Math.imul(h1 ^ u[k], 16777619); h2 = (h2 + u[k] * (k + 1)) | 0; }
    const key = h1 + ":" + h2, cands = byKey.get(key) || [];
    let g = -1;
    for (const r of cands) {
      const a = maps[reps[r]];
      let eq = a === m;
      if (!eq) { eq = true; for (let k = 0; k < N; k++) if (!Object.is(a[k], m[k])) { eq = false; break; } }
      if (eq) { g = r; break; }
    }
    if (g < 0) { g = reps.length; reps.push(i); cands.push(g); byKey.set(key, cands); }
    group[i] = g;
    seen.set(m, g);
  }
  const G = reps.length, amp = new Float64Array(G), norm = new Float64Array(G);
  for (let g = 0; g < G; g++) {
    const m = maps[reps[g]];
    let mx = 0, ss = 0;
    for (let k = 0; k < N; k++) { const v = Math.abs(m[k]); if (v > mx) mx = v; ss += m[k] * m[k]; }
    amp[g] = Math.max(1, mx); norm[g] = Math.sqrt(ss);
  }
  const order = [...Array(G).keys()].sort((a, b) => norm[a] - norm[b]);
  const novelRep = new Uint8Array(G).fill(1), sq = Math.sqrt(N);
  let maxAmp = 0;
  for (let g = 0; g < G; g++) maxAmp = Math.max(maxAmp, amp[g]);
  for (let p = 0; p < G; p++) {
    const a = order[p], ma = maps[reps[a]];
    for (let q = p + 1; q < G; q++) {
      const b = order[q];
      if (norm[b] - norm[a] > 1.01 * tol * Math.max(amp[a], maxAmp) * sq + 1e-9) break;
      const scale = Math.max(amp[a], amp[b]);
      if (norm[b] - norm[a] > 1.01 * tol * scale * sq + 1e-9) continue;
      const mb = maps[reps[b]], lim = tol * scale;
      let same = true;
      for (let k = 0; k < N; k++) if (Math.abs(ma[k] - mb[k]) > lim) { same = false; break; }
      if (same) { if (reps[a] < reps[b]) novelRep[b] = 0; else novelRep[a] = 0; }  // the later one is not novel
    }
  }
  const novel = new Uint8Array(n);
  for (let g = 0; g < G; g++) novel[reps[g]] = novelRep[g];
  return novel;
}

// A seeded Gaussian unit vector (mulberry32 + Box-Muller): FER appendix F's random direction within one column.
function randomDirection(n, seed) {
  let t = seed >>> 0;
  const rand = () => { t = (t + 0x6D2B79F5) >>> 0; let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r; return ((r ^ (r >>> 14)) >>> 0) / 4294967296; };
  const v = new Float64Array(n);
  let s = 0;
  for (let i = 0; i < n; i++) { v[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()); s += v[i] * v[i]; }
  for (let i = 0; i < n; i++) v[i] /= Math.sqrt(s);
  return v;
}

// A net ready to run: arch, base weights, and its base links; perturbed(pert, dw) gives the weights and links of
// the net moved by dw along pert = {layer, col, vec (in,)} (vec one-hot for a single weight).
function makeNet(rec) {
  const arch = parseArch(rec.arch), params = decodeParams(rec.params);
  if (params.length !== arch.nParams) throw new Error(rec.name + ": " + params.length + " weights, arch needs " + arch.nParams);
  const net = { rec, arch, params, links: allLinks(arch, params) };
  net.perturbed = (pert, dw) => {
    if (!pert || dw === 0) return { params, links: net.links };
    const p = Float64Array.from(params), nout = arch.shape(pert.layer)[1], off = arch.offsets[pert.layer];
    for (let r = 0; r < pert.vec.length; r++) p[off + r * nout + pert.col] += dw * pert.vec[r];
    const links = net.links.slice();
    links[pert.layer] = links[pert.layer].slice();
    links[pert.layer][pert.col] = columnLinks(arch, p, pert.layer, pert.col);
    return { params: p, links };
  };
  return net;
}
