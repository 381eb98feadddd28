"""Real-browser test of the live preview: JupyterLab on 127.0.0.1, driven by Debian's Chromium through Playwright.

A notebook runs a tiny-model `picture(...)`; the test watches the preview in the page: the frame changes over time, the loss plot
appears, the counters move, and the Stop button ends the run. A screenshot goes to tests/output/browser_preview.png."""
import json, os, subprocess, sys, time, uuid
from pathlib import Path
import pytest

pytestmark = pytest.mark.browser
from _browser import ARGS, CHROMIUM, OUTPUT, free_port as _free_port, skip_reason, wait_until_serving
BUDGET = 120  # seconds for the whole test

# The notebook the browser runs: tiny untrained models, a short excerpt, a 64x64 picture with more steps than we wait for.
CELLS = [
    "import time, metamusic\n"
    "from metamusic import load_models, demo_song, picture\n"
    "models = load_models(untrained='tiny')\n"
    "song = demo_song().excerpt(0.0, 2.0)\n"
    "print('READY')",
    "t0 = time.time()\n"
    # lr 1: the untrained image hardly changes at lr 0.1 (its tokens rarely flip); at lr 1 nearly every step does
    "image = picture(song, models, size=(64, 64), iterations=5000, seed=0, cutn=4, lr=1.0)\n"
    "print('FINISHED', round(time.time() - t0, 1))",
    "import tempfile, soundfile as sf\n"
    "from metamusic import studio\n"
    "d = tempfile.mkdtemp()\n"
    "sf.write(d + '/excerpt.wav', song.samples, song.sr)\n"
    "s = studio(models, out_dir=d)\n"
    "s.set_params(source=d + '/excerpt.wav', width=32, height=32, iterations=4, cutn=2, seed='1')",
]


_reason = skip_reason("jupyterlab", "jupyterlab_widgets")
if _reason: pytest.skip(_reason, allow_module_level=True)


def _notebook(path: Path):
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [], "source": src}
             for i, src in enumerate(CELLS)]
    nb = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}
    path.write_text(json.dumps(nb))


@pytest.fixture
def lab(tmp_path):
    "A JupyterLab server on 127.0.0.1 serving `tmp_path`, with its own config/runtime folders; killed at the end."
    root = tmp_path / "root"; root.mkdir()
    _notebook(root / "preview.ipynb")
    port, token = _free_port(), uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if k != "IN_TEST"}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"), JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"))
    log = open(tmp_path / "lab.log", "w+")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", f"--ServerApp.root_dir={root}",
           f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False", "--allow-root", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(proc, log, f"{base}/api/status?token={token}", "jupyter lab", timeout=45, poll=0.3)
        yield f"{base}/lab/tree/preview.ipynb?token={token}", log
    finally:
        _kill_group(proc)
        log.close()


def _kill_group(proc):
    "End the server and its kernels: the process group we started for it."
    for sig, wait in ((15, 10), (9, 5)):
        try: os.killpg(proc.pid, sig)
        except ProcessLookupError: return
        try: proc.wait(wait); return
        except subprocess.TimeoutExpired: pass


def _run_cell(page, index):
    "Select cell `index` and run it with Shift+Enter."
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    return cell


def test_live_preview_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright
    url, log = lab
    t_start = time.monotonic()
    OUTPUT.mkdir(exist_ok=True)
    shot = OUTPUT / "browser_preview.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(60_000)
        try:
            page.goto(url)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            # run nothing before the kernel is connected and idle (the status bar says so)
            page.locator(".jp-StatusBar-Widget", has_text="Idle").first.wait_for(timeout=60_000)
            first = _run_cell(page, 0)
            first.locator(".jp-OutputArea-output", has_text="READY").wait_for(timeout=60_000)

            second = _run_cell(page, 1)
            preview = second.locator(".metamusic-preview")
            preview.wait_for(timeout=30_000)
            frame = preview.locator("img").nth(0)
            plot = preview.locator("img").nth(1)
            # watch the frame for a few seconds: its pixels must change (VQGAN frames of a run being optimised)
            seen, statuses, deadline = [], set(), time.monotonic() + 25
            while time.monotonic() < deadline and len(set(seen)) < 3:
                if frame.get_attribute("src"):
                    seen.append(page.evaluate("""(img) => { const c = document.createElement('canvas');
                        c.width = img.naturalWidth; c.height = img.naturalHeight;
                        if (!c.width) return ''; c.getContext('2d').drawImage(img, 0, 0); return c.toDataURL(); }""",
                        frame.element_handle()))
                statuses.add(preview.inner_text())
                time.sleep(0.7)
            distinct = {s for s in seen if s}
            assert len(distinct) >= 2, f"the preview frame did not change ({len(seen)} samples)"
            plot.wait_for(state="visible", timeout=15_000)
            assert page.evaluate("(img) => img.naturalWidth", plot.element_handle()) > 100, "no loss plot"
            assert any("step" in s and "ETA" in s for s in statuses), statuses
            page.screenshot(path=str(shot), full_page=True)

            # Stop ends the run after the current step; the cell then finishes and prints
            preview.get_by_role("button", name="Stop").click()
            second.locator(".jp-OutputArea-output", has_text="FINISHED").wait_for(timeout=30_000)
            assert "stopped after" in preview.inner_text()
            page.screenshot(path=str(OUTPUT / "browser_preview_stopped.png"), full_page=True)

            # the studio: Generate returns at once, the run shows its own preview, then the result and its code
            third = _run_cell(page, 2)
            st = third.locator(".metamusic-studio")
            st.wait_for(timeout=30_000)
            st.get_by_role("button", name="Generate").click()
            st.locator(".metamusic-preview").wait_for(timeout=30_000)
            st.get_by_text("done", exact=True).wait_for(timeout=60_000)
            assert st.locator("a[download='excerpt.png']").count() == 1, "no download link for the result"
            st.get_by_role("button", name="Copy as code").click()
            box, code, deadline = st.locator("textarea").last, "", time.monotonic() + 15
            while "picture(" not in code and time.monotonic() < deadline:  # the value arrives by a widget message
                time.sleep(0.3); code = box.input_value()
            assert "result = picture(song, models," in code and "size=(32, 32), iterations=4" in code, code
            page.screenshot(path=str(OUTPUT / "browser_studio.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(OUTPUT / "browser_preview_failure.png"), full_page=True)
            log.seek(0); print(log.read()[-3000:])
            raise
        finally:
            browser.close()
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert time.monotonic() - t_start < BUDGET
