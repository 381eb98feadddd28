"The `metamusic` command in subprocesses, as a shell sees it: exit codes, one-line errors, files with the options honoured."
import os, socket, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
from PIL import Image

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
    from metamusic.musicvideo import probe_video
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
    assert r.returncode == 1, (r.returncode, r.stderr)   # the contract: a failed download is exit 1, not bad usage (2)
    assert "Traceback" not in r.stderr
    for word in (w.filename, w.url, str(tmp_path / "ckpts")): assert word in r.stderr, (word, r.stderr)
    assert not (tmp_path / "ckpts" / w.filename).exists()

def test_ctrl_c_exits_130_and_the_same_command_resumes(tmp_path):
    import signal, time
    from metamusic.musicvideo import probe_video
    out = tmp_path / "long.mp4"
    # enough work after the first keyframe (5 keyframes of 60 steps) that Ctrl-C always lands before the render ends
    args = ["video", "demo", "--untrained", "--duration", 2, "--fps", 4, "--size", 32, 32, "--segments", "fixed", "--every", 0.5,
            "--iterations-per-keyframe", 60, "--cutn", 2, "--seed", 3, "-o", out]
    # SIGINT as a terminal gives it: a runner started in the background (`cmd &`) passes SIGINT on as ignored, and
    # Python then installs no KeyboardInterrupt handler, so the command would never see the Ctrl-C
    proc = subprocess.Popen([sys.executable, "-c", CLI, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 300   # a fresh environment compiles librosa's beat tracker first
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

# --- every option reaches the call (in-process: `main()` is the console command without the interpreter start)

def _engine_flags(tmp_path):
    "A non-default value for every engine option, as flags and as the options `picture`/`video` should receive."
    from PIL import Image
    from metamusic.engine import ENGINE_DEFAULTS
    init = tmp_path / "start.png"
    Image.new("RGB", (40, 40), (200, 30, 90)).save(init)
    opts = dict(cutn=3, cut_method="crops", cut_pow=1.5, augments=("Ji", "Gn"), noise=0.05, optimiser="AdamW", lr=0.3,
                precision="fp32", init=str(init), init_weight=0.5, init_decay=0.1)
    assert set(opts) == set(ENGINE_DEFAULTS), "a new engine option: give it a non-default value here"
    assert all(opts[k] != v for k, v in ENGINE_DEFAULTS.items())
    flags = []
    for k, v in opts.items(): flags += ["--" + k.replace("_", "-"), *(v if isinstance(v, tuple) else [v])]
    return flags, opts

def test_picture_flags_reach_the_picture(tmp_path):
    "The PNG records every flag, and its pixels are those of `picture()` called with the same values."
    from metamusic.cli import main
    from metamusic.audio import demo_song
    from metamusic.models import load_models
    from metamusic.impression import picture, read_metadata
    flags, opts = _engine_flags(tmp_path)
    out = tmp_path / "cli.png"
    args = ["picture", "demo", "--untrained", "--size", 32, 48, "--iterations", 2, "--seed", 11, "--prompt", "a red sky:0.5", *flags, "-o", out]
    assert main(list(map(str, args))) == 0
    call = read_metadata(out)["call"]
    want = dict(size=[32, 48], iterations=2, seed=11, prompts=["a red sky:0.5"], **{**opts, "augments": list(opts["augments"])})
    assert {k: call[k] for k in want} == want
    direct = picture(demo_song(), load_models("cpu", untrained="tiny"), prompts=["a red sky:0.5"], size=(32, 48), iterations=2,
                     seed=11, preview=False, **opts)
    with Image.open(out) as im: assert np.array_equal(np.asarray(im.convert("RGB")), np.asarray(direct.convert("RGB")))

def test_video_flags_reach_the_video(tmp_path, monkeypatch):
    "Every video flag arrives in the `video()` call with its value (the call is recorded, not run)."
    import metamusic.cli as cli
    from metamusic.musicvideo import Motion
    calls = []
    monkeypatch.setattr(cli, "video", lambda song, models, **kw: calls.append((song, kw)) or kw["out"])
    flags, opts = _engine_flags(tmp_path)
    (tmp_path / "p.csv").write_text("0,a red sky\n2,a green sea,0.5\n")
    args = ["video", "demo", "--untrained", "--fps", 12.5, "--size", 32, 48, "--iterations-per-keyframe", 7, "--segments", "fixed",
            "--every", 1.5, "--easing", "linear", "--pace", "onsets", "--loudness-steps", "--prompts", tmp_path / "p.csv",
            "--zoom", 0.1, "--rotate", 2, "--translate", 0.01, 0.02, "--pulse", 0.1, "--shake", 0.01, "--decay", 0.2,
            "--start", 1, "--duration", 3, "--run-dir", tmp_path / "r", "--restart", "--seed", 4, *flags, "-o", tmp_path / "v.mp4"]
    assert cli.main(list(map(str, args))) == 0
    (song, kw), = calls
    assert song.name == "demo" or "demo" in song.name
    want = dict(fps=12.5, size=(32, 48), iterations_per_keyframe=7, segments={"strategy": "fixed", "seconds": 1.5}, easing="linear",
                pace="onsets", loudness_steps=True, start=1.0, duration=3.0, run_dir=tmp_path / "r", resume=False, seed=4,
                motion=Motion(zoom=0.1, rotate=2, translate=(0.01, 0.02), pulse=0.1, shake=0.01, decay=0.2), **opts)
    assert {k: kw[k] for k in want} == want
    assert [(p.text, p.weight) for p in kw["prompts"]] == [("a red sky", 1.0), ("a green sea", 0.5)]
    calls.clear()
    assert cli.main(list(map(str, [*args[:-2], "--no-motion", "-o", tmp_path / "w.mp4"]))) == 0
    assert calls[0][1]["motion"] is False

def test_video_chunks_and_ray_reach_cluster_video(tmp_path, monkeypatch):
    "`video --ray ADDRESS` calls `cluster_video` with the song by name, the chunks, the cluster options and the run folder under --run-root."
    import metamusic.cli as cli
    calls = []
    monkeypatch.setattr(cli, "import_ray", lambda: None)    # no Ray needed: the call is recorded, not run
    monkeypatch.setattr(cli, "cluster_video", lambda song, out, models, **kw: calls.append((song, out, models, kw)) or out)
    monkeypatch.setattr(cli, "video", lambda *a, **kw: pytest.fail("--ray must not render here"))
    args = ["video", "demo", "--untrained", "--fps", 6, "--size", 32, 32, "--duration", 2, "--iterations-per-keyframe", 3, "--seed", 5,
            "--bpm", 100, "--chunks", 4, "--ray", "10.0.0.1:6379", "--workers", 3, "--threads", 2, "--retries", 1, "--poll", 0.5,
            "--run-root", tmp_path / "runs", "-o", tmp_path / "v.mp4"]
    assert cli.main(list(map(str, args))) == 0
    (song, out, models, kw), = calls
    assert (song, out, models) == ("demo", tmp_path / "v.mp4", dict(untrained="tiny"))
    want = dict(chunks=4, ray_address="10.0.0.1:6379", workers=3, threads=2, retries=1, poll=0.5, resume=True, bpm=100.0, fps=6.0,
                size=(32, 32), duration=2.0, iterations_per_keyframe=3, seed=5, run_dir=tmp_path / "runs" / "v.run")
    assert {k: kw[k] for k in want} == want
    calls.clear()   # bare --ray: the cluster `ray start` made, chunks at the section changes
    assert cli.main(list(map(str, [*args[:args.index("--chunks")], "--ray", "--restart", "-o", tmp_path / "w.mp4"]))) == 0
    assert (calls[0][3]["ray_address"], calls[0][3]["chunks"], calls[0][3]["resume"]) == ("auto", "sections", False)
