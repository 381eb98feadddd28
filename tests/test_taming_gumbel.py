"""GumbelVQ (gumbel_f8_8192) init images against taming's own `GumbelVQ`, full size, in a fresh process.

taming.models imports an old pytorch_lightning API (`pytorch_lightning.utilities.distributed`, gone from Lightning 2), so the
child registers a few stand-in Lightning modules first (`LightningModule` is a plain `nn.Module`): enough to build the model,
which is all we need from it. The loss is `torch.nn.Identity` (the published LPIPS loss would download VGG weights)."""
import json, os, subprocess, sys
import pytest


CHILD = r"""
import io, json, sys, tempfile, types, contextlib
from pathlib import Path
import torch, yaml
from torch import nn
# stand-in pytorch_lightning, just what taming.main and taming.models.vqgan import
mods = {n: types.ModuleType(n) for n in ["pytorch_lightning", "pytorch_lightning.trainer", "pytorch_lightning.callbacks",
                                          "pytorch_lightning.utilities", "pytorch_lightning.utilities.distributed"]}
pl = mods["pytorch_lightning"]; pl.LightningModule, pl.LightningDataModule = nn.Module, object; pl.seed_everything = lambda *a, **k: None
mods["pytorch_lightning.trainer"].Trainer = object
for n in ("ModelCheckpoint", "Callback", "LearningRateMonitor"): setattr(mods["pytorch_lightning.callbacks"], n, type(n, (), {}))
mods["pytorch_lightning.utilities.distributed"].rank_zero_only = lambda f: f
sys.modules.update(mods)
from taming.models.vqgan import GumbelVQ

# the published gumbel_f8_8192 model.yaml (its loss swapped for Identity, see above)
published = {"model": {"base_learning_rate": 4.5e-06, "target": "taming.models.vqgan.GumbelVQ", "params": {
    "kl_weight": 1.0e-08, "embed_dim": 256, "n_embed": 8192, "monitor": "val/rec_loss",
    "temperature_scheduler_config": {"target": "taming.lr_scheduler.LambdaWarmUpCosineScheduler", "params": {
        "warm_up_steps": 0, "max_decay_steps": 1000001, "lr_start": 0.9, "lr_max": 0.9, "lr_min": 1.0e-06}},
    "ddconfig": {"double_z": False, "z_channels": 256, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
                 "ch_mult": [1, 1, 2, 4], "num_res_blocks": 2, "attn_resolutions": [32], "dropout": 0.0},
    "lossconfig": {"target": "torch.nn.Identity"}}}}
torch.manual_seed(0)
p = published["model"]["params"]
with contextlib.redirect_stdout(io.StringIO()):
    ref = GumbelVQ(p["ddconfig"], p["lossconfig"], p["n_embed"], p["embed_dim"], p["temperature_scheduler_config"], kl_weight=p["kl_weight"]).eval()
d = Path(sys.argv[1])
sd = {k: v for k, v in ref.state_dict().items()}
sd["loss.discriminator.main.0.weight"] = torch.randn(64, 3, 4, 4)   # a training checkpoint carries its loss too
torch.save({"epoch": 3, "global_step": 1000, "state_dict": sd}, d / "last.ckpt")
(d / "model.yaml").write_text(yaml.safe_dump(published))
from metamusic.models import load_vqgan
ours = load_vqgan(d / "model.yaml", d / "last.ckpt")
g = torch.Generator().manual_seed(1)
images = torch.cat([torch.rand(1, 3, 64, 96, generator=g),                                   # noise
                    torch.linspace(0, 1, 96).expand(1, 3, 64, 96).contiguous()])              # a gradient
with torch.no_grad():
    h = ref.quant_conv(ref.encoder(images * 2 - 1))        # taming's own path to the quantiser (VQModel.encode)
    logits = ref.quantize.proj(h)
    picks = logits.argmax(1)                                 # the token its GumbelQuantize takes as most likely
    b, n, hh, ww = logits.shape
    rows = ref.quantize.get_codebook_entry(picks.flatten(), (b, hh, ww, 256))  # taming's own token -> latent
    z = ours.encode(images)
    tokens = ours.tokens(z)
    zq = ours.quantize(z)
    # taming's forward (gumbel noise, hard one-hot): its sampled tokens follow the logits, most of all where they are sure
    _, _, (_, _, sampled) = ref.quantize(h)
print(json.dumps({"tokens_equal": bool(torch.equal(tokens, picks)), "z_equal": bool(torch.equal(z, rows)),
                  "zq_equal": bool(torch.equal(zq, rows)), "n_tokens": int(picks.numel()), "distinct": int(picks.unique().numel()),
                  "shape": list(z.shape), "sampled_shape": list(sampled.shape),
                  "nearest_row_differs": not bool(torch.equal(ours.tokens(h), picks))}))
"""


def test_gumbel_init_tokens_equal_taming(tmp_path):
    try: import taming.modules.vqvae.quantize  # noqa: F401
    except ImportError: pytest.skip("needs taming-transformers-rom1504")
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    r = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, env=env, timeout=400)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["shape"] == [2, 256, 8, 12], res            # factor 8
    assert res["tokens_equal"] and res["z_equal"] and res["zq_equal"], res
    assert res["distinct"] > 1, res                         # not a degenerate picture
    assert res["nearest_row_differs"], res                   # what encode used to do (nearest row to the pre-quantiser latent) is wrong
