"""What each engine option does, on the tiny untrained models: the loss goes down, each init, cutout method, augment,
optimiser, stop value, negative weight and init-image pull does what its name says."""
import numpy as np
import pytest
import torch
from metamusic.models import load_models
from metamusic.engine import Engine, MakeCutouts, AUGMENTS, Target, audio_target, noise_target

@pytest.fixture(scope="module")
def models(): return load_models("cpu", untrained="tiny")

# deterministic steps (no augments, no noise, pooled cutouts): the loss itself is comparable step to step
STILL = dict(size=(32, 32), seed=0, cutn=2, augments=None, noise=0.0)

def engine(models, **kw): return Engine(models, **{**STILL, "targets": noise_target(1), **kw})

def _step_against_gradient(models, target):
    "Cosine between one SGD step of the engine and minus the gradient (w.r.t. z) of the target's distance, computed here."
    eng = engine(models, optimiser="SGD", lr=1e-3, targets=target)
    z = eng.z.detach().clone().requires_grad_()
    # the distance from its parts: quantise (straight through), decode, the deterministic pooled cutouts, CLIP
    cuts = eng.cutouts(models.vqgan.decode(models.vqgan.quantize(z)))
    g, = torch.autograd.grad(target.distance(models.clip.encode_image(cuts)).mean(), z)
    z0 = eng.z.detach().clone()
    eng.step()
    return torch.nn.functional.cosine_similarity((eng.z.detach() - z0).flatten(), -g.flatten(), dim=0).item()

def test_the_engine_descends(models):
    """Each step moves the latent straight down the loss's gradient. (On the untrained models a loss curve can't show it:
    through a random codebook, token flips lower the loss about as often climbing as descending.)"""
    assert _step_against_gradient(models, noise_target(1)) > 0.9     # a climbing engine gives -1

def test_a_negative_weight_pushes_away(models):
    assert _step_against_gradient(models, noise_target(1, weight=-1.0)) < -0.9   # (not 1: the clamp trims a few components)

def test_past_its_stop_a_target_no_longer_pulls(models):
    "Every cutout is nearer than stop=5 (distances are at most 2·(π/2)² ≈ 4.93): no gradient, so z never moves."
    eng = engine(models, lr=0.5, targets=noise_target(1, stop=5.0))
    z0 = eng.z.detach().clone()
    eng.run(3)
    assert torch.equal(eng.z.detach(), z0)
    eng.targets = [noise_target(1, stop=0.0)]   # a stop no cutout reaches: it pulls as usual
    eng.run(1)
    assert not torch.equal(eng.z.detach(), z0)

def test_z_stays_where_codebook_vectors_live(models):
    eng = engine(models, lr=50.0)
    eng.run(3)
    cb = models.vqgan.codebook.detach()
    lo, hi = cb.min(0).values.view(1, -1, 1, 1), cb.max(0).values.view(1, -1, 1, 1)
    assert (eng.z >= lo).all() and (eng.z <= hi).all()
    assert ((eng.z == lo) | (eng.z == hi)).any()       # lr 50 reached the walls: the clamp did something

def test_the_learning_rate_is_used(models):
    small, big = (engine(models, lr=lr).run(2).z for lr in (0.01, 0.5))
    z0 = engine(models).z
    assert (big - z0).abs().mean() > 5 * (small - z0).abs().mean()

def test_several_audio_embeddings_count_equally():
    "An audio target from several segments points at the mean of their directions, whatever their order and loudness."
    e = torch.randn(3, 512, generator=torch.Generator().manual_seed(0))
    want = torch.nn.functional.normalize(torch.nn.functional.normalize(e, dim=-1).mean(0), dim=0)
    scaled = e * torch.tensor([[1.0], [10.0], [0.1]])
    for x in (e, e.flip(0), scaled): assert torch.allclose(audio_target(x).embed, want, atol=1e-6)

# --- inits: what the first latent is made of

def _codebook_distance(models, z):
    "Largest distance of a latent position from its nearest codebook vector (exact, not via a matrix product)."
    v = z.detach()[0].flatten(1).T
    return float(torch.cdist(v, models.vqgan.codebook.detach(), compute_mode="donot_use_mm_for_euclid_dist").min(1).values.max())

def test_tokens_init_is_made_of_codebook_vectors(models):
    z = engine(models, size=(64, 64), init="tokens").z
    assert _codebook_distance(models, z) < 1e-5
    assert len(torch.unique(z.detach()[0].flatten(1).T, dim=0)) > 4   # random tokens, not one repeated

def _encoded_images(models, monkeypatch, **kw):
    "The images the engine encodes while it starts (what its init is made of)."
    seen, encode = [], Engine.encode_image
    monkeypatch.setattr(Engine, "encode_image", lambda self, image: seen.append(image.detach().clone()) or encode(self, image))
    engine(models, size=(64, 48), **kw)
    monkeypatch.setattr(Engine, "encode_image", encode)
    x, = seen
    return x[0]

def test_pixels_init_is_noise(models, monkeypatch):
    x = _encoded_images(models, monkeypatch, init="pixels", seed=1)
    assert x.shape == (3, 48, 64) and 0.25 < x.std() < 0.33 and abs(x.mean() - 0.5) < 0.05   # uniform noise
    assert abs(torch.corrcoef(torch.stack([x[..., 1:].flatten(), x[..., :-1].flatten()]))[0, 1]) < 0.1   # neighbours unrelated
    assert not torch.equal(x, _encoded_images(models, monkeypatch, init="pixels", seed=2))

def test_gradient_init_is_a_two_colour_ramp(models, monkeypatch):
    axes = set()
    for seed in range(6):
        x = _encoded_images(models, monkeypatch, init="gradient", seed=seed)
        dx, dy = x[..., 1:] - x[..., :-1], x[..., 1:, :] - x[..., :-1, :]
        flat, ramp = (dy, dx) if dy.abs().max() < 1e-6 else (dx, dy)
        assert flat.abs().max() < 1e-6, seed                                  # constant across the ramp
        step = ramp.mean(dim=(1, 2), keepdim=True)
        assert torch.allclose(ramp, step.expand_as(ramp), atol=1e-5), seed    # linear along it
        assert (x.flatten(1).max(1).values - x.flatten(1).min(1).values).max() > 0.1, seed   # two colours apart
        axes.add(ramp is dx)
    assert axes == {True, False}                                            # horizontal or vertical, by the seed

def test_image_init_starts_from_that_image_and_pulls_toward_it(models):
    from PIL import Image
    img = Image.fromarray((np.indices((32, 32)).sum(0) % 7 * 36).astype(np.uint8)).convert("RGB")
    eng = engine(models, init=img, init_weight=2.0, init_decay=1.0, lr=1e-6)
    assert torch.allclose(eng.z, eng.encode_image(img))
    terms = [eng.step()["losses"]["init"] for _ in range(4)]
    # lr 1e-6 leaves the picture as it is: the pull fades only by the decay, weight / (1 + decay × step)
    assert terms[0] > 0 and terms[1:] == pytest.approx([terms[0] / 2, terms[0] / 3, terms[0] / 4], rel=0.02), terms
    assert "init" not in engine(models, init=img).step()["losses"]             # init_weight 0: only a start

# --- optimisers

@pytest.mark.parametrize("name", ["AdamW", "RMSprop", "SGD"])
def test_the_optimiser_is_the_one_named(models, name):
    eng = engine(models, optimiser=name, lr=0.05)
    assert type(eng.opt).__name__ == name
    z = eng.run(2).z
    assert not torch.equal(z, engine(models, optimiser="Adam", lr=0.05).run(2).z)

# --- cutouts and augments

def _image(h=96, w=96, seed=0):
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))

def test_pooled_cutouts_are_the_whole_image_and_crops_are_parts(models):
    x = _image()
    pooled = MakeCutouts(16, 6, "pooled", augments=None, noise=0)(x)
    assert all(torch.equal(c, pooled[0]) for c in pooled)
    whole = (torch.nn.functional.adaptive_avg_pool2d(x, 16) + torch.nn.functional.adaptive_max_pool2d(x, 16)) / 2
    assert torch.allclose(pooled[0], whole[0], atol=1e-6)
    torch.manual_seed(0)
    crops = MakeCutouts(16, 6, "crops", augments=None, noise=0)(x)
    assert len({c.sum().item() for c in crops}) == 6                    # six different places

def test_cut_pow_favours_small_crops(models):
    "Small crops of noise are resampled less, so they keep more of its variance than big ones."
    x = _image(128, 128)
    var = {}
    for p in (0.2, 5.0):
        torch.manual_seed(0)
        var[p] = MakeCutouts(16, 32, "crops", cut_pow=p, augments=None, noise=0)(x).var(dim=(1, 2, 3)).mean().item()
    assert var[5.0] > 1.5 * var[0.2], var

def test_noise_is_added_to_cutouts():
    x = _image()
    clean = MakeCutouts(16, 8, "pooled", augments=None, noise=0)(x)
    torch.manual_seed(0)
    noisy = MakeCutouts(16, 8, "pooled", augments=None, noise=0.5)(x)
    d = (noisy - clean).std(dim=(1, 2, 3))
    assert d.max() > 0.05 and len(set(d.tolist())) == 8                   # a different strength per cut

@pytest.mark.parametrize("name", list(AUGMENTS))
def test_each_augment_changes_some_cutouts_and_not_all(name):
    "Each augment acts per cutout with its probability (p = 0.5 or 0.7): some of 32 cuts change, some don't."
    x = _image()
    clean = MakeCutouts(16, 32, "pooled", augments=None, noise=0)(x)
    torch.manual_seed(0)
    aug = MakeCutouts(16, 32, "pooled", augments=(name,), noise=0)(x)
    changed = ((aug - clean).abs().flatten(1).max(1).values > 1e-4).float().mean().item()
    assert changed > 0.2, (name, changed)
    if name != "Re": assert changed < 0.95, (name, changed)   # the resized crop resamples even the cuts it doesn't crop
