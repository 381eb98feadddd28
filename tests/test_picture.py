"picture() from a song file, and its output files: written whole or not at all."
import json, logging
import torch
import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from metamusic.audio import demo_song
from metamusic.models import load_models
from metamusic.impression import picture, read_metadata

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

# --- what the picture's options mean

from metamusic.engine import Engine, audio_target

OPTS = dict(cutn=3, cut_method="crops", cut_pow=1.5, augments=("Ji",), noise=0.05, optimiser="AdamW", lr=0.3, init="pixels")

@pytest.fixture(scope="module")
def song(): return demo_song().excerpt(0, 4)

def pixels(img): return np.asarray(img.convert("RGB"))

def test_a_seed_repeats_and_another_seed_differs(models, song):
    a, b, c = (picture(song, models, **{**FAST, "seed": s}) for s in (1, 1, 2))
    assert np.array_equal(pixels(a), pixels(b)) and not np.array_equal(pixels(a), pixels(c))

@pytest.mark.parametrize("audio", ["whole", "segments"])
def test_options_reach_the_engine(models, song, audio):
    "picture() is the engine run with exactly the options given, toward the song's whole or per-segment embedding."
    img = picture(song, models, size=(32, 32), iterations=3, seed=5, preview=False, audio=audio, **OPTS)
    embeds = song.embed(models, "whole" if audio == "whole" else None)
    eng = Engine(models, size=(32, 32), seed=5, targets=[audio_target(embeds, label="song")], **OPTS)
    eng.run(3)
    assert np.array_equal(pixels(img), pixels(eng.image()))

def test_segments_is_not_whole(models, song):
    whole, segs = song.embed(models, "whole"), song.embed(models)
    assert len(segs) > 1 and not torch.allclose(audio_target(whole).embed, audio_target(segs).embed, atol=1e-3)
    a, b = (picture(song, models, **{**FAST, "audio": x, "lr": 0.5}) for x in ("whole", "segments"))
    assert not np.array_equal(pixels(a), pixels(b))

def test_weights_and_prompts_are_in_the_loss(models, song):
    img = picture(song, models, prompts="a red sky:0.5", audio_weight=0.25, **FAST)
    meta = json.loads(img.info["metamusic"])
    assert meta["losses"]["song"] == pytest.approx(0.25 * meta["distances"]["song"], rel=1e-5)
    assert meta["losses"]["a red sky"] == pytest.approx(0.5 * meta["distances"]["a red sky"], rel=1e-5)

def test_the_metadata_remakes_the_picture(models, song_file, tmp_path):
    "The call recorded in the PNG, replayed, paints the same pixels (the recipe is the one really used)."
    img = picture(song_file, models, out=tmp_path / "a.png", prompts="a red sky:0.5", size=(32, 32), iterations=3, seed=9,
                  preview=False, audio="segments", audio_weight=0.7, **OPTS)
    call = read_metadata(tmp_path / "a.png")["call"]
    assert call["seed"] == 9 and call["lr"] == 0.3 and call["optimiser"] == "AdamW" and call["augments"] == ["Ji"]
    again = picture(song_file, models, preview=False, **{**call, "size": tuple(call["size"])})
    assert np.array_equal(pixels(Image.open(tmp_path / "a.png")), pixels(again))
