"""The explorer page, driven in headless Chromium through Selenium: its in-page CPPN renders every FER net and CPPN-X
genome as `fracturelab render` does, its one-weight sweep gives fer.sweeps' image, its map grid counts fer.maps'
novel maps, and its state lives in the URL hash. Bad input is refused like `render` refuses it. (Browser tests skip
where chromium and chromedriver are not installed; .ci/run installs both.)"""
from __future__ import annotations

import dataclasses
import base64
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fracturelab.cli import main
from fracturelab.cppn.nets import load_cppn, save_png
from fracturelab.report.explorer import SCRIPTS, ExploreSettings, explorer_html, net_record, write_explorer

RES = 64


def _png_rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, driver = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("chromium / chromedriver are not installed (.ci/run installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800",
                 f"--user-data-dir={tmp_path_factory.mktemp('profile')}"):
        opts.add_argument(flag)
    d = webdriver.Chrome(options=opts, service=Service(driver))
    d.set_script_timeout(600)
    yield d
    d.quit()


def _page_image(browser, i: int, extra: str = "") -> np.ndarray:
    browser.execute_script(f"explorer.go('net={i}&res={RES}{extra}')")
    raw = base64.b64decode(browser.execute_script("return explorer.image()"))
    return np.frombuffer(raw, np.uint8).reshape(RES, RES, 4)[..., :3] / 255.0


def _fer_paths(d):
    return ([d / "fer" / "genomes" / f"{n}.zip" for n in ("skull", "butterfly", "apple")]
            + [d / "fer" / "nets" / f"sgd_{n}" for n in ("skull", "butterfly", "apple")])


@pytest.mark.slow
def test_page_renders_sweeps_and_counts_like_python(picbreeder_dir, browser, tmp_path):
    paths = _fer_paths(picbreeder_dir) + sorted((picbreeder_dir / "cppnx").glob("*.xml"))
    page = write_explorer(paths, tmp_path / "explorer.html", ExploreSettings(sweep_res=0))
    browser.get(page.resolve().as_uri())
    assert browser.execute_script("return explorer.nets.length") == len(paths)
    skull = load_cppn(paths[0])
    # one `fracturelab render` run, as a user would (the rest through the same function it calls)
    subprocess.run([sys.executable, "-m", "fracturelab", "render", str(paths[0]), "-o", str(tmp_path / "r.png"),
                    "--res", str(RES)], check=True, capture_output=True)
    errors, counts = {}, {}
    for i, p in enumerate(paths):
        if i == 0:
            want = _png_rgb(tmp_path / "r.png")
        else:
            save_png(tmp_path / "r.png", load_cppn(p).render(RES))
            want = _png_rgb(tmp_path / "r.png")
        errors[p.name] = float(((_page_image(browser, i) - want) ** 2).mean())
        counts[p.name] = browser.execute_script("return explorer.novel()")
    print("page vs render MSE:", errors)
    assert max(errors.values()) < 1e-4, errors

    from fracturelab.fer.maps import novel_maps
    from fracturelab.fer.sweeps import SweepSettings, sweep_weights

    assert counts == {p.name: novel_maps(load_cppn(p))["count"] for p in paths}  # skull 24 as in FER; SGD 268

    # the skull's mouth weight 4371 (0 in the layerized skull) moved to +1, set through the URL hash
    sweep = sweep_weights(skull, [4371], SweepSettings(res=RES), keep_images=True)[0]["images"][-1]
    got = _page_image(browser, 0, "&w=4371&dw=1")
    state = browser.execute_script("return [explorer.state.w, explorer.state.dw, location.hash]")
    assert state[:2] == [4371, 1] and "w=4371" in state[2]
    _keyboard(browser)
    assert float(((got - sweep) ** 2).mean()) < 1e-4
    assert float(((got - _page_image(browser, 0)) ** 2).mean()) > 1e-3  # and the sweep did change the image


def _keyboard(browser):
    """The page's keys move Δw, step through the weight list and draw a random direction; the hash follows."""
    from selenium.webdriver.common.by import By

    body = browser.find_element(By.TAG_NAME, "body")
    state = "return [explorer.state.w, explorer.state.dw, explorer.state.dir, location.hash]"
    body.send_keys("[")
    w, dw, _, h = browser.execute_script(state)
    assert w == 4371 and dw == pytest.approx(0.95) and "dw=0.95" in h
    body.send_keys("0")
    body.send_keys("n")
    w, dw, _, h = browser.execute_script(state)
    assert w is not None and w != 4371 and dw == 0 and f"w={w}" in h
    body.send_keys("r")
    w, _, direction, h = browser.execute_script(state)
    assert w is None and len(direction) == 3 and "dir=" in h


def test_page_embeds_nets_labels_and_sweeps(picbreeder_dir):
    skull = load_cppn(picbreeder_dir / "cppnx" / "576_Skull.xml")
    rec = net_record(skull, ExploreSettings(sweep_res=8))
    assert np.array_equal(np.frombuffer(base64.b64decode(rec["params"]), "<f4"), skull.params)
    assert rec["labels"] and set(map(int, rec["sweeps"])) == set(rec["links"])
    assert all(len(v) == 5 for v in rec["sweeps"].values())
    hostile = dict(rec, name="</script><script>alert(1)</script>")
    html = explorer_html([hostile])
    assert html.count("</script>") == 1 + len(SCRIPTS) and "<script>alert" not in html  # data, then the scripts


@pytest.mark.parametrize("bad", ["no_such_file.xml", "not_a_builtin", "in/bad.xml", "in/empty.zip", "in"])
def test_bad_path_is_refused_like_render(tmp_path, bad, capsys, monkeypatch):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.xml").write_text("<data><nodes>")
    (tmp_path / "in" / "empty.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    monkeypatch.chdir(tmp_path)
    assert main(["render", bad, "-o", "out/x.png"]) == 2
    render_err = capsys.readouterr().err
    assert main(["explore", "face", bad, "-o", "out/e.html"]) == 2
    err = capsys.readouterr().err
    assert err == render_err and len(err.strip().splitlines()) == 1 and bad in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_study_report_links_an_explorer_of_references_and_replicas(tmp_path):
    import json
    import sqlite3

    from study_helpers import synthetic_store

    from fracturelab.cppn.builtins import builtin_net
    from fracturelab.report.study_page import build_report
    from fracturelab.cppn.nets import encoded

    synthetic_store(tmp_path)
    face = builtin_net("face")
    con = sqlite3.connect(tmp_path / "results.sqlite")  # one replica cell as cppn_part now stores it
    key = next(k for k, p in con.execute("SELECT key, params_json FROM cells")
               if json.loads(p).get("reference") == "face" and json.loads(p).get("regime") == "sgd")
    con.execute("INSERT INTO blobs VALUES (?, ?, ?)", (key, "arch.txt", str(face.arch).encode()))
    con.execute("INSERT INTO blobs VALUES (?, ?, ?)", (key, "params.npy", encoded(dataclasses.replace(face, params=face.params * 0.5), face.render(8))[2]))
    con.commit()
    con.close()
    report = build_report(tmp_path)["report"].read_text()
    assert 'href="explorer.html"' in report[report.index('id="cppn"'):]
    page = (tmp_path / "explorer.html").read_text()
    names = [n["name"] for n in json.loads(page[page.index('type="application/json">') + 24:page.index("</script>")])["nets"]]
    refs = sorted({json.loads(p)["reference"] for (p,) in sqlite3.connect(tmp_path / "results.sqlite").execute(
        "SELECT params_json FROM cells") if json.loads(p)["kind"] == "cppn"})
    assert refs[0] == "face" and names == ["face", names[1], *refs[1:]] and names[1].startswith("face sgd seed")
