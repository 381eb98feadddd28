"What the browser tests share: Debian's chromium driven by Playwright, a free port, where screenshots go."
import importlib, os, socket
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags chromium keeps dialling out, and this machine refuses every connection.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
OUTPUT = Path(__file__).parent / "output"

def skip_reason(*modules: str, hint: str = "pip install 'metamusic[dev]'"):
    "Why a browser test can't run here (a missing module or chromium), or None."
    for name in ("playwright.sync_api", *modules):
        try: importlib.import_module(name)
        except ImportError: return f"{name.split('.')[0]} is not installed ({hint})"
    if not os.access(CHROMIUM, os.X_OK): return f"{CHROMIUM} not found (apt-get install chromium)"
    return None

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def wait_until_serving(proc, log, url: str, name: str, timeout: float = 60, poll: float = 0.5):
    "Return once `url` answers 200; fail the test (with the server's log) if `proc` exits or `timeout` passes."
    import time, urllib.request, pytest
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            log.seek(0); pytest.fail(f"{name} exited with code {proc.returncode}:\n{log.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200: return
        except OSError: pass
        if time.monotonic() > deadline:
            log.seek(0); pytest.fail(f"{name} did not answer on {url} within {timeout:g} s:\n{log.read()[-3000:]}")
        time.sleep(poll)
