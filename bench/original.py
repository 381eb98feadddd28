"""The original MetaMusic's per-step work and video schedule, reimplemented for the benchmark.

Rebuilt from the documented behaviour in REFERENCE.md (no code copied), running on *our* network objects
(`metamusic.models`: `VQGAN.quantize/decode`, `CLIP.encode_image`, `Wav2CLIP.embed`) so that the networks'
arithmetic is identical on both sides and only the loop around them differs:

- fp32 everywhere on the CPU (the original's autocast wrapped only CLIP and was CUDA-only; on a GPU we
  autocast CLIP alone, as it did);
- "latest" cutouts: the whole image average-pooled + max-pooled to CLIP's input size, recomputed once per
  cutout in a Python loop, then kornia augments Af/Pe/Ji/Er (p=0.7 each) and per-cut noise up to 0.1;
- loss: squared spherical distance of every cutout embedding to every prompt embedding, mean, times weight;
- Adam (lr 0.15, the app's default), z clamped to the codebook's per-channel range after every step;
- video: windows every 2nd beat (librosa's `beat_track`, plus start and end), halved until <= 4 s; one step
  per output frame at `fps` steps per second of music; one latent and one optimiser for the whole song; the
  previous window's last frame becomes an extra CLIP image prompt for the first step of each window; every
  step's decoded image is written as a PNG; each window encoded separately (libx264 veryslow, crf 17) at
  frames/length fps clipped to [10, 120], remuxed to MPEG-TS, concatenated, and the audio muxed with a
  final re-encode.

Where the original had bugs that would stop a run (no `-y`, unpadded segment names) we do the working thing;
none of them changes the cost. The PNG of each step is written from that step's own forward decode (no
second decode), the cheaper reading of "every step decoded and written", which favours the original.
"""
from __future__ import annotations
import math, subprocess, time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

__all__ = ["OriginalCutouts", "OriginalRun", "original_windows", "original_video", "spherical_dist_sq"]


def spherical_dist_sq(a, b):
    "Squared spherical distance `2·arcsin(‖a−b‖/2)²` between normalised rows of `a` [n,d] and `b` [m,d] → [n,m]."
    a = F.normalize(a.float(), dim=-1).unsqueeze(1)
    b = F.normalize(b.float(), dim=-1).unsqueeze(0)
    return (a - b).norm(dim=-1).div(2).clamp(max=1).arcsin().pow(2).mul(2)


class OriginalCutouts(nn.Module):
    "The 'latest' cutouts: pooled whole image recomputed once per cut in a Python loop, then kornia augments and noise."
    def __init__(self, cut_size=224, cutn=32, noise=0.1):
        super().__init__()
        import kornia.augmentation as K
        self.cut_size, self.cutn, self.noise = cut_size, cutn, noise
        self.augs = nn.Sequential(
            K.RandomAffine(degrees=15, translate=0.1, shear=5, p=0.7, padding_mode="zeros", keepdim=True),
            K.RandomPerspective(distortion_scale=0.7, p=0.7),
            K.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1, hue=0.1, p=0.7),
            K.RandomErasing(scale=(.1, .4), ratio=(.3, 1 / .3), same_on_batch=True, p=0.7))
        self.avg = nn.AdaptiveAvgPool2d((cut_size, cut_size))
        self.max = nn.AdaptiveMaxPool2d((cut_size, cut_size))

    def forward(self, x):
        cuts = [(self.avg(x) + self.max(x)) / 2 for _ in range(self.cutn)]  # the original's per-cut recompute
        batch = self.augs(torch.cat(cuts, dim=0))
        if self.noise:
            facs = batch.new_empty([self.cutn, 1, 1, 1]).uniform_(0, self.noise)
            batch = batch + facs * torch.randn_like(batch)
        return batch


def _autocast_clip(device):
    "The original's autocast around CLIP: CUDA only (a no-op context on the CPU)."
    import contextlib
    if device.type == "cuda": return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


class OriginalRun:
    "One latent + one Adam optimiser, stepped the original way; `step()` optionally writes the frame as PNG."
    def __init__(self, models, size=(128, 128), cutn=32, lr=0.15, seed=0):
        self.models, self.device = models, torch.device(models.device)
        vq = models.vqgan
        self.w, self.h = size
        f = vq.factor
        # the original set its seed after drawing the initial latent (a bug); we seed first so runs repeat
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        toks = torch.randint(vq.n_embed, (1, self.h // f, self.w // f), generator=g).to(self.device)
        z = vq.tokens_to_z(toks).detach().float()
        self.z = z.clone().requires_grad_(True)
        self.opt = torch.optim.Adam([self.z], lr=lr)
        self.cuts = OriginalCutouts(models.clip.input_size, cutn).to(self.device)
        self.z_min, self.z_max = vq.z_min.to(self.device), vq.z_max.to(self.device)
        self.prompts = []     # list of (embeds [m,512], weight)
        self.frame_prompts = []  # extra prompts used for the next step only

    def synth(self):
        vq = self.models.vqgan
        return vq.decode(vq.quantize(self.z))

    def losses(self, out):
        with _autocast_clip(self.device):
            emb = self.models.clip.encode_image(self.cuts(out)).float()
        total = 0.
        for e, w in self.prompts + self.frame_prompts:
            total = total + abs(w) * (spherical_dist_sq(emb, e.to(emb.device)) * math.copysign(1, w)).mean()
        return total

    def step(self, png_path=None):
        "One optimisation step of the original loop; returns the loss. Writes this step's frame when `png_path`."
        self.opt.zero_grad(set_to_none=True)
        out = self.synth()
        loss = self.losses(out)
        if png_path is not None:
            arr = out[0].detach().mul(255).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
            Image.fromarray(arr).save(png_path)
        loss.backward()
        self.opt.step()
        with torch.no_grad(): self.z.copy_(self.z.maximum(self.z_min).minimum(self.z_max))
        self.frame_prompts = []
        return float(loss.detach())

    @torch.no_grad()
    def image_prompt(self, path):
        "Embed an image file the original way (its cutouts, CLIP), for use as a one-step prompt."
        img = Image.open(path).convert("RGB").resize((self.w, self.h), Image.LANCZOS)
        x = torch.from_numpy(np.array(img)).permute(2, 0, 1).float().div(255)[None].to(self.device)
        with _autocast_clip(self.device):
            return self.models.clip.encode_image(self.cuts(x)).float()


def original_windows(samples, sr, every=2, max_len=4.0):
    "Window boundaries as the original made them: librosa beats, every 2nd beat plus start and end, halved until <= max_len."
    import librosa
    duration = len(samples) / sr
    _, beats = librosa.beat.beat_track(y=samples, sr=sr, units="time")
    bounds = [0.0] + [float(t) for t in beats[::every] if 0 < t < duration] + [duration]
    bounds = sorted(set(bounds))
    wins = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        todo = [(a, b)]
        while todo:
            s, e = todo.pop(0)
            if e - s > max_len: m = (s + e) / 2; todo = [(s, m), (m, e)] + todo
            else: wins.append((s, e))
    return [(s, e) for s, e in wins if e - s > 1e-3]


def _ffmpeg(*args):
    import imageio_ffmpeg
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def original_video(song, models, work_dir, fps=25, size=(128, 128), cutn=32, lr=0.15, seed=0,
                   callback=None):
    """Render `song` with the original schedule into `work_dir`; returns a dict of timings, windows and paths.

    `song` is a `metamusic.audio.Song` (16 kHz mono samples). The audio muxed at the end is its samples written
    to a WAV file (the original muxed the source file; decoding is not what we measure)."""
    import soundfile as sf
    work = Path(work_dir); work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    wav = work / "audio.wav"; sf.write(wav, song.samples, song.sr)
    windows = original_windows(song.samples, song.sr)
    # targets: each window's Wav2CLIP embedding (the original embedded each window's audio)
    targets = song.embed(models, segments=windows)
    run = OriginalRun(models, size=size, cutn=cutn, lr=lr, seed=seed)
    t_setup = time.perf_counter() - t0
    t_steps = t_enc = 0.
    seg_files, steps_per_window, last_pngs, step_times = [], [], [], []
    prev_png = None
    for k, (a, b) in enumerate(windows):
        n = max(1, round((b - a) * fps))
        wdir = work / f"w{k:04d}"; wdir.mkdir(exist_ok=True)
        run.prompts = [(targets[k:k + 1].to(run.device), 1.0)]
        ts = time.perf_counter()
        if prev_png is not None: run.frame_prompts = [(run.image_prompt(prev_png), 1.0)]
        for i in range(n):
            s0 = time.perf_counter()
            run.step(wdir / f"{i:05d}.png")
            step_times.append(time.perf_counter() - s0)
            if callback is not None: callback(k, i, n)
        t_steps += time.perf_counter() - ts
        prev_png = wdir / f"{n - 1:05d}.png"
        last_pngs.append(prev_png); steps_per_window.append(n)
        te = time.perf_counter()
        wfps = min(120, max(10, n / (b - a)))
        mp4 = work / f"w{k:04d}.mp4"; ts_file = work / f"w{k:04d}.ts"
        _ffmpeg("-framerate", f"{wfps:.6f}", "-i", str(wdir / "%05d.png"), "-c:v", "libx264", "-preset", "veryslow",
                "-crf", "17", "-pix_fmt", "yuv420p", str(mp4))
        _ffmpeg("-i", str(mp4), "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "mpegts", str(ts_file))
        seg_files.append(ts_file)
        t_enc += time.perf_counter() - te
    te = time.perf_counter()
    joined = work / "joined.mp4"; out = work / "original.mp4"
    _ffmpeg("-i", "concat:" + "|".join(str(p) for p in seg_files), "-c", "copy", str(joined))
    _ffmpeg("-i", str(joined), "-i", str(wav), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(out))
    t_enc += time.perf_counter() - te
    return dict(path=out, windows=windows, steps_per_window=steps_per_window, last_pngs=last_pngs,
                targets=targets, wall_s=time.perf_counter() - t0, setup_s=t_setup, steps_s=t_steps,
                encode_s=t_enc, n_steps=sum(steps_per_window), step_times=step_times)
