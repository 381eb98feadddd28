"Music videos end to end on the tiny untrained models: streams, frame count, A/V sync, kill -9 and resume, refusals."
import os, shutil, signal, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest
import torch

from metamusic.core import MetamusicError, OutputError, ResumeError
from metamusic.models import load_models
from metamusic.audio import demo_song, load_song
from metamusic.musicvideo import video, probe_video, RunFolder

# Small and fast: 64×64, 2 cutouts, a few steps per keyframe, 2-3 s of the demo song.
FAST = dict(size=(64, 64), iterations_per_keyframe=3, cutn=2, seed=7, preview=False, progress=False)

@pytest.fixture(scope="module")
def models(): return load_models("cpu", untrained="tiny")

@pytest.fixture(scope="module")
def song(): return demo_song()

def leftovers(folder):
    "Temporary files anywhere under `folder` (atomic_output's `.name.xxxx.part.ext`, probes)."
    return [p for p in Path(folder).rglob("*") if ".part" in p.name]

def check_streams(path, fps, duration):
    info = probe_video(path)
    vids = [s for s in info["streams"] if s["type"] == "video"]
    auds = [s for s in info["streams"] if s["type"] == "audio"]
    assert len(vids) == 1 and len(auds) == 1, info["streams"]
    v, a = vids[0], auds[0]
    assert v["codec"] == "h264" and v["pix_fmt"] == "yuv420p", v
    assert v["constant_fps"] and v["exact_fps"] == pytest.approx(fps, rel=1e-6), v
    assert v["n_frames"] == round(duration * fps), (v["n_frames"], duration * fps)
    assert a["codec"] == "aac", a
    assert abs(a["duration"] - v["n_frames"] / fps) <= 1 / fps, (a["duration"], v["n_frames"] / fps)
    assert abs(v["duration"] - v["n_frames"] / fps) <= 1e-3, v
    return info

def test_streams_sync_and_no_temporaries(models, song, tmp_path):
    "One H.264 stream at exactly the requested constant fps with round(duration×fps) frames, one AAC stream, same length."
    events = []
    out = video(song, models, tmp_path / "clip.mp4", fps=24, start=1.0, duration=2.3, callback=events.append, **FAST)
    assert out == (tmp_path / "clip.mp4").absolute() and out.is_file()
    check_streams(out, 24, 2.3)
    assert (tmp_path / "clip.storyboard.png").is_file()
    assert leftovers(tmp_path) == []
    phases = [e.phase for e in events]
    assert phases[0] == "optimising" and phases[-1] == "rendering"
    assert events[-1].frame == round(2.3 * 24) - 1 and events[-1].n_frames == round(2.3 * 24)
    progress = [e.progress for e in events]
    assert all(b >= a - 1e-9 for a, b in zip(progress, progress[1:])) and progress[-1] == pytest.approx(1.0)
    assert {e.keyframe for e in events if e.phase == "optimising"} == set(range(events[0].n_keyframes))

def test_audio_from_the_original_file(models, song, tmp_path):
    "With a song file, the AAC track is cut from the file itself at start..start+duration (NTSC fps for good measure)."
    import soundfile as sf
    # a little noise over the demo song: its loops repeat exactly, the noise makes one place match best
    source = song.samples + 0.05 * np.random.default_rng(0).standard_normal(len(song.samples)).astype(np.float32)
    sf.write(tmp_path / "song.wav", source, song.sr, subtype="FLOAT")
    s = load_song(tmp_path / "song.wav", start=2.0)            # the excerpt knows its offset in the file
    out = video(s, models, tmp_path / "ntsc.mp4", fps=29.97, start=0.5, duration=1.5, motion=False, **FAST)
    check_streams(out, 30000 / 1001, 1.5)
    assert not (tmp_path / "ntsc.run" / "audio.wav").exists()  # no WAV needed: the original file was used
    # what is heard is the file from 2 + 0.5 s: half a second from the middle of the track, found in the source
    heard = load_song(out).samples
    core = heard[song.sr // 2: song.sr]
    corr = np.correlate(source, core, mode="valid")
    lag = int(np.argmax(corr)) - song.sr // 2
    assert abs(lag - round(2.5 * song.sr)) <= 16, lag / song.sr   # within 1 ms
    assert corr.max() > 0.5 * float(core @ core)                  # a real match, not chance

CHILD = """
import sys, time
from metamusic.models import load_models
from metamusic.audio import demo_song
from metamusic.musicvideo import video
slow = lambda ev: time.sleep(0.03)     # gives the parent time to kill us mid-render; doesn't change results
video(demo_song(), load_models("cpu", untrained="tiny"), sys.argv[1], fps=12, duration=3.0, callback=slow,
      size=(64, 64), iterations_per_keyframe=3, cutn=2, seed=7, preview=False, progress=False)
"""

def kill_mid_way(tmp_path, name, ready):
    "Start the child render of `name`.mp4, SIGKILL it once `ready()` is true, and check it was really cut short."
    script = tmp_path / "child.py"; script.write_text(CHILD)
    # Same thread count as this process: CPU results are bit-identical only for equal thread counts.
    env = dict(os.environ)
    child = subprocess.Popen([sys.executable, str(script), str(tmp_path / f"{name}.mp4")], env=env, cwd=Path(__file__).parent.parent)
    deadline = time.time() + 600   # a busy machine can take minutes to start torch, librosa and the models
    while not ready() and time.time() < deadline and child.poll() is None: time.sleep(0.02)
    assert child.poll() is None, "the child finished (or failed) before it could be killed"
    os.kill(child.pid, signal.SIGKILL); child.wait()
    assert not (tmp_path / f"{name}.mp4").exists()

def test_kill_and_resume_is_identical(models, song, tmp_path):
    "A render SIGKILLed mid-way (while optimising, then while encoding) and run again ends with the same keyframes and frames."
    kw = dict(fps=12, duration=3.0, **FAST)
    ref = video(song, models, tmp_path / "ref.mp4", **kw)
    n_kf = len(list((tmp_path / "ref.run").glob("keyframe_*.pt")))
    expected = probe_video(ref, hashes=True)["video"]
    assert expected["n_frames"] == 36
    # killed while optimising keyframes
    run = RunFolder(tmp_path / "killed.run")
    kill_mid_way(tmp_path, "killed", lambda: run.file("keyframe", 2).exists())
    assert 3 <= run.finished() < n_kf
    resumed = video(song, models, tmp_path / "killed.mp4", **kw)        # the same call again
    for k in range(n_kf):
        assert torch.equal(run.load("keyframe", k)["zq"], RunFolder(tmp_path / "ref.run").load("keyframe", k)["zq"]), k
    assert probe_video(resumed, hashes=True)["video"]["hashes"] == expected["hashes"]
    # killed while encoding: a partial temporary video is left beside the target, the next run replaces it
    shutil.copytree(tmp_path / "ref.run", tmp_path / "late.run")        # finished keyframes: straight to encoding
    kill_mid_way(tmp_path, "late", lambda: list(tmp_path.glob(".late.*.part.mp4")))
    resumed = video(song, models, tmp_path / "late.mp4", **kw)
    assert probe_video(resumed, hashes=True)["video"]["hashes"] == expected["hashes"]
    assert leftovers(tmp_path) == []

def test_stop_from_callback_then_resume(models, song, tmp_path):
    "A callback returning False stops cleanly: no video, keyframes kept; the same call finishes it."
    kw = dict(fps=10, duration=2.0, **FAST)
    stop_at = lambda ev: not (ev.phase == "optimising" and ev.keyframe == 1 and ev.iteration == 2)
    assert video(song, models, tmp_path / "v.mp4", callback=stop_at, **kw) is None
    assert not (tmp_path / "v.mp4").exists() and RunFolder(tmp_path / "v.run").finished() == 1
    steps = []
    assert video(song, models, tmp_path / "v.mp4", callback=lambda ev: steps.append(ev.keyframe) if ev.phase == "optimising" else None, **kw)
    assert min(steps) == 1                                      # keyframe 0 was not optimised again
    # stopping while rendering leaves no partial video
    stop_render = lambda ev: not (ev.phase == "rendering" and ev.frame == 5)
    assert video(song, models, tmp_path / "w.mp4", run_dir=tmp_path / "v.run", callback=stop_render, **kw) is None
    assert not (tmp_path / "w.mp4").exists() and leftovers(tmp_path) == []

def test_changed_parameters_are_refused(models, song, tmp_path):
    kw = dict(fps=10, duration=1.5, **FAST)
    video(song, models, tmp_path / "v.mp4", **kw)
    with pytest.raises(ResumeError, match="iterations|steps"):
        video(song, models, tmp_path / "v.mp4", **{**kw, "iterations_per_keyframe": 4})
    with pytest.raises(ResumeError, match="seed"):
        video(song, models, tmp_path / "v.mp4", **{**kw, "seed": 8})
    # what only affects rendering may change: the keyframes are reused
    out = video(song, models, tmp_path / "v.mp4", **{**kw, "fps": 15, "easing": "linear"})
    check_streams(out, 15, 1.5)
    # resume=False starts over
    assert video(song, models, tmp_path / "v.mp4", resume=False, **{**kw, "seed": 8}).is_file()

def test_unwritable_target_fails_first_and_leaves_nothing(models, song, tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        video(song, models, tmp_path / "missing" / "v.mp4", **FAST)
    if os.geteuid() == 0: target = Path("/proc/metamusic-test.mp4")   # root may write anywhere but here
    else:
        locked = tmp_path / "locked"; locked.mkdir(); locked.chmod(0o500); target = locked / "v.mp4"
    events = []
    with pytest.raises(MetamusicError, match="write"):
        video(song, models, target, callback=events.append, **FAST)
    assert events == []                                          # refused before any work: not one step or frame
    assert not target.exists() and not target.with_name("v.run").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == (["locked"] if os.geteuid() else [])
