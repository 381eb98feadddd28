"`make bench` plumbing, run with the tiny models (`--quick`): every section writes its numbers; no timing is asserted."
import json, subprocess, sys
from pathlib import Path
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_quick_bench_writes_results(tmp_path):
    r = subprocess.run([sys.executable, str(BENCH / "run.py"), "--quick", "--out-dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    js = list(tmp_path.glob("*.json"))
    assert len(js) == 1 and js[0].with_suffix(".md").exists() and js[0].with_suffix(".png").exists()
    res = json.loads(js[0].read_text())
    for sec in ("step", "song", "quality", "memory", "preview"): assert "error" not in res["sections"][sec], res["sections"][sec]
    st, so, q = res["sections"]["step"], res["sections"]["song"], res["sections"]["quality"]
    assert st["original"]["flops"] > 0 and st["ours"]["flops"] > 0 and st["ratio"] > 0
    # the original's schedule: round(length × fps) steps per window (at least one), every step a frame
    assert so["original"]["n_steps"] == sum(max(1, round((b - a) * so["fps"])) for a, b in so["windows"]) > 0
    assert so["original"]["frames_computed"] == so["original"]["n_steps"]
    for sec in (so, q):   # the shipped defaults are run (never estimated), beside the original schedule
        n_frames = round(sec["excerpt"]["seconds"] * sec["fps"])
        assert sec["original"]["n_steps"] > 0 and sec["original"]["steps_per_music_s"] > 0
        d = sec["ours_defaults"]
        assert d["quality"] == "standard" and d["frames"] == n_frames and d["n_steps"] == sum(k["steps"] for k in d["keyframes"]) > 0
        assert d["steps_per_music_s"] == d["n_steps"] / sec["excerpt"]["seconds"] and d["proxy"] > 0
        assert all(r["frames"] == n_frames for r in sec["sweep"])
    assert [r["label"] for r in so["sweep"]] == ["ipk2-cut2"] and [r["label"] for r in q["sweep"]] == ["draft"]
    assert all(m["rss_peak"] > 0 for m in res["sections"]["memory"]["runs"])
    assert res["machine"]["torch"] and res["params"]["cutn"] == 4
    md = js[0].with_suffix(".md").read_text()
    assert "| goal |" in md and "steps per s of music" in md and "estimated" not in md
    assert md in r.stdout   # the whole table is printed in one go
    # the GPU suite's report path, on these numbers with a GPU named in the machine description
    sys.path.insert(0, str(BENCH))
    import report
    gpu = dict(res, machine=dict(res["machine"], gpu=dict(name="NVIDIA H200", memory_gb=140, cuda="13.0", bf16=True)))
    md = report.markdown(gpu)
    assert "NVIDIA H200" in md and "≥ 10× less wall time" in md
    report.plot(gpu, tmp_path / "gpu.png"); assert (tmp_path / "gpu.png").stat().st_size > 0


def test_gpu_suite_settings():
    "`python bench/run.py --device cuda` asks for 512² steps, a 20 s excerpt at 512² and 30 fps, memory up to 768²."
    sys.path.insert(0, str(BENCH))
    import run
    a = run.parse(["--device", "cuda"])
    assert (a.step_size, a.song_seconds, a.song_size, a.fps, a.mem_sizes) == (512, 20.0, 512, 30, [256, 512, 768])
    assert a.sections == ["step", "song", "quality", "memory", "preview"] and "draft" in a.sweep
