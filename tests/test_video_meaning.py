"""What a music video means, on the tiny untrained models: keyframe k is steered by segment k's audio and the prompts
of its time, options and seeds reach the engine, the camera drift makes no jumps. Where the frames don't matter,
renders stop at the first rendered frame (no encoding)."""
import json
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from metamusic.models import load_models
from metamusic.audio import demo_song, load_song, SR
from metamusic.engine import Engine
import sys
from metamusic.musicvideo import video, RunFolder, Motion, frame_jumps, drift_theta, warp, render_frames, frame_plan, cumulative

TINY = dict(size=(32, 32), iterations_per_keyframe=1, cutn=1, augments=None, seed=3, preview=False, progress=False,
            segments="fixed", fps=4)
until_render = lambda ev: ev.phase != "rendering"   # a callback that stops at the first rendered frame

@pytest.fixture(scope="module")
def models(): return load_models("cpu", untrained="tiny")

@pytest.fixture(scope="module")
def song(): return demo_song()

def keyframes(run_dir):
    run = RunFolder(run_dir)
    return [run.load("keyframe", k)["zq"] for k in range(run.finished())]

def test_keyframe_k_follows_segment_k_and_the_prompts_of_its_time(models, song, tmp_path, monkeypatch):
    "Keyframe k's targets: segment k's Wav2CLIP embedding, and the scheduled prompts active in segment k (song time)."
    calls, run = [], Engine.run
    def spy(self, iterations, targets=None, callback=None, info=None, **kw):   # kw: early-stop settings, passed on
        calls.append((info["keyframe"], targets))
        return run(self, iterations, targets=targets, callback=callback, info=info, **kw)
    monkeypatch.setattr(Engine, "run", spy)
    schedule = "0:00 a red sky\n0:02.5 a green sea:0.5"
    assert video(song, models, tmp_path / "v.mp4", start=1.0, duration=3.0, prompts=schedule, callback=until_render,
                 **{**TINY, "segments": {"strategy": "fixed", "seconds": 1.0, "min_len": 0}}) is None
    expected = F.normalize(song.excerpt(1.0, 3.0).embed(models, [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]), dim=-1)
    assert (expected[0] - expected[1]).abs().max() > 1e-3                    # the segments do sound different
    assert [k for k, _ in calls] == [0, 1, 2, 3]
    for k, targets in calls:
        assert torch.allclose(targets[0].embed, expected[min(k, 2)], atol=1e-6), k   # the closing keyframe: the last segment's
    # the excerpt starts at 1 s of the song: segments cover 1–2, 2–3, 3–4 s; "a green sea" starts at 2.5 s
    sky, sea = ("a red sky", 1.0, None), ("a green sea", 0.5, None)   # the schedule's (text, weight, stop), straight to the targets
    assert [t[1:] for _, t in calls] == [[sky], [sky, sea], [sea], [sea]]

def test_engine_options_and_seed_reach_the_keyframes(models, song, tmp_path):
    "Same call, same keyframes; another seed or another engine option, other keyframes; params.json says what was used."
    kw = dict(duration=2.0, callback=until_render, **TINY)
    video(song, models, tmp_path / "a.mp4", **kw)
    video(song, models, tmp_path / "b.mp4", **kw)
    video(song, models, tmp_path / "c.mp4", **{**kw, "seed": 4})
    video(song, models, tmp_path / "d.mp4", **{**kw, "lr": 0.9, "optimiser": "RMSprop"})
    a, b, c, d = (keyframes(tmp_path / f"{n}.run") for n in "abcd")
    assert len(a) == 2 and all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0]) and not torch.equal(a[1], d[1])
    params = json.loads((tmp_path / "d.run" / "params.json").read_text())
    assert params["seed"] == params["seed_used"] == 3 and params["engine"]["lr"] == 0.9 and params["engine"]["optimiser"] == "RMSprop"

def test_a_random_seed_is_recorded_and_really_used(models, song, tmp_path):
    "seed=None draws a seed and saves it; rendering again with that seed gives the same keyframes."
    kw = {**TINY, "seed": None}
    video(song, models, tmp_path / "r.mp4", duration=2.0, callback=until_render, **kw)
    used = json.loads((tmp_path / "r.run" / "params.json").read_text())["seed_used"]
    video(song, models, tmp_path / "s.mp4", duration=2.0, callback=until_render, **{**kw, "seed": used})
    assert all(torch.equal(x, y) for x, y in zip(keyframes(tmp_path / "r.run"), keyframes(tmp_path / "s.run")))

DRIFT = Motion(zoom=0.4, rotate=20.0, translate=(0.1, 0.0), pulse=0.0, shake=0.0)

def test_the_drift_carries_keyframes_along_and_makes_no_jump(models, song, tmp_path):
    "Each keyframe starts where the camera drifted to; frame differences at keyframe times are no larger than elsewhere."
    frames = []
    def keep(ev):
        if ev.phase == "rendering": frames.append(np.asarray(ev.image()))
    video(song, models, tmp_path / "drift.mp4", duration=3.0, motion=DRIFT, lr=1e-4, callback=keep,
          **{**TINY, "size": (64, 64), "fps": 8, "iterations_per_keyframe": 2, "segments": {"strategy": "fixed", "seconds": 1.0}})
    run = RunFolder(tmp_path / "drift.run")
    z = [run.load("keyframe", k)["z"] for k in range(4)]
    # lr 1e-4 leaves each keyframe almost where it started: at its predecessor, drifted by one second
    for k in (1, 2):
        carried = warp(z[k - 1], drift_theta(DRIFT, [1.0], 4, 4))
        assert (z[k] - carried).abs().mean() < 0.1 * (z[k] - z[k - 1]).abs().mean(), k
    jumps = frame_jumps(np.stack(frames))
    at_keyframes = jumps[[7, 15]]            # frames 7→8 and 15→16 cross the keyframes at 1 s and 2 s
    elsewhere = np.delete(jumps, [7, 15])
    assert at_keyframes.max() <= 1.5 * np.median(elsewhere), (at_keyframes, np.median(elsewhere))

def test_render_frames_honours_easing_and_pulse(models):
    "Easing changes the in-between frames (not the keyframes); a pulse zooms the frames on beats only."
    eng = Engine(models, size=(32, 32), seed=0, cutn=1)
    g = torch.Generator().manual_seed(0)
    zs = models.vqgan.quantize(torch.randn(2, *eng.z.shape[1:], generator=g))
    times = np.arange(8) / 8
    def frames(**kw): return torch.cat([f for _, f in render_frames(eng, zs, [0.0, 1.0], times, **kw)])
    smooth, linear = frames(easing="smooth"), frames(easing="linear")
    assert torch.equal(smooth[0], linear[0]) and not torch.allclose(smooth[2], linear[2], atol=1e-3)
    env = np.where(times >= 0.5, np.exp(-(times - 0.5) / 0.15), 0.0)
    pulsed = frames(motion=Motion(zoom=0, rotate=0, pulse=0.5, shake=0.0), pulse=(env, np.where(times >= 0.5, 0, -1)))
    assert torch.equal(pulsed[:4], smooth[:4])                          # before the beat: untouched
    assert (pulsed[4] - smooth[4]).abs().mean() > 0.01                   # on the beat: zoomed

def test_pacing_by_onsets_follows_the_onsets():
    "All the onsets of a segment in its first quarter: the change between keyframes is done by then. No onsets: the clock."
    ct = np.linspace(0, 1, 101)
    _, _, w = frame_plan([0.125, 0.3, 0.6], [0.0, 1.0], "linear", cumulative(ct, np.where(ct < 0.25, 1.0, 0.0)))
    assert w[0] == pytest.approx(0.5, abs=0.05) and w[1] > 0.99 and w[2] > 0.99
    _, _, w = frame_plan([0.3], [0.0, 1.0], "linear", cumulative(ct, np.zeros_like(ct)))
    assert w[0] == pytest.approx(0.3)

def test_onset_pacing_reaches_the_frames(models, song, tmp_path, monkeypatch):
    "video(pace='onsets') hands the song's cumulative onset curve to the renderer; pace='time' hands none."
    module = sys.modules["metamusic.musicvideo"]        # (the package's `video` is the function)
    seen, render = [], module.render_frames
    monkeypatch.setattr(module, "render_frames", lambda *a, **k: seen.append(a[6]) or render(*a, **k))
    for pace in ("onsets", "time"):
        video(song, models, tmp_path / f"{pace}.mp4", duration=2.0, pace=pace, callback=until_render, **TINY)
    onsets, clock = seen
    assert clock is None and np.all(np.diff(onsets[1]) >= 0) and onsets[1][-1] > 0
    np.testing.assert_allclose(onsets[1], cumulative(song.excerpt(0, 2.0).onset.times, song.excerpt(0, 2.0).onset.values)[1])
