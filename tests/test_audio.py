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

def test_section_change_on_its_beat(song):
    assert len(song.sections) == 2 and song.sections[0] == 0.0
    # the change is on a beat and boundaries lie on the beat grid: a boundary one beat off is a wrong boundary
    assert abs(song.sections[1] - DEMO_SECTION_TIME) < 0.07

def test_a_clear_section_change_is_confident(song):
    conf = song.section_confidence
    assert len(conf) == len(song.sections) and conf[0] == 1.0
    assert 0.5 < conf[1] <= 1.0, conf   # the demo's change scores far above the threshold: more sure than not
    strict = song.find_sections(threshold=2.0, confidence=True)[1]   # the same change against a higher bar: less sure
    assert len(strict) == 2 and strict[1] < conf[1], (strict, conf)

def test_a_tempo_hint_settles_the_octave(song):
    fast = load_song(song, bpm=2 * DEMO_TEMPO)   # a listener hearing double time: the hint picks that octave
    assert fast.tempo_hint == 2 * DEMO_TEMPO and abs(fast.tempo - 2 * DEMO_TEMPO) / DEMO_TEMPO < 0.06, fast.tempo

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
