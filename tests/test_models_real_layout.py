"""`load_models(weights_dir=...)` as every real user runs it, in CI: a weights folder in the published layout (file names
from the registry, a model.yaml, a Lightning-style last.ckpt, Wav2CLIP.pt, CLIP ViT-B-32 from a local file), filled with
small fabricated weights. The files are small: the VQGAN's config is narrow, and the CLIP file's tensors are
stride-0 views of one number each (torch.save stores one element per tensor), so the path runs in seconds."""
import sys
import numpy as np
import pytest
import torch
import yaml

from metamusic.models import load_models, VQGAN_CONFIGS, Wav2CLIP, _MODELS_CACHE
from metamusic.weights import REGISTRY, weight_path, vqgan_weights

def _published_yaml(ddconfig, n_embed, embed_dim):
    loss = {"target": "taming.modules.losses.vqperceptual.VQLPIPSWithDiscriminator", "params": {"disc_start": 0, "codebook_weight": 1.0}}
    return {"model": {"base_learning_rate": 4.5e-6, "target": "taming.models.vqgan.VQModel",
                      "params": {"embed_dim": embed_dim, "n_embed": n_embed, "ddconfig": ddconfig, "monitor": "val/rec_loss", "lossconfig": loss}}}

def _lightning_save(path, state_dict):
    "Save as pytorch_lightning does: the state dict beside a pickled reference to its ModelCheckpoint class."
    names = ("pytorch_lightning", "pytorch_lightning.callbacks", "pytorch_lightning.callbacks.model_checkpoint")
    fake = {n: type(sys)(n) for n in names}
    MC = type("ModelCheckpoint", (), {"__module__": names[-1]})
    fake[names[-1]].ModelCheckpoint = MC
    saved = {n: sys.modules.get(n) for n in names}
    sys.modules.update(fake)
    try: torch.save({"epoch": 3, "global_step": 10, "state_dict": state_dict, "callbacks": {MC: {"best_model_score": None}}}, path)
    finally:
        for n, m in saved.items():
            if m is None: sys.modules.pop(n, None)
            else: sys.modules[n] = m

@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    "A weights folder in the real layout; returns (folder, the state dicts written, for comparison)."
    from metamusic.models import VQGAN
    import open_clip
    d = tmp_path_factory.mktemp("checkpoints")
    cfg_name, ckpt_name = vqgan_weights("imagenet_f16_16384")
    dd = {**VQGAN_CONFIGS["imagenet_f16_16384"]["params"]["ddconfig"], "ch": 32, "z_channels": 32}   # narrow, same layout
    weight_path(cfg_name, d).write_text(yaml.safe_dump(_published_yaml(dd, 64, 32)))
    torch.manual_seed(0)
    vq = VQGAN(dd, 64, 32)
    vq_state = {k: v.clone() for k, v in vq.state_dict().items()}
    _lightning_save(weight_path(ckpt_name, d), {**vq_state, "loss.discriminator.main.0.weight": torch.zeros(2)})
    w2c = Wav2CLIP()
    w2c_state = {k: v.clone() for k, v in w2c.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(w2c_state, weight_path("wav2clip", d))
    # CLIP ViT-B-32: the real architecture (its tensors are shaped by the name), each tensor one distinct number
    with torch.device("meta"): shapes = {k: v.shape for k, v in open_clip.create_model("ViT-B-32", pretrained=None, device="meta").state_dict().items()}
    clip_state = {k: torch.tensor(1e-3 * (i % 997), dtype=torch.float32).expand(s) for i, (k, s) in enumerate(shapes.items())}
    torch.save(clip_state, weight_path("clip_vit_b_32", d))
    assert weight_path("clip_vit_b_32", d).stat().st_size < 5e6
    yield d, vq_state, w2c_state, clip_state
    for k in [k for k in _MODELS_CACHE if k[3] == str(d)]: del _MODELS_CACHE[k]   # free the ViT-B-32

def test_load_models_from_a_real_weights_folder(folder, monkeypatch):
    d, vq_state, w2c_state, clip_state = folder
    import metamusic.weights as W
    def no_download(entry, src, *a, **k): raise AssertionError(f"tried to download {entry.filename} from {src}")
    for f in ("_from_hub", "_from_url"): monkeypatch.setattr(W, f, no_download)   # every file must come from the folder
    models = load_models("cpu", weights_dir=d)
    assert models.untrained is None and models.names["wav2clip"] == str(weight_path("wav2clip", d))
    assert all(torch.equal(v, vq_state[k]) for k, v in models.vqgan.state_dict().items() if k in vq_state)
    assert all(torch.equal(models.wav2clip.state_dict()[k], v) for k, v in w2c_state.items())
    got = models.clip.model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in clip_state.items())          # CLIP came from the local file
    assert models.clip.input_size == 224 and models.clip.embed_dim == 512
    # and the loaded models work together: an embedding of a second of noise, a step of the engine
    from metamusic.engine import Engine, audio_target
    e = models.wav2clip.embed(np.random.default_rng(0).standard_normal(16000).astype(np.float32))
    assert e.shape == (1, 512) and torch.isfinite(e).all()
    eng = Engine(models, size=(32, 32), seed=0, cutn=1, augments=None, targets=[audio_target(e[0])])
    assert np.isfinite(eng.step()["loss"])
