"Engine properties that the notebook can't show compactly: prompt parsing over many inputs, cutout shapes over many sizes, reproducibility across processes."
import hashlib, os, subprocess, sys
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st, HealthCheck
from metamusic.core import ParameterError
from metamusic.engine import MakeCutouts, parse_prompt, parse_augments, AUGMENTS, Engine

# prompt text: anything with visible content, minus "://" (a URL's port rule is tested in the notebook)
texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30).filter(lambda t: t.strip() and "://" not in t)
numbers = st.floats(-100, 100, allow_nan=False, allow_infinity=False)

@given(texts, numbers, numbers)
def test_parse_prompt_weight_and_stop(text, weight, stop):
    assert parse_prompt(f"{text}:{weight!r}:{stop!r}") == (text.strip(), weight, stop)

@given(texts.filter(lambda t: ":" not in t))
def test_parse_prompt_plain_text(text):
    assert parse_prompt(text) == (text.strip(), 1.0, None)

@given(st.lists(st.sampled_from(list(AUGMENTS)), max_size=8), st.sampled_from([" ", ",", ", ", "+", "|"]))
def test_parse_augments_strings_and_lists(names, sep):
    assert parse_augments(sep.join(names)) == tuple(names) == parse_augments(names)

@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(8, 80), st.integers(8, 80), st.integers(1, 5), st.sampled_from(["pooled", "crops"]),
       st.floats(0.2, 3.0), st.booleans())
def test_cutout_shapes(w, h, cutn, method, cut_pow, augment):
    x = torch.rand(1, 3, h, w)
    cuts = MakeCutouts(16, cutn, method, cut_pow, augments=("Af", "Pe", "Ji", "Er", "Sh", "Gn", "Ro", "Re") if augment else None)(x)
    assert cuts.shape == (cutn, 3, 16, 16) and torch.isfinite(cuts).all()

def _digest(seed):
    "Hash of the picture and latent after 4 seeded steps (the same code runs in the subprocess)."
    from metamusic.models import load_models
    models = load_models(device="cpu", untrained="tiny")
    eng = Engine(models, size=(48, 32), seed=seed, cutn=2, targets="a storm at sea")
    eng.run(4)
    return hashlib.sha256(np.asarray(eng.image()).tobytes() + eng.z.detach().numpy().tobytes()).hexdigest()

def test_seed_reproduces_across_processes():
    "Same seed → bit-identical pixels and latent in a fresh process; another seed → another picture."
    # Same thread count as this process: CPU results are bit-identical only for equal thread counts.
    env = dict(os.environ)
    script = "import sys; sys.path.insert(0, sys.argv[1]); from test_engine import _digest; print(_digest(7))"
    out = subprocess.run([sys.executable, "-c", script, os.path.dirname(__file__)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    other = out.stdout.strip().splitlines()[-1]
    assert _digest(7) == other != _digest(8)

def test_bf16_on_cpu_runs():
    from metamusic.models import load_models
    eng = Engine(load_models(device="cpu", untrained="tiny"), size=(32, 32), seed=0, cutn=2, precision="bf16", targets="storm")
    res = eng.run(2)
    assert np.isfinite(res.loss) and eng.z.dtype == torch.float32

def test_fp16_needs_cuda():
    if torch.cuda.is_available(): pytest.skip("a GPU is present")
    from metamusic.models import load_models
    with pytest.raises(ParameterError, match="precision"):
        Engine(load_models(device="cpu", untrained="tiny"), size=(32, 32), precision="fp16")
