"Shared helpers for the benchmarks: machine description, timing, FLOP counting, quality proxy (the package's), smoothness."
from __future__ import annotations
import json, os, platform, subprocess, sys, time
from pathlib import Path

import numpy as np
import torch

# Dense peak throughput (FLOP/s) of GPUs we may meet, for "fraction of peak": (fp32 non-tensor, bf16/fp16 tensor).
GPU_PEAKS = {"H100": (67e12, 989e12), "H200": (67e12, 989e12), "A100": (19.5e12, 312e12),
             "T4": (8.1e12, 65e12), "L4": (30e12, 121e12), "A10": (31e12, 125e12), "V100": (15.7e12, 125e12)}


def machine_info(device="cpu"):
    "What the numbers came from: CPU model and cores, GPU, torch and library versions, thread count."
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"): cpu = line.split(":", 1)[1].strip(); break
    except OSError: pass
    info = dict(cpu=cpu, cores=os.cpu_count(), torch_threads=torch.get_num_threads(), platform=platform.platform(),
                python=platform.python_version(), torch=torch.__version__, hostname=platform.node(),
                memory_gb=round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
                load_avg=list(os.getloadavg()),
                env={k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ})
    try:
        import metamusic; info["metamusic"] = metamusic.__version__
    except Exception: pass
    try: info["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                      cwd=Path(__file__).parent).stdout.strip()
    except Exception: pass
    info["gpu"] = None
    if str(device).startswith("cuda") and torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info["gpu"] = dict(name=p.name, memory_gb=round(p.total_memory / 2**30, 1), cuda=torch.version.cuda,
                           bf16=torch.cuda.is_bf16_supported())
    return info


def cpu_peak():
    "A rough fp32 peak of this CPU in FLOP/s: cores × clock (BogoMIPS / 2) × 32 (two 8-wide FMA pipes) — an estimate."
    try:
        txt = Path("/proc/cpuinfo").read_text()
        mhz = float([l for l in txt.splitlines() if l.lower().startswith("bogomips")][0].split(":")[1]) / 2
        flags = [l for l in txt.splitlines() if l.startswith("flags")][0]
        per_cycle = 32 if (" avx2" in flags and " fma" in flags) else 8
        return os.cpu_count() * mhz * 1e6 * per_cycle
    except Exception: return None


def gpu_peak(name, low_precision):
    "Peak FLOP/s for a GPU name (None when unknown): tensor-core bf16/fp16 if `low_precision`, else fp32."
    for k, (fp32, half) in GPU_PEAKS.items():
        if k in name: return half if low_precision else fp32
    return None


def sync(device):
    if torch.device(device).type == "cuda": torch.cuda.synchronize()


def time_steps(step, n, warmup=1, device="cpu"):
    "Call `step()` `warmup` times untimed, then `n` times timed; returns the list of seconds per call."
    for _ in range(warmup): step()
    sync(device)
    out = []
    for _ in range(n):
        t = time.perf_counter(); step(); sync(device); out.append(time.perf_counter() - t)
    return out


def count_flops(step):
    "FLOPs of one call of `step()` (forward + backward, as `torch.utils.flop_counter` counts them), and by top module."
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fc: step()
    by = {k: int(sum(v.values())) for k, v in fc.get_flop_counts().items() if "." not in k and k != "Global"}
    return int(fc.get_total_flops()), by


def quality_proxy(models, last_images, targets):
    """Mean squared spherical distance between each window's last image (CLIP) and that window's target (Wav2CLIP):
    the package's `metamusic.miniature.quality_proxy`, so the benchmarks, the sweep and the tests measure the same thing.

    With untrained weights this measures the optimisation arithmetic (how close the loop gets to its targets in
    the joint space), not how good the pictures look."""
    from metamusic.miniature import quality_proxy as proxy
    return proxy(models, last_images, targets)


def read_frames(path):
    "Every encoded frame of a video file, in order, as uint8 HxWx3 arrays (no frame duplication or dropping)."
    import imageio_ffmpeg
    gen = imageio_ffmpeg.read_frames(str(path), output_params=["-fps_mode", "passthrough"])
    meta = next(gen)
    w, h = meta["size"]
    return [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in gen], meta


def smoothness(frames):
    "Ratio of the largest to the median mean-absolute difference between consecutive frames (1 = even change)."
    if len(frames) < 3: return dict(ratio=None, max=None, median=None)
    d = np.array([np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() for a, b in zip(frames[:-1], frames[1:])])
    med = float(np.median(d))
    return dict(ratio=float(d.max() / med) if med > 0 else None, max=float(d.max()), median=med,
                mean=float(d.mean()), unchanged=float((d < 0.5).mean()))  # unchanged: share of steps with no visible change


def probe(path):
    "Duration, frame count and streams of a media file, from ffmpeg's own report."
    import imageio_ffmpeg, re
    r = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    m = re.search(r"Duration: (\d+):(\d+):([\d.]+)", r.stderr)
    dur = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3]) if m else None
    return dict(duration=dur, video="Video:" in r.stderr, audio="Audio:" in r.stderr)


def dump(obj, path):
    "Write `obj` as JSON (paths and numpy values turned into plain values)."
    def conv(o):
        if isinstance(o, Path): return str(o)
        if isinstance(o, (np.floating, np.integer)): return o.item()
        if isinstance(o, torch.Tensor): return o.tolist()
        raise TypeError(type(o))
    Path(path).write_text(json.dumps(obj, indent=1, default=conv))
