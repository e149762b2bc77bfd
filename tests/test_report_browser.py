"""The report opens in headless Chromium: a screenshot is taken and the DOM holds every section and the claims table
(skipped where chromium is not installed; .ci/run installs it)."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from study_helpers import synthetic_store

from fracturelab.report.study_page import SECTIONS, build_report
from fracturelab.study.claims import CLAIMS

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.slow
def test_report_in_headless_chromium(tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (.ci/run installs it)")
    synthetic_store(tmp_path / "out")
    report = build_report(tmp_path / "out")["report"]
    url = report.resolve().as_uri()
    png = tmp_path / "shot.png"
    common = [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,3000"]
    subprocess.run([*common, f"--screenshot={png}", url], capture_output=True, timeout=120)
    assert png.is_file() and png.stat().st_size > 20_000  # a blank page is a few kB
    from PIL import Image

    img = Image.open(png)
    assert img.size == (1200, 3000)
    import numpy as np

    assert len(np.unique(np.asarray(img.convert("L").resize((60, 150))))) > 10  # something was drawn
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    for s in SECTIONS:
        assert f'id="{s}"' in dom, s
    table = dom[dom.index('id="claims-table"'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r'<tr class="(supported|contradicted|inconclusive|no-effect)" id="claim-(\d+)">', table)
    assert [int(i) for _, i in rows] == sorted(CLAIMS)
    assert dom.count("data:image/png;base64,") >= 8
