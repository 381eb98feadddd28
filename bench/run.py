"""metamusic benchmarks: the original project's way vs ours, measured in one run on one machine.

    python bench/run.py                 # the CPU suite (full-size untrained models), about 15 minutes on 2 cores
    python bench/run.py --device cuda   # the GPU suite: 512x512 steps, a 20 s excerpt at 512x512 and 30 fps, memory
    python bench/run.py --quick         # plumbing check with the tiny models (seconds; results not kept)

Sections: `step` (seconds, FLOPs per optimisation step), `song` (render the same excerpt both ways with the
full-size models, `video`'s shipped defaults), `quality` (the same comparison in the miniature world, where the
quality proxy means something: a whole song, steps per second of music), `memory` (peak memory of a picture, one
subprocess per size), `preview` (live preview overhead). Results: bench/results/<machine>-<date>.{json,md,png}. See bench/README.md.
"""
from __future__ import annotations
import argparse, json, os, resource, shutil, subprocess, sys, tempfile, time, datetime, statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np
import torch

from common import (machine_info, time_steps, count_flops, quality_proxy, read_frames, smoothness, probe, dump,
                    gpu_peak, sync)
from original import OriginalRun, original_video, original_windows


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- setup
def get_models(args):
    from metamusic.models import load_models
    t = time.perf_counter()
    m = load_models(device=args.device, untrained="tiny" if args.quick else "full")
    log(f"models ({m.untrained}) loaded in {time.perf_counter() - t:.1f}s on {m.device}")
    return m


def get_song(args):
    from metamusic.audio import demo_song
    song = demo_song()
    return song.excerpt(args.song_start, min(args.song_seconds, song.duration - args.song_start))


def whole_target(models, song):
    return song.embed(models, segments="whole").float()


def make_engine(models, size, embed, seed=0, **opts):
    "Our engine at `size` aimed at a whole-song embedding, as `picture` aims it."
    from metamusic.engine import Engine, audio_target
    return Engine(models, size=size, seed=seed, targets=[audio_target(embed)], **opts)


# ---------------------------------------------------------------- 1. step cost
def bench_step(models, song, args):
    from metamusic.engine import ENGINE_DEFAULTS
    size, cutn, dev = (args.step_size, args.step_size), args.cutn, args.device
    emb = whole_target(models, song)
    res = dict(size=list(size), cutn=cutn, steps_timed=args.step_n, warmup=1)
    tmp = Path(tempfile.mkdtemp(prefix="mm-bench-step-"))

    orig = OriginalRun(models, size=size, cutn=cutn, lr=0.15, seed=0)
    orig.prompts = [(emb.to(orig.device), 1.0)]
    k = [0]
    def ostep():
        orig.step(tmp / f"{k[0] % 4}.png"); k[0] += 1
    runners = {"original": ostep, "ours": make_engine(models, size, emb, seed=0, cutn=cutn).step}
    if ENGINE_DEFAULTS.get("cutn") != cutn: runners["ours_defaults"] = make_engine(models, size, emb, seed=0).step
    # interleaved (one step of each in turn), so a change in machine load hits every loop alike
    for f in runners.values(): time_steps(f, 0, warmup=1, device=dev)
    times = {key: [] for key in runners}
    for i in range(args.step_n):
        for key, f in runners.items(): times[key] += time_steps(f, 1, warmup=0, device=dev)
        log(f"step {i + 1}/{args.step_n}: " + ", ".join(f"{key} {t[-1]:.2f}s" for key, t in times.items()))
    params = dict(original=dict(lr=0.15, cut_method="latest (per-cut loop)", augments="Af,Pe,Ji,Er",
                                precision="fp32 (CLIP autocast fp16 on CUDA only)", png_per_step=True),
                  ours={**ENGINE_DEFAULTS, "cutn": cutn}, ours_defaults=dict(ENGINE_DEFAULTS))
    for key, f in runners.items():
        fl, by = count_flops(f)
        med = statistics.median(times[key])
        res[key] = dict(s_per_step=med, times=times[key], flops=fl, flops_by_module=by, flops_per_s=fl / med,
                        params=params[key])
    res["load_avg_end"] = list(os.getloadavg())
    shutil.rmtree(tmp, ignore_errors=True)
    res["ratio"] = res["original"]["s_per_step"] / res["ours"]["s_per_step"]
    if not dev.startswith("cuda"):
        from common import cpu_peak
        peak = cpu_peak()
        for key in ("original", "ours", "ours_defaults"):
            if key in res and peak: res[key]["fraction_of_peak"] = res[key]["flops_per_s"] / peak
        res["peak_used"] = f"rough fp32 estimate of this CPU: {peak / 1e9:.0f} GFLOP/s (cores x BogoMIPS/2 x 32)" if peak else None
    if dev.startswith("cuda"):
        name = torch.cuda.get_device_name(0)
        for key in ("original", "ours", "ours_defaults"):
            if key in res:
                peak = gpu_peak(name, low_precision=True)
                res[key]["fraction_of_peak"] = res[key]["flops_per_s"] / peak if peak else None
        res["peak_used"] = "bf16/fp16 dense tensor-core peak of " + name
    return res


# ---------------------------------------------------------------- 2. song render (and 3. the same in the quality world)
def _sweep_label(spec):
    "A sweep entry: (iterations_per_keyframe, cutn) for a fixed budget, or a `QUALITY` preset name."
    return f"ipk{spec[0]}-cut{spec[1]}" if isinstance(spec, tuple) else str(spec)


def compare_renders(models, fresh_song, args, size, fps, cutn, sweep, tag="song"):
    """Render one song the original way and ours (`video`'s shipped defaults, then each `sweep` entry), all measured.

    `fresh_song()` returns a new `Song` for each render, so that neither inherits the other's cached analysis;
    librosa's JIT is warmed up once, untimed, before either runs. Both sides use the original's windows as segments
    (identical targets). Steps are counted as run (ours: `keyframes.json` in the run folder, early stops included)."""
    from metamusic.musicvideo import video, RunFolder
    from metamusic.engine import ENGINE_DEFAULTS
    from PIL import Image
    import inspect
    song = fresh_song()
    tmp = Path(tempfile.mkdtemp(prefix=f"mm-bench-{tag}-"))
    res = dict(excerpt=dict(start=getattr(song, "start", 0.0) or 0.0, seconds=song.duration, song=song.name), size=list(size), fps=fps,
               models=models.untrained or "trained")
    original_windows(fresh_song().samples, song.sr)  # warm-up (numba JIT), untimed

    log(f"{tag}: original schedule on {song.duration:.2f}s ...")
    load0 = os.getloadavg()[0]
    o = original_video(fresh_song(), models, tmp / "orig", fps=fps, size=size, cutn=cutn, lr=0.15, seed=0)
    windows, targets = o["windows"], o["targets"]
    frames, _ = read_frames(o["path"])
    cum = np.cumsum(o["steps_per_window"])
    # each window's last image, as the original wrote it (its PNG; the final mp4 may drop or repeat frames)
    last, src = [np.asarray(Image.open(p).convert("RGB")) for p in o["last_pngs"]], "last PNG of each window"
    proxy, per = quality_proxy(models, last, targets)
    # context: the proxy of each render's untouched starting image (the same image held against every window)
    first = np.asarray(Image.open(o["last_pngs"][0].parent / "00000.png").convert("RGB"))
    start_o = quality_proxy(models, [first] * len(windows), targets)[0]
    from metamusic.engine import Engine, audio_target
    e0 = Engine(models, size=size, seed=0, targets=[audio_target(targets[0])])
    start_u = quality_proxy(models, [np.asarray(e0.image().convert("RGB"))] * len(windows), targets)[0]
    del e0
    res["ours_start_proxy"] = start_u
    res["windows"] = [list(w) for w in windows]
    res["original"] = dict(wall_s=o["wall_s"], steps_s=o["steps_s"], encode_s=o["encode_s"], setup_s=o["setup_s"],
                           n_steps=o["n_steps"], s_per_step=o["steps_s"] / o["n_steps"], frames=len(frames),
                           frames_computed=int(cum[-1]), proxy=proxy, proxy_per_window=per, proxy_source=src,
                           start_proxy=start_o, steps_per_music_s=o["n_steps"] / song.duration,
                           smoothness=smoothness(frames), s_per_music_s=o["wall_s"] / song.duration,
                           video=probe(o["path"]), load_avg=[load0, os.getloadavg()[0]],
                           params=dict(fps=fps, cutn=cutn, lr=0.15, size=list(size), steps_per_music_s=fps,
                                       encode="per window libx264 veryslow crf 17, ts concat, final re-encode + AAC"))
    log(f"{tag}: original {o['wall_s']:.1f}s, {o['n_steps']} steps, proxy {proxy:.4f}")

    vdefaults = {k: p.default for k, p in inspect.signature(video).parameters.items()
                 if p.default is not inspect.Parameter.empty}

    def ours(spec, label):
        out = tmp / f"ours-{label}.mp4"
        # the original's windows as keyframe segments: identical targets on both sides (on a clip this short the
        # two beat trackers disagree at the edges, and ours would merge windows into fewer keyframes)
        opts = dict(out=out, fps=fps, size=size, seed=0, run_dir=tmp / f"run-{label}", resume=False,
                    segments=[tuple(w) for w in windows], preview=False)
        phases, last = {}, [None]
        def timer(ev):  # wall time between events, booked to the phase of the event that ends the interval
            now = time.perf_counter()
            ph = getattr(ev, "phase", None) or "optimising"
            phases[ph] = phases.get(ph, 0.0) + now - (last[0] or t)
            last[0] = now
        opts["callback"] = timer
        if isinstance(spec, tuple): opts.update(iterations_per_keyframe=spec[0], cutn=spec[1])
        elif spec is not None: opts["quality"] = spec
        if args.quick and not isinstance(spec, tuple): opts["cutn"] = cutn   # plumbing only: keep the tiny run cheap
        s = fresh_song()
        log(f"{tag}: ours {label} ...")
        load0 = os.getloadavg()[0]
        t = time.perf_counter()
        video(s, models, **opts)
        sync(args.device)
        wall = time.perf_counter() - t
        fr, _ = read_frames(out)
        recs = RunFolder(opts["run_dir"]).summary()
        params = json.loads((opts["run_dir"] / "params.json").read_text())
        # keyframe k (shown at the start of window k, then morphing toward k+1) is the image optimised for window k
        lf = [np.asarray(Image.open(opts["run_dir"] / f"keyframe_{k:04d}.png").convert("RGB")) for k in range(len(windows))]
        p, pw = quality_proxy(models, lf, targets)
        n_steps = sum(r["steps"] for r in recs)
        r = dict(label=label, wall_s=wall, quality=None if isinstance(spec, tuple) else (spec or vdefaults.get("quality")),
                 iterations_per_keyframe=spec[0] if isinstance(spec, tuple) else None,
                 cutn=params["engine"]["cutn"], budget=params.get("budget"),
                 n_keyframes=len(recs), n_steps=n_steps, steps_planned=sum(r["budget"] for r in recs),
                 steps_per_music_s=n_steps / song.duration, keyframes=recs,
                 frames=len(fr), proxy=p, proxy_source="keyframe k's PNG in the run folder for window k",
                 phase_s=phases, after_last_event_s=wall - ((last[0] or t) - t),  # finishing the encode, muxing, storyboard
                 proxy_per_window=pw, smoothness=smoothness(fr), s_per_music_s=wall / song.duration,
                 video=probe(out), ratio_vs_original=o["wall_s"] / wall,
                 steps_ratio_vs_original=n_steps / o["n_steps"], load_avg=[load0, os.getloadavg()[0]])
        log(f"{tag}: ours {label}: {wall:.1f}s (x{r['ratio_vs_original']:.2f}), {n_steps} steps "
            f"({r['steps_per_music_s']:.1f}/s of music), proxy {p:.4f}")
        return r

    vd = dict(video={k: v for k, v in vdefaults.items() if isinstance(v, (int, float, str, type(None)))},
              engine=ENGINE_DEFAULTS)
    res["ours_defaults"] = dict(ours(None, "defaults"), params=vd)
    res["sweep"] = [ours(spec, _sweep_label(spec)) for spec in sweep]
    # the best trade-off: fewest steps at equal-or-better quality proxy than the original
    cands = res["sweep"] + [res["ours_defaults"]]
    ok = [r for r in cands if r["proxy"] <= proxy]
    res["best"] = min(ok, key=lambda r: (r["n_steps"], r["wall_s"])) if ok else None
    if not args.keep: shutil.rmtree(tmp, ignore_errors=True)
    else: res["work_dir"] = str(tmp)
    return res


def bench_song(models, song, args, step_res=None):
    "The same excerpt rendered the original way and ours, with the full-size models: where the time goes."
    size = (args.song_size, args.song_size)
    return compare_renders(models, lambda: get_song(args), args, size, args.fps, args.cutn, args.sweep, tag="song")


def quality_models(args):
    "The models the quality proxy is measured with: the miniature world when this version has it, else the tiny twins."
    from metamusic.models import load_models
    for kind in ([] if args.quick else [args.quality_models]) + ["tiny"]:
        try: return load_models(device=args.device, untrained=kind)
        except Exception as e: log(f"quality: models untrained={kind!r} unavailable ({type(e).__name__}: {e})")
    raise RuntimeError("no models for the quality section")


def bench_quality(args):
    """Original schedule vs `video`'s shipped defaults (and the other presets) in the miniature world, where the
    quality proxy means something: a whole song (or, --quick, a short excerpt), both measured the same way."""
    from metamusic.audio import demo_song
    models = quality_models(args)
    def fresh():
        if args.q_song == "mini" and models.untrained == "miniature":  # a song of the world: its targets are known pictures
            from metamusic.miniature import miniature_song
            return miniature_song()
        s = demo_song()
        return s.excerpt(args.q_start, min(args.q_seconds, s.duration - args.q_start)) if args.q_seconds else s
    size = (args.q_size, args.q_size)
    return compare_renders(models, fresh, args, size, args.fps, args.cutn, args.q_sweep, tag="quality")


# ---------------------------------------------------------------- 3. memory (one subprocess per size)
def vm_hwm():
    "Peak resident memory of this process in bytes: VmHWM, which exec resets (ru_maxrss keeps the parent's peak at fork)."
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"): return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # not Linux: best effort


def child_memory(args):
    "Runs in a subprocess: load models, run a short picture, print peak memory as JSON."
    from metamusic.impression import picture
    models = get_models(args)
    song = get_song(args)
    rss_models = vm_hwm()
    if args.device.startswith("cuda"): torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    if args.mem_size > 0:
        picture(song, models, size=(args.mem_size, args.mem_size), iterations=args.mem_iters, seed=0,
                preview=False, cutn=args.cutn)
    sync(args.device)
    r = dict(size=args.mem_size, wall_s=time.perf_counter() - t, rss_after_models=rss_models,
             rss_peak=vm_hwm())
    if args.device.startswith("cuda"):
        r["cuda_max_allocated"] = torch.cuda.max_memory_allocated()
        r["cuda_max_reserved"] = torch.cuda.max_memory_reserved()
    print("MEMJSON " + json.dumps(r), flush=True)


def bench_memory(args):
    out = []
    for s in [0] + args.mem_sizes:
        cmd = [sys.executable, str(HERE / "run.py"), "--child-memory", "--mem-size", str(s), "--device", args.device,
               "--cutn", str(args.cutn), "--mem-iters", str(args.mem_iters)] + (["--quick"] if args.quick else [])
        log(f"memory: picture {s}x{s} ({args.mem_iters} iterations, cutn {args.cutn}) in a subprocess ..."
            if s else "memory: models only, in a subprocess ...")
        p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)  # one process per size: peaks never mix
        stdout = p.stdout
        line = [l for l in stdout.splitlines() if l.startswith("MEMJSON ")]
        if p.returncode != 0 or not line:
            out.append(dict(size=s, error=f"exit {p.returncode}")); log(f"memory: size {s} failed"); continue
        r = json.loads(line[-1][8:])
        log(f"memory: {s}: peak RSS {r['rss_peak'] / 2**30:.2f} GiB"
            + (f", CUDA max allocated {r['cuda_max_allocated'] / 2**30:.2f} GiB" if "cuda_max_allocated" in r else ""))
        out.append(r)
    return dict(cutn=args.cutn, iterations=args.mem_iters, runs=out)


# ---------------------------------------------------------------- 4. preview overhead
def bench_preview(models, song, args):
    """A picture with and without the notebook's live preview, headless.

    `picture(..., preview=True)` hands its job to the previewer that `metamusic.widgets` registers, exactly as in
    a notebook: the job runs in a worker thread, the preview's callback decodes frames (throttled) and records
    losses, and this thread refreshes the widget (PNG frame, loss plot) every 0.1 s. Only the browser is missing."""
    from metamusic.impression import picture
    from metamusic import core, widgets  # importing widgets registers the previewer
    if core._previewer[0] is None: return dict(error="metamusic.widgets registered no previewer")
    size, it = (args.preview_size, args.preview_size), args.preview_iters
    runs = {"without": [], "with": []}
    import contextlib, io
    picture(song, models, size=size, iterations=1, seed=0, preview=False)  # warm-up (caches, allocator), untimed
    for rep in range(args.preview_reps):  # interleaved, so drift in machine load hits both alike
        for key in ("without", "with"):
            t = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # display() outside a kernel prints the widget's repr
                picture(song, models, size=size, iterations=it, seed=0, preview=(key == "with"))
            sync(args.device); runs[key].append(time.perf_counter() - t)
            log(f"preview: {key} {runs[key][-1]:.2f}s")
    a, b = statistics.median(runs["without"]), statistics.median(runs["with"])
    return dict(size=list(size), iterations=it, reps=args.preview_reps, without_s=runs["without"],
                with_s=runs["with"], overhead=(b - a) / a, how="picture(preview=True) through the registered "
                "widgets previewer (worker thread + refresh loop), no browser")


# ---------------------------------------------------------------- main
def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--quick", action="store_true", help="tiny models and sizes: checks the plumbing in seconds")
    ap.add_argument("--sections", default="step,song,quality,memory,preview")
    ap.add_argument("--out-dir", default=None, help="default: bench/results (a temporary folder with --quick)")
    ap.add_argument("--cutn", type=int, default=None, help="cutouts for the equal-settings comparisons (32)")
    ap.add_argument("--step-size", type=int, default=None)
    ap.add_argument("--step-n", type=int, default=None, help="timed steps per configuration")
    ap.add_argument("--song-seconds", type=float, default=None)
    ap.add_argument("--song-start", type=float, default=None)
    ap.add_argument("--song-size", type=int, default=None)
    ap.add_argument("--fps", type=int, default=None, help="frames per second of both renders (the original: one step per frame)")
    ap.add_argument("--sweep", default=None, help="song: more renders of ours beside the defaults: quality presets "
                                                  "(draft, high) or iterations_per_keyframe:cutn pairs, comma separated")
    ap.add_argument("--quality-models", default="miniature", help="untrained= kind for the quality section (miniature: the "
                                                               "miniature world; falls back to tiny when unavailable)")
    ap.add_argument("--q-size", type=int, default=None, help="quality: image size in the miniature world")
    ap.add_argument("--q-song", default=None, help="quality: mini (a 12 s miniature song: a large red disc on blue, then "
                                                   "small yellow stripes on black) or demo (the demo song)")
    ap.add_argument("--q-seconds", type=float, default=None, help="quality, demo song: seconds of it (0: all of it)")
    ap.add_argument("--q-start", type=float, default=None)
    ap.add_argument("--q-sweep", default=None, help="quality: renders beside the defaults, as --sweep")
    ap.add_argument("--mem-sizes", default=None)
    ap.add_argument("--mem-iters", type=int, default=None)
    ap.add_argument("--preview-size", type=int, default=None)
    ap.add_argument("--preview-iters", type=int, default=None)
    ap.add_argument("--preview-reps", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the song renders (videos, frames, run folders) and print where")
    ap.add_argument("--child-memory", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mem-size", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    gpu = a.device.startswith("cuda")
    d = dict(  # (CPU, GPU, quick) defaults
        cutn=(32, 32, 4), step_size=(128, 512, 64), step_n=(3, 10, 2), song_seconds=(2.0, 20.0, 1.5),
        song_start=(11.0, 2.0, 11.0), song_size=(128, 512, 64), mem_sizes=("256,512", "256,512,768", "64,128"),
        preview_size=(128, 512, 64), preview_iters=(4, 30, 3), preview_reps=(2, 3, 1),
        mem_iters=(1, 3, 1), fps=(25, 30, 25),
        # the full-size CPU song runs only the defaults (each render costs minutes); settings are compared in the
        # miniature world (quality), where the proxy can rank them
        sweep=("", "draft,high,10:32", "2:2"),
        q_song=("mini", "mini", "demo"), q_size=(64, 64, 32), q_seconds=(0.0, 0.0, 2.0), q_start=(0.0, 0.0, 11.0), q_sweep=("draft,high", "draft,high", "draft"))
    pick = 2 if a.quick else (1 if gpu else 0)
    for k, v in d.items():
        if getattr(a, k) is None: setattr(a, k, v[pick])
    a.mem_sizes = [int(s) for s in str(a.mem_sizes).split(",") if s]
    spec = lambda p: tuple(int(x) for x in p.split(":")) if ":" in p else p.strip()
    a.sweep = [spec(p) for p in str(a.sweep).split(",") if p.strip()]
    a.q_sweep = [spec(p) for p in str(a.q_sweep).split(",") if p.strip()]
    a.sections = [s.strip() for s in a.sections.split(",") if s.strip()]
    return a


def machine_slug(info, device):
    import re
    if info.get("gpu"): name = info["gpu"]["name"]
    else: name = f"{info['cpu']}-{info['cores']}c"
    return re.sub(r"[^a-z0-9]+", "-", f"{device.split(':')[0]}-{name}".lower()).strip("-")


def main(argv=None):
    os.environ.setdefault("TQDM_DISABLE", "1")  # keep the bench output readable (set here, not on import: tests import this file)
    args = parse(argv)
    if args.child_memory: return child_memory(args)
    from metamusic.core import get_device, seed_everything
    args.device = str(get_device(args.device))
    info = machine_info(args.device)
    date = datetime.datetime.now(datetime.timezone.utc)
    out_dir = Path(args.out_dir) if args.out_dir else (Path(tempfile.mkdtemp(prefix="mm-bench-quick-")) if args.quick
                                                        else HERE / "results")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{machine_slug(info, args.device)}-{date:%Y-%m-%d}"
    results = dict(machine=info, started=date.isoformat(timespec="seconds"), quick=args.quick,
                   params={k: v for k, v in vars(args).items() if not k.startswith("child")},
                   models="untrained tiny twins" if args.quick else "load_models(untrained='full'): real-size "
                          "architectures, random weights", sections={})
    t0 = time.perf_counter()
    models = get_models(args)
    song = get_song(args)
    results["model_shapes"] = dict(n_embed=models.vqgan.n_embed, embed_dim=models.vqgan.embed_dim,
                                   clip_input=models.clip.input_size)
    results["song"] = dict(name=getattr(song, "name", "demo"), duration=song.duration, sr=song.sr)
    from report import write_report
    for sec in args.sections:
        ts = time.perf_counter()
        seed_everything(0)
        try:
            if sec == "step": r = bench_step(models, song, args)
            elif sec == "song": r = bench_song(models, song, args, results["sections"].get("step"))
            elif sec == "quality": r = bench_quality(args)
            elif sec == "memory": r = bench_memory(args)
            elif sec == "preview": r = bench_preview(models, song, args)
            else: raise SystemExit(f"unknown section {sec!r}; choose from step, song, quality, memory, preview")
        except Exception as e:  # keep the other sections' numbers; the table says what failed
            import traceback; traceback.print_exc()
            r = dict(error=f"{type(e).__name__}: {e}")
        r["section_s"] = time.perf_counter() - ts
        results["sections"][sec] = r
        results["total_s"] = time.perf_counter() - t0
        dump(results, stem.with_suffix(".json"))
        log(f"{sec} done in {r['section_s']:.0f}s (total {results['total_s']:.0f}s)")
    results["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    results["machine"]["load_avg_end"] = list(os.getloadavg())
    dump(results, stem.with_suffix(".json"))
    write_report(results, stem)
    print(stem.with_suffix(".md").read_text(), flush=True)   # the whole table, in one go
    log(f"results: {stem}.json, .md, .png")
    return results


if __name__ == "__main__":
    main()
