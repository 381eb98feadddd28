"Real-browser test of the web app: `metamusic app --untrained` on 127.0.0.1, driven by Debian's Chromium through Playwright."
import os, subprocess, sys, time
from pathlib import Path
import pytest

pytestmark = pytest.mark.browser
from _browser import ARGS, CHROMIUM, OUTPUT, free_port as _free_port, skip_reason, wait_until_serving
CLI = "import sys; from metamusic.cli import main; sys.exit(main())"

_reason = skip_reason("gradio", hint="pip install 'metamusic[app]'")
if _reason: pytest.skip(_reason, allow_module_level=True)

@pytest.fixture(scope="module")
def song_wav(tmp_path_factory):
    import soundfile as sf
    from metamusic.audio import demo_song
    path = tmp_path_factory.mktemp("song") / "demo.wav"
    song = demo_song().excerpt(0.0, 3.0)
    sf.write(path, song.samples, song.sr)
    return path

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    "One app server for the module (starting one costs seconds); each test looks only at its own run folders."
    tmp_path = tmp_path_factory.mktemp("app")
    port, log = _free_port(), open(tmp_path / "server.log", "w+")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    proc = subprocess.Popen([sys.executable, "-c", CLI, "app", "--untrained", "--port", str(port), "--runs-dir", str(tmp_path / "runs")],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(proc, log, url, "the app", timeout=60)
        yield url, proc, log
    finally:
        proc.terminate()
        try: proc.wait(10)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait(5)
        log.close()

# Records every image URL the live preview shows, so frames that come and go between polls are still counted.
WATCH = """sel => { window._frames = new Set(); const root = document.querySelector(sel);
  const rec = () => root.querySelectorAll('img').forEach(i => { if (i.src) window._frames.add(i.src) });
  new MutationObserver(rec).observe(root, {subtree: true, childList: true, attributes: true}); rec(); }"""

def _open_with_song(browser, url, song, kind="picture"):
    "A new page on the app with `song` uploaded in the `kind` tab."
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.set_default_timeout(30_000)
    page.goto(url, wait_until="domcontentloaded")
    if kind != "picture": page.get_by_role("tab", name=kind.capitalize()).click()
    page.locator(f"#{kind}-song input[type=file]").set_input_files(str(song))
    page.locator(f"#{kind}-song audio, #{kind}-song [data-testid='waveform-controls']").first.wait_for(state="attached")
    return page

def test_picture_tab_streams_frames_then_final_image(server, song_wav):
    "Two visitors press Generate at once: both see live frames then their picture; the jobs ran one after the other."
    import json
    from playwright.sync_api import sync_playwright
    url, proc, log = server
    runs = Path(log.name).parent / "runs"
    earlier = set(runs.glob("picture-*"))
    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            pages = [_open_with_song(browser, url, song_wav) for _ in range(2)]
            for page in pages:
                # The untrained image hardly changes at lr 0.1 (tokens rarely flip), so frames could repeat;
                # at lr 1 nearly every step shows a new image, and 20 steps outlast several frame intervals.
                for field, value in (("#picture-lr", "1"), ("#picture-iterations", "20")):
                    box = page.locator(f"{field} input[type=number]")
                    box.fill(value); box.press("Enter")
                page.evaluate(WATCH, "#picture-live")
                page.click("#picture-generate")
            seen = []
            for page in pages:
                page.locator("#picture-result img").wait_for(state="visible", timeout=90_000)
                seen.append((page.evaluate("window._frames.size"), page.locator("#picture-status textarea").input_value(),
                             page.locator("#picture-progress progress").get_attribute("value")))
            pages[0].screenshot(path=str(OUTPUT / "app_picture.png"), full_page=True)
        finally: browser.close()
    for frames, status, bar in seen:
        # how many live frames a browser sees depends on the machine's speed (frames are throttled by time, not
        # steps): the contract is that they stream at all, not how many arrive
        assert frames >= 1, f"saw {frames} live frame(s)"
        assert "done" in status and "untrained" in status, status
        assert float(bar) == 1.0, bar
    assert proc.poll() is None, "the server died"
    mine = sorted(set(runs.glob("picture-*")) - earlier)
    assert len(mine) == 2 and all(len(list(r.glob("*_untrained.png"))) == 1 for r in mine), mine   # a run folder each
    a, b = sorted((json.loads((r / "request.json").read_text()) for r in mine), key=lambda r: r["started"])
    assert a["state"] == b["state"] == "done" and b["started"] >= a["ended"], (a, b)   # one job at a time

def test_cancel_stops_the_job_and_frees_the_queue(server, song_wav):
    from playwright.sync_api import sync_playwright
    url, proc, log = server
    runs = Path(log.name).parent / "runs"
    earlier = set(runs.glob("picture-*"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = _open_with_song(browser, url, song_wav)
            iters = page.locator("#picture-iterations input[type=number]")
            iters.fill("1000"); iters.press("Enter")
            page.evaluate(WATCH, "#picture-live")
            page.click("#picture-generate")
            page.wait_for_function("window._frames.size >= 1", timeout=60_000)
            page.click("#picture-cancel")
            status = page.locator("#picture-status textarea")
            time.sleep(2.0); before = status.input_value()
            time.sleep(2.0); after = status.input_value()
            assert before == after, f"progress still moving after Cancel: {before!r} -> {after!r}"
            assert "1000" in after and "done" not in after, after
            assert not page.locator("#picture-result img").count()
            # the queue slot is free again: a short job runs to the end
            iters.fill("3"); iters.press("Enter")
            page.click("#picture-generate")
            page.locator("#picture-result img").wait_for(state="visible", timeout=60_000)
            assert "done" in status.input_value()
        finally: browser.close()
    import json
    mine = sorted(set(runs.glob("picture-*")) - earlier)   # names start with the time, so sorted = in order
    states = [json.loads((r / "request.json").read_text()) for r in mine]
    assert [s["state"] for s in states] == ["stopped", "done"], states
    assert states[0]["last_step"] < 1000 and states[1]["last_step"] == 3, states

def test_bad_upload_is_a_message_in_the_page(server, tmp_path):
    from playwright.sync_api import sync_playwright
    url, proc, log = server
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio\n" * 200)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = _open_with_song(browser, url, bad, kind="video")
            page.click("#video-generate")
            msg = page.get_by_text("notes.wav: is not an audio file")
            msg.wait_for(state="visible", timeout=30_000)
            shown, text = msg.inner_text(), page.locator("body").inner_text()
        finally: browser.close()
    assert "Traceback" not in text and str(tmp_path) not in shown and "gradio" not in shown, shown   # the visitor's file name, not server paths
    assert not list((Path(log.name).parent / "runs").glob("video-*")), "a run folder was made for a bad upload"
