"""Our Wav2CLIP against the official package's module code (wav2clip==0.1.0), on a fabricated checkpoint.

The official code needs torchaudio only for `torchaudio.transforms.Spectrogram`; we inject a stand-in computed
with librosa's STFT (an implementation independent of `torch.stft`), so torchaudio is never installed.
"""
import importlib, sys, types
import numpy as np
import pytest
import torch
from torch import nn

librosa = pytest.importorskip("librosa")
N_FFT, HOP = 512, 353


def independent_power_spectrogram(x: np.ndarray) -> np.ndarray:
    "torchaudio Spectrogram(n_fft=512, hop_length=353) semantics, via librosa/numpy in float64: [B, 257, frames]."
    return np.stack([np.abs(librosa.stft(c.astype(np.float64), n_fft=N_FFT, hop_length=HOP, win_length=N_FFT,
                                         window="hann", center=True, pad_mode="reflect")) ** 2 for c in x])


class FakeSpectrogram(nn.Module):
    "Stand-in for torchaudio.transforms.Spectrogram: same `window` buffer (checkpoint key), librosa inside."
    def __init__(self, n_fft=400, hop_length=None, **kw):
        super().__init__()
        assert (n_fft, hop_length) == (N_FFT, HOP), "the official code asks for n_fft=512, hop_length=353"
        self.register_buffer("window", torch.hann_window(n_fft))

    def forward(self, x):  # [B, 1, n] -> [B, 1, 257, frames]
        spec = independent_power_spectrogram(x[:, 0].detach().cpu().numpy())
        return torch.from_numpy(spec).to(x.dtype)[:, None]


@pytest.fixture(scope="module")
def official():
    "The official `wav2clip.model.encoder` module, imported with the fake torchaudio, then unloaded again."
    fake = types.ModuleType("torchaudio"); fake.transforms = types.ModuleType("torchaudio.transforms")
    fake.transforms.Spectrogram = FakeSpectrogram
    saved = {k: sys.modules.get(k) for k in ("torchaudio", "torchaudio.transforms")}
    sys.modules.update({"torchaudio": fake, "torchaudio.transforms": fake.transforms})
    try:
        try: encoder = importlib.import_module("wav2clip.model.encoder")
        except ImportError as e:
            pytest.skip(f"the official wav2clip package is not installed ({e}); "
                        "install it with: pip install --no-deps wav2clip==0.1.0")
        yield encoder
    finally:
        for k, v in saved.items():
            if v is None: sys.modules.pop(k, None)
            else: sys.modules[k] = v
        for k in [k for k in sys.modules if k == "wav2clip" or k.startswith("wav2clip.")]: sys.modules.pop(k)


@pytest.fixture(scope="module")
def checkpoint(official, tmp_path_factory):
    "A Wav2CLIP.pt with the official key layout and random weights (BatchNorm statistics randomised too)."
    torch.manual_seed(0)
    ref = official.ResNetExtractor(scenario="supervise")
    mlp = official.MLPLayers(units=[512, 512, 512], dropout=0.1)
    for m in [*ref.encoder.modules(), *mlp.modules()]:
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1); m.running_var.uniform_(0.5, 1.5)
            m.weight.data.normal_(1, 0.1); m.bias.data.normal_(0, 0.1)
        if isinstance(m, nn.Linear): m.bias.data.normal_(0, 0.1)
    state = {**{f"audio_encoder.{k}": v for k, v in ref.encoder.state_dict().items()},
             **{f"audio_transform.{k}": v for k, v in mlp.state_dict().items()},
             "image_encoder.unused": torch.zeros(3)}  # others may hold more; both loaders ignore them
    assert "audio_encoder.spectrogram.window" in state and "audio_transform.sequential.3.weight" in state
    path = tmp_path_factory.mktemp("w2c") / "Wav2CLIP.pt"
    torch.save(state, path)
    return path


def test_embedding_equals_official(official, checkpoint):
    from metamusic.models import load_wav2clip
    theirs = official.ResNetExtractor(checkpoint=torch.load(checkpoint, weights_only=True), scenario="frozen", transform=True)
    ours = load_wav2clip(checkpoint)
    x = np.random.default_rng(1).standard_normal(2 * 16000).astype(np.float32) * 0.1
    with torch.no_grad(): expected = theirs(torch.from_numpy(x)[None])  # a batch of one: theirs standardises over the batch
    got = ours.embed(x)
    assert got.shape == expected.shape == (1, 512)
    scale = expected.abs().max().item()
    assert scale > 1e-3  # a non-trivial embedding
    print(f"max |ours - official| = {(got - expected).abs().max().item():.2e} (embedding scale {scale:.2f})")
    torch.testing.assert_close(got, expected, atol=1e-5 * max(1.0, scale), rtol=1e-5)
    # and theirs really is batch-dependent while ours is not
    y = np.random.default_rng(2).standard_normal(2 * 16000).astype(np.float32)
    with torch.no_grad(): theirs_batch = theirs(torch.from_numpy(np.stack([x, y])))
    assert not torch.allclose(theirs_batch[0], expected[0], atol=1e-3)
    torch.testing.assert_close(ours.embed(np.stack([x, y]))[0], got[0], atol=1e-5 * max(1.0, scale), rtol=1e-5)


@pytest.mark.filterwarnings("ignore:n_fft=512 is too large")
def test_spectrogram_matches_independent_stft():
    from metamusic.models import Spectrogram
    import scipy.signal
    spec = Spectrogram()
    np.testing.assert_allclose(spec.window.numpy(), scipy.signal.get_window("hann", N_FFT, fftbins=True), atol=1e-6)
    for n in (257, 4000, 16000 + 123):
        x = np.random.default_rng(n).standard_normal((2, n)).astype(np.float32)
        ours = spec(torch.from_numpy(x)).numpy()
        ref = independent_power_spectrogram(x)
        assert ours.shape == ref.shape == (2, N_FFT // 2 + 1, 1 + n // HOP)
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * ref.max())
