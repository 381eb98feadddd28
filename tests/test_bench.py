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
    for sec in ("step", "song", "memory", "preview"): assert "error" not in res["sections"][sec], res["sections"][sec]
    st, so = res["sections"]["step"], res["sections"]["song"]
    assert st["original"]["flops"] > 0 and st["ours"]["flops"] > 0 and st["ratio"] > 0
    # the original's schedule: round(length × fps) steps per window (at least one), every step a frame
    assert so["original"]["n_steps"] == sum(max(1, round((b - a) * so["fps"])) for a, b in so["windows"]) > 0
    assert so["original"]["frames_computed"] == so["original"]["n_steps"]
    assert all(r["frames"] == round(so["excerpt"]["seconds"] * so["fps"]) for r in so["sweep"])
    assert all(m["rss_peak"] > 0 for m in res["sections"]["memory"]["runs"])
    assert res["machine"]["torch"] and res["params"]["cutn"] == 4
    assert "| goal |" in js[0].with_suffix(".md").read_text()
