"The studio's form means what it says: every field reaches the `picture`/`video` call, and Stop stops the job."
import pytest
from metamusic.widgets import STUDIO_DEFAULTS, Studio, PreviewState, studio_call

def _record(calls):
    "Stand-ins for load_song/picture/video that record what they are given."
    return dict(load_song=lambda source, **kw: ("song", source, kw),
                picture=lambda song, models, **kw: calls.append(("picture", song, models, kw)),
                video=lambda song, models, **kw: calls.append(("video", song, models, kw)))

VIDEO = dict(source="/music/a song.mp3", start=1.5, duration=2.5, mode="video", width=48, height=32, iterations=9,
             quality="draft", iterations_per_keyframe=7, cutn=5, lr=0.3, seed="12", prompts="0:00 a red sky\n0:01 a green sea:0.5", fps=12,
             zoom=0.1, rotate=2.0, pulse=0.15, shake=0.01, segments="fixed", out="/tmp/v.mp4")

def test_every_video_field_reaches_the_call():
    from metamusic.musicvideo import Motion
    assert set(VIDEO) == set(STUDIO_DEFAULTS), "a new studio field: give it a non-default value here"
    assert all(VIDEO[k] != v for k, v in STUDIO_DEFAULTS.items() if k != "iterations")
    calls = []
    studio_call(VIDEO).run("MODELS", functions=_record(calls))
    (fn, song, models, kw), = calls
    assert (fn, song, models) == ("video", ("song", "/music/a song.mp3", {"start": 1.5, "duration": 2.5}), "MODELS")
    assert kw == dict(prompts=["0:00 a red sky", "0:01 a green sea:0.5"], size=(48, 32), quality="draft", iterations_per_keyframe=7, fps=12,
                      segments="fixed", motion=Motion(zoom=0.1, rotate=2.0, pulse=0.15, shake=0.01), seed=12, cutn=5, lr=0.3,
                      out="/tmp/v.mp4")

def test_every_picture_field_reaches_the_call():
    calls = []
    studio_call({**VIDEO, "mode": "picture", "out": "/tmp/p.png", "seed": ""}).run("MODELS", functions=_record(calls))
    (fn, song, models, kw), = calls
    assert fn == "picture" and song == ("song", "/music/a song.mp3", {"start": 1.5, "duration": 2.5})
    assert kw == dict(prompts=["0:00 a red sky", "0:01 a green sea:0.5"], size=(48, 32), iterations=9, seed=None, cutn=5, lr=0.3,
                      out="/tmp/p.png")

def test_the_form_is_the_call(tmp_path):
    "What is typed into the studio's widgets is what its call (and its code) holds."
    s = Studio(models="MODELS", out_dir=tmp_path)
    s.set_params(**VIDEO)
    assert s.params() == VIDEO
    assert s.call() == studio_call(VIDEO, out_dir=tmp_path)
    code = s.call().code()
    for text in ("seed=12", "lr=0.3", "cutn=5", "fps=12", "size=(48, 32)", "zoom=0.1", "start=1.5"): assert text in code, (text, code)

def test_stop_ends_the_run_after_this_step():
    st = PreviewState("picture")
    class Ev: iteration, total, loss, losses, phase, keyframe, progress, elapsed = 1, 10, 0.5, {"song": 0.5}, "optimising", None, 0.1, 0.0
    assert st.callback(Ev()) is None
    st.stop_requested.set()
    assert st.callback(Ev()) is False and st.steps == 2


def test_uploads_in_both_ipywidgets_shapes():
    "ipywidgets 7 (Colab) keeps uploads in a dict by name, 8 in a tuple of dicts: both give the files."
    from metamusic.widgets import upload_files
    v7 = {"a.wav": {"metadata": {"name": "my song.wav", "type": "audio/wav", "size": 4}, "content": b"RIFF"}}
    v8 = ({"name": "my song.wav", "type": "audio/wav", "size": 4, "content": memoryview(b"RIFF")},)
    assert upload_files(v7) == upload_files(v8) == [("my song.wav", b"RIFF")]
    assert upload_files({}) == upload_files(()) == []

def test_a_video_above_the_limit_is_not_embedded(tmp_path):
    from metamusic.widgets import VideoPlayer
    v = tmp_path / "v.mp4"; v.write_bytes(b"\0" * 3 * 2**20)
    assert "base64" in VideoPlayer(v, max_mb=4)._repr_html_()
    big = VideoPlayer(v, max_mb=2)
    assert not big.embeddable and "base64" not in big._repr_html_() and str(v.absolute()) in big._repr_html_()
