"A batch rendered here (no Ray): a bad file fails alone, the jobs after it are still rendered, and the end line names it."
from pathlib import Path
import soundfile as sf
from metamusic.audio import demo_song
from metamusic.batch import batch_jobs, render_batch

def test_a_bad_file_fails_alone(tmp_path):
    song = demo_song()
    for k, name in enumerate(["a", "c"]): sf.write(tmp_path / f"{name}.wav", song.excerpt(1.0 * k, 1.0).samples, song.sr)
    (tmp_path / "b.wav").write_text("not audio")
    out = tmp_path / "out"; out.mkdir()
    jobs = batch_jobs([tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "c.wav"], out_dir=out, size=(32, 32), iterations=2, cutn=2, seed=0)
    events = []
    results = render_batch(jobs, dict(untrained="tiny", device="cpu"), poll=0.1, callback=events.append)
    assert [r.ok for r in results] == [True, False, True], results
    assert results[1].bad_input and "b.wav" in results[1].error
    assert all(Path(r.outputs["picture"]).is_file() for r in (results[0], results[2]))
    assert events[-1].kind == "end" and "2 of 3 jobs done, 1 failed" in events[-1].line and "b.wav" in events[-1].line, events[-1].line
