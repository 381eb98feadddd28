"The analysis recovers what is known about the demo song; embeddings don't depend on batching."
import numpy as np
import pytest
import torch
from metamusic.audio import demo_song, load_song, DEMO_TEMPO, DEMO_SECTION_TIME, DEMO_DURATION, SR

@pytest.fixture(scope="module")
def song(): return demo_song()

def test_demo_is_deterministic(song):
    from metamusic.audio import _demo_samples
    assert np.array_equal(_demo_samples(), song.samples) and song.duration == DEMO_DURATION

def test_tempo_within_3_percent(song):
    assert abs(song.tempo - DEMO_TEMPO) / DEMO_TEMPO < 0.03

def test_beats_within_70ms(song):
    true = np.arange(0, DEMO_DURATION, 60 / DEMO_TEMPO)
    err = np.abs(song.beats[:, None] - true[None]).min(1)
    assert err.max() < 0.07
    # every true beat after the first (whose onset has no "before") is found
    found = np.abs(true[1:, None] - song.beats[None]).min(1)
    assert found.max() < 0.07

def test_section_change_within_one_beat(song):
    assert len(song.sections) == 2 and song.sections[0] == 0.0
    assert abs(song.sections[1] - DEMO_SECTION_TIME) <= 60 / DEMO_TEMPO

def test_analysis_does_not_depend_on_gain_or_leading_silence(song):
    quiet = load_song((np.r_[np.zeros(SR * 3, np.float32), song.samples * 0.05], SR))
    assert abs(quiet.tempo - DEMO_TEMPO) / DEMO_TEMPO < 0.03
    assert abs(quiet.sections[-1] - (DEMO_SECTION_TIME + 3)) <= 60 / DEMO_TEMPO
    assert quiet.beats.min() >= 3.0 - 0.07  # no beats invented in the silence

def test_two_batchings_give_the_same_embeddings(song):
    from metamusic.models import load_models
    models = load_models("cpu", untrained="tiny")
    segs = song.segments([0.3, 1.0, 2.0, 3.0, 3.2, 5.0, 7.5, 8.0], min_len=0)
    a = song.embed(models, segs, batch_size=16)
    song2 = load_song((song.samples.copy(), SR))  # fresh cache
    b = torch.cat([song2.embed(models, segs[i:i + 3], batch_size=2) for i in range(0, len(segs), 3)])
    assert torch.allclose(a, b, atol=1e-5)
