"picture() from a song file, and its output files: written whole or not at all."
import json, logging
import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from metamusic.audio import demo_song
from metamusic.models import load_models
from metamusic.picture import picture, read_metadata

FAST = dict(size=(32, 32), iterations=3, seed=0, preview=False, cutn=2, augments=None)

@pytest.fixture(scope="module")
def models(): return load_models(device="cpu", untrained="tiny")

@pytest.fixture(scope="module")
def song_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("song") / "demo excerpt.wav"
    song = demo_song().excerpt(0, 4)
    sf.write(path, song.samples, song.sr)
    return path

def test_picture_from_a_song_file(models, song_file, tmp_path):
    out = tmp_path / "pic.png"
    img = picture(str(song_file), models, out=out, **FAST)
    meta = read_metadata(out)
    assert meta == json.loads(img.info["metamusic"])
    assert meta["song"]["path"] == str(song_file) and meta["song"]["duration"] == pytest.approx(4, abs=0.01)
    assert meta["call"]["iterations"] == 3 and meta["iterations_done"] == 3 and not meta["stopped"]
    assert meta["untrained"] == "tiny" and isinstance(meta["metamusic"], str) and np.isfinite(meta["loss"])
    assert Image.open(out).size == (32, 32)

def test_a_failed_run_leaves_no_file(models, song_file, tmp_path):
    out = tmp_path / "pic.png"
    def boom(event):
        if event.iteration == 2: raise RuntimeError("interrupted")
    with pytest.raises(RuntimeError, match="interrupted"):
        picture(song_file, models, out=out, callback=boom, **FAST)
    assert list(tmp_path.iterdir()) == []

def test_existing_output_is_replaced_whole(models, song_file, tmp_path):
    out = tmp_path / "pic.png"
    out.write_bytes(b"old")
    picture(song_file, models, out=out, **FAST)
    assert read_metadata(out)["kind"] == "picture" and [p.name for p in tmp_path.iterdir()] == ["pic.png"]

def test_jpeg_output_warns_that_metadata_is_dropped(models, song_file, tmp_path, caplog):
    out = tmp_path / "pic.jpg"
    with caplog.at_level(logging.WARNING, logger="metamusic"):
        picture(song_file, models, out=out, **FAST)
    assert Image.open(out).format == "JPEG"
    assert any("metadata" in r.getMessage() for r in caplog.records)
