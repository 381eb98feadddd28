"The `metamusic` command in subprocesses, as a shell sees it: exit codes, one-line errors, files with the options honoured."
import os, socket, subprocess, sys
from pathlib import Path
import pytest

CLI = "import sys; from metamusic.cli import main; sys.exit(main())"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

def metamusic(*args, env=None, timeout=120, cwd=None):
    "Run `metamusic ARGS` in a fresh interpreter; returns the CompletedProcess (text)."
    return subprocess.run([sys.executable, "-c", CLI, *map(str, args)], capture_output=True, text=True,
                          env={**ENV, **(env or {})}, timeout=timeout, cwd=cwd)

def assert_usage_error(r, *words):
    "Exit 2, exactly one line on stderr naming the problem, no traceback."
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for w in words: assert w in lines[0], (w, lines[0])

def test_picture_untrained_demo_song(tmp_path):
    from PIL import Image
    out = tmp_path / "pic.png"
    r = metamusic("picture", "demo", "--untrained", "--size", 48, 32, "--iterations", 3, "--seed", 1, "--cutn", 4, "-o", out)
    assert r.returncode == 0, r.stderr
    assert "untrained" in r.stdout and str(out) in r.stdout
    with Image.open(out) as im: assert im.size == (48, 32)
    assert "Traceback" not in r.stderr

def test_video_untrained_options_honoured(tmp_path):
    from metamusic.video import probe_video
    out = tmp_path / "clip.mp4"
    r = metamusic("video", "demo", "--untrained", "--duration", 2, "--fps", 6, "--size", 32, 48, "--segments", "fixed",
                  "--every", 1, "--iterations-per-keyframe", 2, "--cutn", 4, "--seed", 1, "-o", out)
    assert r.returncode == 0, r.stderr
    assert "untrained" in r.stdout and out.is_file()
    v = probe_video(out)["video"]
    assert (v["width"], v["height"]) == (32, 48), v
    assert abs(v["fps"] - 6) < 0.01, v
    assert v["n_frames"] == 12, v   # 2 s at 6 fps
    assert (tmp_path / "clip.run").is_dir()   # the default run folder, beside the video

@pytest.fixture(scope="module")
def not_audio(tmp_path_factory):
    p = tmp_path_factory.mktemp("bad") / "notes.mp3"
    p.write_text("this is not audio\n" * 50)
    return p

@pytest.mark.parametrize("case", ["missing file", "not audio", "size 0", "unknown augment", "unwritable output"])
def test_bad_input_is_one_line_exit_2(case, tmp_path, not_audio):
    args, words = {
        "missing file": (["picture", tmp_path / "nowhere.mp3", "--untrained"], ["nowhere.mp3"]),
        "not audio": (["picture", not_audio, "--untrained", "-o", tmp_path / "x.png"], ["notes.mp3"]),
        "size 0": (["picture", "demo", "--untrained", "--size", 0, 64], ["--size"]),
        "unknown augment": (["video", "demo", "--untrained", "--augments", "Af", "Wobble"], ["Wobble"]),
        "unwritable output": (["picture", "demo", "--untrained", "-o", tmp_path / "no" / "such" / "dir" / "x.png"], ["x.png"]),
    }[case]
    assert_usage_error(metamusic(*args), *words)
    assert not list(tmp_path.glob("*.png"))

def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]   # closed once the socket is

def test_weights_download_without_network_names_file_url_folder(tmp_path):
    from metamusic.weights import REGISTRY
    name = "wav2clip" if "wav2clip" in REGISTRY else next(iter(REGISTRY))
    w = REGISTRY[name]
    # every request goes to a proxy on a closed local port: a deterministic "no network", whatever the machine
    proxy = f"http://127.0.0.1:{_closed_port()}"
    env = {k: proxy for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")}
    env.update(no_proxy="", NO_PROXY="", METAMUSIC_WEIGHTS=str(tmp_path / "ckpts"))
    r = metamusic("weights", "download", name, env=env, timeout=60)
    assert r.returncode not in (0, 2), (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    for word in (w.filename, w.url, str(tmp_path / "ckpts")): assert word in r.stderr, (word, r.stderr)
    assert not (tmp_path / "ckpts" / w.filename).exists()

def test_ctrl_c_exits_130_and_the_same_command_resumes(tmp_path):
    import signal, time
    from metamusic.video import probe_video
    out = tmp_path / "long.mp4"
    args = ["video", "demo", "--untrained", "--duration", 2, "--fps", 4, "--size", 32, 32, "--segments", "fixed", "--every", 0.5,
            "--iterations-per-keyframe", 12, "--cutn", 2, "--seed", 3, "-o", out]
    proc = subprocess.Popen([sys.executable, "-c", CLI, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not list((tmp_path / "long.run").glob("keyframe_*")):   # interrupt once a keyframe is saved
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)    # what Ctrl-C in a terminal does: the whole process group
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None: os.killpg(proc.pid, signal.SIGKILL); proc.wait()
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert "Traceback" not in stderr and "resume" in stderr and "long.run" in stderr, stderr
    assert not out.exists()
    first = sorted((tmp_path / "long.run").glob("keyframe_0000*"))
    stamps = {p: p.stat().st_mtime_ns for p in first}
    r = metamusic(*args)   # the same command again: resumes
    assert r.returncode == 0, r.stderr
    assert probe_video(out)["video"]["n_frames"] == 8   # 2 s at 4 fps
    assert first and all(p.stat().st_mtime_ns == t for p, t in stamps.items()), "the first keyframe was computed again"
