// A WebGL2 image engine, kept to measure it against the typed-array engine (benchmarks/bench_explorer.py): one
// fragment shader runs the whole CPPN per pixel. Two forms: "dense" loops over every weight, read from a float
// texture (any net); "sparse" is generated from the net's non-zero links, with the swept column's weights as
// uniforms (a Picbreeder net: ~3% of its weights are non-zero). Float32 on the GPU; the page itself uses the faster
// engine measured here (see docs/speed.md).
"use strict";

const GL_ACT = { cache: "z", identity: "z", sin: "sin(z)", cos: "cos(z)", tanh: "tanh(z)",
                 sigmoid: "2.0 / (1.0 + exp(-z)) - 1.0", gaussian: "2.0 * exp(-z * z) - 1.0", relu: "max(z, 0.0)" };
const GL_HEAD = `#version 300 es
precision highp float; precision highp int;
uniform vec4 win; uniform float res; out vec4 color;
float md(float a, float m) { return a - m * floor(a / m); }
vec3 rgb(float h, float s, float v) {  // cppn/color.py
  h = md(h + 1.0, 1.0); s = clamp(s, 0.0, 1.0); v = clamp(abs(v), 0.0, 1.0);
  vec3 k = mod(vec3(5.0, 3.0, 1.0) + 6.0 * h, 6.0);
  return v - v * s * clamp(min(k, 4.0 - k), 0.0, 1.0);
}
void inputs(out float x, out float y) {  // row 0 of the image is y0; GL's row 0 is the bottom one
  vec2 p = gl_FragCoord.xy - 0.5; float n = max(res - 1.0, 1.0);
  x = win.x + (win.y - win.x) * p.x / n; y = win.z + (win.w - win.z) * (res - 1.0 - p.y) / n;
}
`;

function glActs(arch, v) {  // GLSL: apply each group's activation to the units of array v (z -> act(z))
  let s = "", u = 0;
  for (const [a, n] of arch.groups) {
    if (GL_ACT[a] !== "z") s += `for (int i = ${u}; i < ${u + n}; i++) { float z = ${v}[i]; ${v}[i] = ${GL_ACT[a]}; }\n`;
    u += n;
  }
  return s;
}

function denseShader(arch) {
  const W = arch.W;
  return GL_HEAD + `uniform highp sampler2D wt; uniform int tw;
float wat(int i) { return texelFetch(wt, ivec2(i % tw, i / tw), 0).r; }
void main() {
  float x, y; inputs(x, y);
  float a[4] = float[4](x, y, 1.4 * sqrt(x * x + y * y), 1.0);
  float h[${W}], g[${W}];
  for (int o = 0; o < ${W}; o++) { float s = 0.0; for (int r = 0; r < 4; r++) s += wat(o * 4 + r) * a[r]; h[o] = s; }
  ${glActs(arch, "h")}
  int base = ${4 * W};
  for (int l = 1; l < ${arch.L}; l++) {
    for (int o = 0; o < ${W}; o++) { float s = 0.0; for (int r = 0; r < ${W}; r++) s += wat(base + o * ${W} + r) * h[r]; g[o] = s; }
    base += ${W * W};
    ${glActs(arch, "g")}
    h = g;
  }
  float o3[3];
  for (int o = 0; o < 3; o++) { float s = 0.0; for (int r = 0; r < ${W}; r++) s += wat(base + o * ${W} + r) * h[r]; o3[o] = s; }
  color = vec4(rgb(o3[0], o3[1], o3[2]), 1.0);
}`;
}

function sparseShader(arch, links, pert) {  // one statement per live unit; copies are the same variable
  const name = [["x", "y", "d", "1.0"]], lines = [];
  let nu = 0;
  for (let j = 0; j <= arch.L; j++) {
    const nout = arch.shape(j)[1], cur = [];
    for (let d = 0; d < nout; d++) {
      const sw = pert && pert.layer === j && pert.col === d, act = j === arch.L ? "identity" : arch.actOf[d];
      const { src, w } = links[j][d];
      if (!sw && GL_ACT[act] === "z" && src.length === 1 && w[0] === 1) { cur.push(name[j][src[0]]); continue; }
      const terms = sw ? [...Array(arch.shape(j)[0]).keys()].map((r) => `(${name[j][r]}) * sw[${r}]`)
                       : src.map((r, k) => `(${name[j][r]}) * ${w[k].toExponential(9)}`);
      const v = "u" + nu++;
      lines.push(`float ${v}; { float z = ${terms.join(" + ") || "0.0"}; ${v} = ${GL_ACT[act]}; }`);
      cur.push(v);
    }
    name.push(cur);
  }
  const out = name[arch.L + 1];
  return GL_HEAD + `uniform float sw[${Math.max(1, pert ? arch.shape(pert.layer)[0] : 1)}];
void main() {
  float x, y; inputs(x, y); float d = 1.4 * sqrt(x * x + y * y);
  ${lines.join("\n  ")}
  color = vec4(rgb(${out[0]}, ${out[1]}, ${out[2]}), 1.0);
}`;
}

function makeGL(canvas) {
  const gl = canvas.getContext("webgl2", { preserveDrawingBuffer: true });
  if (!gl) return null;
  const vs = `#version 300 es
in vec2 p; void main() { gl_Position = vec4(p, 0.0, 1.0); }`;
  const buf = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, buf);
  gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
  const programs = new Map();
  function program(key, fsText) {
    if (programs.has(key)) return programs.get(key);
    const p = gl.createProgram();
    for (const [type, text] of [[gl.VERTEX_SHADER, vs], [gl.FRAGMENT_SHADER, fsText]]) {
      const s = gl.createShader(type);
      gl.shaderSource(s, text); gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
      gl.attachShader(p, s);
    }
    gl.bindAttribLocation(p, 0, "p");
    gl.linkProgram(p);
    if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p));
    programs.set(key, p);
    return p;
  }
  const tex = gl.createTexture();
  // dense weights, per layer in order, each output's inputs contiguous: Dense_j[r, o] -> base_j + o * nin + r
  function upload(arch, params) {
    const flat = new Float32Array(arch.nParams);
    let pos = 0;
    for (let j = 0; j <= arch.L; j++) {
      const [nin, nout] = arch.shape(j), off = arch.offsets[j];
      for (let o = 0; o < nout; o++) for (let r = 0; r < nin; r++) flat[pos++] = params[off + r * nout + o];
    }
    const tw = 4096, th = Math.ceil(flat.length / tw), data = new Float32Array(tw * th);
    data.set(flat);
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.R32F, tw, th, 0, gl.RED, gl.FLOAT, data);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    return tw;
  }
  // render net moved by dw along pert at res over win; mode "dense" or "sparse". -> RGBA bytes, top row first
  function render(net, pert, dw, res, win, mode) {
    canvas.width = res; canvas.height = res;
    gl.viewport(0, 0, res, res);
    const arch = net.arch, pw = net.perturbed(pert, dw);
    let p;
    if (mode === "dense") {
      p = program(`d|${net.rec.name}|${arch.text}`, denseShader(arch));
      gl.useProgram(p);
      gl.uniform1i(gl.getUniformLocation(p, "tw"), upload(arch, pw.params));
      gl.uniform1i(gl.getUniformLocation(p, "wt"), 0);
    } else {
      p = program(`s|${net.rec.name}|${pert ? pert.layer + "," + pert.col : ""}`, sparseShader(arch, net.links, pert));
      gl.useProgram(p);
      if (pert) {
        const nin = arch.shape(pert.layer)[0], nout = arch.shape(pert.layer)[1], off = arch.offsets[pert.layer];
        const col = new Float32Array(nin);
        for (let r = 0; r < nin; r++) col[r] = pw.params[off + r * nout + pert.col];
        gl.uniform1fv(gl.getUniformLocation(p, "sw"), col);
      }
    }
    gl.uniform4f(gl.getUniformLocation(p, "win"), ...win);
    gl.uniform1f(gl.getUniformLocation(p, "res"), res);
    gl.enableVertexAttribArray(0);
    gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    const px = new Uint8Array(4 * res * res), out = new Uint8Array(4 * res * res);
    gl.readPixels(0, 0, res, res, gl.RGBA, gl.UNSIGNED_BYTE, px);  // waits for the GPU: the frame is done
    for (let r = 0; r < res; r++) out.set(px.subarray(4 * res * (res - 1 - r), 4 * res * (res - r)), 4 * res * r);
    return out;
  }
  return { render, gl };
}
