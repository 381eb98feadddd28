"Keyframe budgets end to end: early stop on a plateau, the long run at a section change, what the run folder records, resume."
import json
from pathlib import Path
import pytest
import torch

from metamusic.core import ResumeError
from metamusic.models import load_models
from metamusic.audio import demo_song, DEMO_SECTION_TIME
from metamusic.musicvideo import video, probe_video, RunFolder, Budget

MODELS = "miniature"  # trained models with the shipped engine settings: a long run really settles on a plateau
# Small and fast; a section change (12 s) inside the render: keyframes every 2 s of the demo song from 8 s to 16 s.
KW = dict(size=(32, 32), fps=4, start=8.0, duration=8.0, segments={"strategy": "fixed", "seconds": 2.0},
          cutn=2, seed=3, preview=False, progress=False)


@pytest.fixture(scope="module")
def models(): return load_models("cpu", untrained=MODELS)


@pytest.fixture(scope="module")
def song(): return demo_song()


@pytest.fixture(scope="module")
def reference(models, song, tmp_path_factory):
    "One render with early stop on: its path, run folder records and frame hashes."
    d = tmp_path_factory.mktemp("ref")
    out = video(song, models, d / "ref.mp4", quality=Budget(first=24, later=3, patience=3, tolerance=0.01), **KW)
    return out, RunFolder(d / "ref.run"), probe_video(out, hashes=True)["video"]["hashes"]


def test_section_change_gets_the_long_budget(reference, song):
    _, run, _ = reference
    recs = run.summary()
    times = [r["time"] for r in recs]
    assert times == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert song.sections[1] == pytest.approx(DEMO_SECTION_TIME, abs=0.5)   # found in the whole song, 4 s into the render
    assert [r["why"] for r in recs] == ["first", "warm", "section", "warm", "warm"]
    assert recs[0]["budget"] == recs[2]["budget"] == 24                         # first and section: the long run
    assert all(1 <= r["budget"] <= 12 for r in recs if r["why"] == "warm")      # warm ones: short (≤ 4 × later)


def test_early_stop_ends_a_keyframe_on_a_plateau(reference):
    _, run, _ = reference
    long = [r for r in run.summary() if r["why"] in ("first", "section")]
    assert any(r["stop"] == "plateau" and r["steps"] < r["budget"] for r in long), long
    for r in run.summary():
        assert r["stop"] in ("plateau", "budget") and 1 <= r["steps"] <= r["budget"]
        if r["stop"] == "plateau": assert r["steps"] >= 2 * 3, r   # two windows of `patience` steps are compared first
        if r["stop"] == "budget": assert r["steps"] == r["budget"]


def test_run_folder_records_steps_and_stop_reasons(reference):
    out, run, _ = reference
    recs = run.summary()
    for r in recs:   # keyframes.json agrees with the keyframe files themselves
        kf = run.load("keyframe", r["keyframe"])
        assert (kf["steps"], kf["budget"], kf["why"], kf["stop"]) == (r["steps"], r["budget"], r["why"], r["stop"])
    params = json.loads(run.params_file.read_text())
    assert params["steps"] == [r["budget"] for r in recs] and params["budget"]["first"] == 24
    assert out.with_name("ref.storyboard.png").is_file()


def test_plateau_means_the_loss_stopped_improving():
    from metamusic.engine import plateau
    falling = [1.0 - 0.05 * i for i in range(12)]
    assert not plateau(falling, 3, 0.01) and plateau(falling[:6] + [falling[5]] * 6, 3, 0.01)
    assert not plateau([1.0] * 5, 3, 0.01)   # fewer than two windows: too early to tell


def test_fixed_budget_runs_every_step(models, song, tmp_path):
    video(song, models, tmp_path / "f.mp4", iterations_per_keyframe=3, **{**KW, "duration": 4.0})
    recs = RunFolder(tmp_path / "f.run").summary()
    assert [(r["why"], r["steps"], r["stop"]) for r in recs] == [("fixed", 3, "budget")] * 3


def test_stop_and_resume_gives_identical_frames(models, song, reference, tmp_path):
    "Stopped in the middle of the section keyframe, then resumed: the same keyframes (steps, stops) and frames."
    _, ref, hashes = reference
    budget = Budget(first=24, later=3, patience=3, tolerance=0.01)
    stop = lambda ev: not (ev.phase == "optimising" and ev.keyframe == 2 and ev.iteration == 2)
    assert video(song, models, tmp_path / "v.mp4", quality=budget, callback=stop, **KW) is None
    run = RunFolder(tmp_path / "v.run")
    assert run.finished() == 2
    out = video(song, models, tmp_path / "v.mp4", quality=budget, **KW)
    assert run.summary() == ref.summary()
    for k in range(len(ref.summary())):
        assert torch.equal(run.load("keyframe", k)["zq"], ref.load("keyframe", k)["zq"]), k
    assert probe_video(out, hashes=True)["video"]["hashes"] == hashes
    # another budget is another render: refused, naming what changed
    with pytest.raises(ResumeError, match="budget"):
        video(song, models, tmp_path / "v.mp4", quality="draft", **KW)
