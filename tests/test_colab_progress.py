"""`metamusic video ... 2>log`: with stderr not a terminal (Colab's `!` shell, nohup, CI logs) the command writes progress lines,
each with the counters, the time elapsed and an ETA, never more than 30 s apart. The interval is set short here
($METAMUSIC_PROGRESS_INTERVAL) so that a few seconds of work show several lines."""
import os, re, subprocess, sys
from pathlib import Path
import numpy as np
import soundfile as sf

LINE = re.compile(r"^metamusic: video · (?P<body>.*) · (?P<el>[\d:]+) elapsed, ETA (?P<eta>[\d:?]+)$")

def seconds(s: str) -> int:
    n = 0
    for part in s.split(":"): n = 60 * n + int(part)
    return n

def test_video_progress_lines_in_a_redirected_stderr(tmp_path):
    sr = 16000
    t = np.arange(3 * sr) / sr
    song = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sign(np.sin(2 * np.pi * 2 * t))) / 2   # a tone pulsing twice a second
    sf.write(tmp_path / "song.wav", song.astype("float32"), sr)
    exe = Path(sys.executable).parent / "metamusic"
    env = dict(os.environ, METAMUSIC_PROGRESS_INTERVAL="0.5", OMP_NUM_THREADS="1")
    env.pop("TQDM_DISABLE", None)
    with open(tmp_path / "log", "w") as log:   # a file: no terminal, as with `2>log`
        r = subprocess.run([str(exe), "video", "song.wav", "--untrained", "-o", "out.mp4", "--size", "32", "32", "--fps", "4",
                            "--iterations-per-keyframe", "4", "--cutn", "2", "--segments", "fixed", "--every", "1", "--seed", "0"],
                           cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=log, text=True, timeout=600)
    text = (tmp_path / "log").read_text()
    assert r.returncode == 0, text
    lines = [m for m in map(LINE.match, text.splitlines()) if m]
    assert len(lines) >= 3, text                                       # at least each keyframe's start and the end
    for m in lines: assert m["body"] == "starting" or "keyframe" in m["body"] or "rendering" in m["body"] or "100%" in m["body"], m.string
    kf = {p for m in lines for p in m["body"].split(" · ") if p.startswith("keyframe ")}
    n = int(next(iter(kf)).split("/")[1])
    assert n >= 3 and kf == {f"keyframe {k}/{n}" for k in range(1, n + 1)}, text   # a line for every keyframe
    assert lines[-1]["body"].endswith("100%") and lines[-1]["eta"] == "0:00", lines[-1].string
    assert any(m["eta"] != "?" for m in lines[:-1]), text              # an ETA while it runs, not only at the end
    elapsed = [seconds(m["el"]) for m in lines]
    assert elapsed == sorted(elapsed), text
    assert elapsed[0] <= 30 and all(b - a <= 30 for a, b in zip(elapsed, elapsed[1:])), text   # the contract: never 30 s silent
    assert "video: " in r.stdout and (tmp_path / "out.mp4").is_file()
