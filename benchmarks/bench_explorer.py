"""Frame time of the explorer page in headless Chromium: the typed-array engine (what the page uses) against the
WebGL2 engine (explorer_gl.js, dense and sparse shaders), for FER's skull and apple, Picbreeder and SGD.

    python benchmarks/bench_explorer.py [--picbreeder DIR] [--res 128] [--frames 9]

A frame moves Δw of one weight (FER's mouth weight 4371 on the skull, weight 100 on the apple) through n values in
[-1, 1]: "image" is the net's res x res image, "frame" adds the 64x64 feature maps of every unit, the novel-map rule
and drawing the grid. Medians over the frames. WebGL2 times include reading the pixels back (which waits for the
draw). Needs chromium, chromedriver and selenium (the test extra).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from fracturelab.report.explorer import ExploreSettings, write_explorer

NETS = (("fer/genomes/skull.zip", 4371), ("fer/nets/sgd_skull", 4371), ("fer/genomes/apple.zip", 100),
        ("fer/nets/sgd_apple", 100))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--picbreeder", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "picbreeder"))
    p.add_argument("--res", type=int, default=128)
    p.add_argument("--frames", type=int, default=9)
    p.add_argument("--gl-dense-max", type=int, default=6000, help="skip the dense WebGL2 shader above this many weights")
    p.add_argument("--gl-sparse-max", type=int, default=6000,
                   help="skip the generated WebGL2 shader above this many non-zero weights (its compile time grows)")
    a = p.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    tmp = Path(tempfile.mkdtemp())
    page = write_explorer([Path(a.picbreeder) / n for n, _ in NETS], tmp / "e.html", ExploreSettings(sweep_res=0))
    opts = webdriver.ChromeOptions()
    for f in ("--headless=new", "--no-sandbox", "--window-size=1280,800", f"--user-data-dir={tmp / 'profile'}"):
        opts.add_argument(f)
    d = webdriver.Chrome(options=opts, service=Service(shutil.which("chromedriver")))
    d.set_script_timeout(1800)
    d.command_executor._client_config.timeout = 1800  # one call may run many slow frames
    d.get(page.resolve().as_uri())
    renderer = d.execute_script("""const gl = document.createElement('canvas').getContext('webgl2');
        const e = gl && gl.getExtension('WEBGL_debug_renderer_info');
        return gl ? gl.getParameter(e ? e.UNMASKED_RENDERER_WEBGL : gl.RENDERER) : 'none'""")
    print(f"load {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores; WebGL2 renderer: {renderer}")
    rows = []
    for i, (name, wid) in enumerate(NETS):
        d.execute_script(f"explorer.go('net={i}&w={wid}&res={a.res}')")
        big = d.execute_script("return NETS[explorer.state.net].arch.nParams") > 20000
        frames = 3 if big else a.frames  # the SGD apple takes seconds a frame
        d.execute_script(f"explorer.bench({1 if big else 3})")  # warm the JIT and the base runs
        js = d.execute_script(f"return explorer.bench({frames})")
        row = {"net": Path(name).name, "js_image_ms": js["image_ms"], "js_frame_ms": js["frame_ms"],
               "drag_preview_res": d.execute_script("return explorer.preview()")}
        n_params, n_nonzero = d.execute_script("const n = NETS[explorer.state.net]; "
                                               "return [n.arch.nParams, n.params.filter((v) => v !== 0).length]")
        for mode in ("sparse", "dense"):
            if (n_params if mode == "dense" else n_nonzero) > (a.gl_dense_max if mode == "dense" else a.gl_sparse_max):
                row[f"gl_{mode}_image_ms"] = None
                continue
            t = time.time()
            row[f"gl_{mode}_image_ms"] = d.execute_script(f"return explorer.benchGL('{mode}', {a.frames})")
            row[f"gl_{mode}_wall_s"] = round(time.time() - t, 1)  # includes compiling the shader once
            row[f"gl_{mode}_mse_vs_js"] = d.execute_script(  # the same image? (float32 GPU vs float64 JS)
                f"explorer.frame(); const g = atob(explorer.glImage('{mode}')), j = atob(explorer.image()); let s = 0;"
                "for (let k = 0; k < g.length; k++) if (k % 4 < 3) s += ((g.charCodeAt(k) - j.charCodeAt(k)) / 255) ** 2;"
                "return s / (0.75 * g.length);")
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"load {os.getloadavg()[0]:.2f} (1 min) at the end")
    d.quit()
    shutil.rmtree(tmp, ignore_errors=True)
    print("\n| net | typed arrays: image | typed arrays: image + maps | WebGL2 generated: image (compile) "
          "| WebGL2 texture loop: image |")
    print("|---|---|---|---|---|")
    f = lambda v: "–" if v is None else f"{v:.1f} ms"  # noqa: E731
    for r in rows:
        wall = f" ({r['gl_sparse_wall_s']} s)" if "gl_sparse_wall_s" in r else ""
        print(f"| {r['net']} | {f(r['js_image_ms'])} | {f(r['js_frame_ms'])} | {f(r['gl_sparse_image_ms'])}{wall} | "
              f"{f(r['gl_dense_image_ms'])} |")


if __name__ == "__main__":
    main()
