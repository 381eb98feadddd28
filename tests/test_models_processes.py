"Model properties that only a fresh Python process can show: identical untrained twins, and what importing pulls in."
import json, os, subprocess, sys

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == "", f"the library wrote to stderr: {out.stderr}"  # it never prints or warns on a normal load
    return json.loads(out.stdout.strip().splitlines()[-1])


FINGERPRINT = """
import hashlib, json, sys, torch, numpy as np
torch.manual_seed({seed})              # the caller's seed must not matter
from metamusic.models import load_models
m = load_models("cpu", untrained="tiny")
h = hashlib.sha256()
for part in (m.vqgan, m.clip, m.wav2clip):
    for k, v in part.state_dict().items(): h.update(k.encode()); h.update(v.cpu().numpy().tobytes())
e = m.wav2clip.embed(np.sin(np.arange(16000, dtype=np.float32) / 10))
print(json.dumps({{"hash": h.hexdigest(), "embed": e[0, :4].tolist(), "rng_after": torch.rand(1).item()}}))
"""


def test_untrained_twins_identical_in_every_process():
    a, b = run(FINGERPRINT.format(seed=1)), run(FINGERPRINT.format(seed=2))
    assert a["hash"] == b["hash"] and a["embed"] == b["embed"]
    import torch
    torch.manual_seed(1)  # loading consumed nothing from the caller's random stream
    assert a["rng_after"] == torch.rand(1).item()


def test_import_pulls_in_no_training_code():
    code = """
import json, sys
import metamusic.models as mm
m = mm.load_models("cpu", untrained="tiny")
m.vqgan.decode(m.vqgan.tokens_to_z(__import__("torch").zeros(1, 1, 1, dtype=__import__("torch").long)))
bad = sorted(k for k in sys.modules if k.startswith(("taming.models", "taming.modules.losses", "pytorch_lightning", "lightning", "torchaudio", "lpips")))
print(json.dumps({"bad": bad, "taming_blocks": "taming.modules.diffusionmodules.model" in sys.modules}))
"""
    res = run(code)
    assert res["bad"] == [] and res["taming_blocks"]
