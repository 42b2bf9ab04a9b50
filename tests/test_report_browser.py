"""report.html of `patchsim evaluate` opened in headless Chromium: the drive-by video decodes (a duration
> 0, no media error) and the page renders to a screenshot. Skipped with a reason when Chromium is absent."""

import shutil
import subprocess

import numpy as np
import pytest
import yaml

from patchsim.cli import main
from patchsim.io.images import read_image, write_png

from conftest import ROOT

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no headless Chromium here (apt-get install chromium)")

PROBE = """<script>
const v = document.querySelector('video'), o = document.createElement('pre');
o.id = 'probe'; o.textContent = 'pending'; document.body.appendChild(o);
v.addEventListener('loadedmetadata', () => { o.textContent = 'duration ' + v.duration; });
v.addEventListener('error', () => { o.textContent = 'error ' + (v.error && v.error.code); });
</script>"""


def _chromium(*args: str, timeout: int = 90) -> str:
    cmd = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout).stdout


def test_report_video_plays_in_chromium(tmp_path):
    d = tmp_path / "scene"
    d.mkdir()
    data = yaml.safe_load((ROOT / "scenes" / "stop_driveby.yaml").read_text())
    data["driveby"]["start_m"] = 12.0
    (d / "scene.yaml").write_text(yaml.safe_dump(data))
    st = np.zeros((300, 300, 4), np.uint8)
    st[60:90, 66:234] = (20, 160, 220, 255)
    write_png(tmp_path / "sticker.png", st)
    out = tmp_path / "ev"
    assert main(["evaluate", str(d / "scene.yaml"), "--sticker", str(tmp_path / "sticker.png"), "--out", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert page.index("<h2>Summary</h2>") < page.index("<video") < page.index("timeline.png")
    # the report's own page plus a probe that reports what the video element did
    (out / "probe.html").write_text(page.replace("</body>", PROBE + "</body>"))
    dom = _chromium("--autoplay-policy=no-user-gesture-required", "--virtual-time-budget=10000", "--dump-dom",
                    (out / "probe.html").as_uri())
    probe = dom.split('<pre id="probe">', 1)[1].split("</pre>", 1)[0] if '<pre id="probe">' in dom else dom[-300:]
    assert probe.startswith("duration "), probe
    assert float(probe.split()[1]) == pytest.approx(22 / 30, abs=0.05)  # 22 frames at 30 fps
    _chromium("--window-size=1100,1400", f"--screenshot={tmp_path / 'report.png'}", (out / "report.html").as_uri())
    shot = read_image(tmp_path / "report.png")
    assert shot.shape[:2] == (1400, 1100) and shot.std() > 10  # something rendered, not a blank page
