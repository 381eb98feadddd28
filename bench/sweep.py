"""Choose the defaults on evidence: sweep keyframe budgets (and the picture's settings) in the miniature world.

    python bench/sweep.py            # miniature world, a 12 s miniature song at 32²: bench/results/budget-sweep.{json,png}
    python bench/sweep.py --song demo --start 9 --seconds 6   # 6 s of the demo song instead
    python bench/sweep.py --quick    # tiny models, a short excerpt, a few settings: plumbing only (temp folder)

Video: a miniature song (its sound changes attribute set half way: a section change whose targets are known) rendered by `video` with one budget setting changed at a time around a base (first-keyframe
steps, later-keyframe steps, distance scaling, early-stop tolerance, cutouts), a fixed budget the old way, and the
original schedule (one step per frame); the presets chosen from it are run by `bench/run.py`'s quality section.
Each render's quality is the package's `metamusic.miniature.quality_proxy` (mean squared
spherical distance between the miniature CLIP's embedding of each keyframe and its Wav2CLIP target; lower is
closer) and its smoothness (largest / median consecutive-frame difference); its cost is the optimisation steps it
actually ran per second of music. Picture: `picture` at several learning rates and cutout counts, the proxy read
along the way at several iteration counts. `nbs/06_video.ipynb` and `nbs/05_picture.ipynb` plot the JSON.
"""
from __future__ import annotations
import argparse, datetime, json, os, shutil, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np
from common import machine_info, quality_proxy, read_frames, smoothness, dump
from original import original_video


def log(*a): print(f"[{time.strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)


BASE = dict(first=20, later=1, spread=1.0, cuts=True, patience=0, tolerance=0.005, cutn=None)  # "standard" without early stop


def video_settings(quick):
    "(family, label, video keyword arguments) for every render of the sweep, one setting changed at a time."
    from metamusic.musicvideo import Budget
    if quick:
        return [("first", "first 4", dict(quality=Budget(**{**BASE, "first": 4, "later": 1}), cutn=4)),
                ("preset", "standard", dict(quality="standard", cutn=4)), ("fixed", "fixed 2", dict(iterations_per_keyframe=2, cutn=4))]
    # one setting changed at a time around BASE, then the presets and the old fixed budget
    runs = [("later", f"later {n}", dict(quality=Budget(**{**BASE, "later": n}))) for n in (1, 2, 4, 8)]  # later 1 is BASE
    runs += [("first", f"first {n}", dict(quality=Budget(**{**BASE, "first": n}))) for n in (10, 40, 80)]
    runs += [("spread", "spread 0", dict(quality=Budget(**{**BASE, "spread": 0.0})))]
    runs += [("early stop", f"tolerance {t:g}", dict(quality=Budget(**{**BASE, "patience": 5, "tolerance": t}))) for t in (0.01,)]
    runs += [("cutouts", f"cutn {n}", dict(quality=Budget(**{**BASE, "cutn": n}))) for n in (8, 16)]
    runs += [("preset", q, dict(quality=q)) for q in ("draft", "standard", "high")]
    runs += [("fixed", "fixed 50", dict(iterations_per_keyframe=50))]
    return runs


def _mean_runs(rs):
    "One record from the same render at several seeds: steps and proxies averaged, per-seed values kept."
    r = dict(rs[0])
    for k in ("n_steps", "steps_per_music_s", "proxy", "wall_s"): r[k] = float(np.mean([x[k] for x in rs]))
    r["proxy_per_window"] = np.mean([x["proxy_per_window"] for x in rs], axis=0).tolist()
    r["per_seed"] = [{k: x[k] for k in ("seed", "n_steps", "proxy")} for x in rs]
    return r


def sweep_video(models, song, args, tmp, whole=None, partial=None):
    """`song` is the excerpt; `whole` the song it was cut from (ours is given both, so it finds sections in the whole song).
    Every render, the original's too, runs at each of `args.seeds`; the proxy and steps reported are their means."""
    from metamusic.musicvideo import video, RunFolder
    from PIL import Image
    size = (args.size, args.size)
    originals = []
    for seed in args.seeds:
        log(f"video: original schedule, {song.duration:.1f} s at {args.size}², {args.fps} fps, seed {seed} ...")
        t = time.perf_counter()
        o = original_video(song, models, tmp / f"orig{seed}", fps=args.fps, size=size, cutn=4 if args.quick else 32, lr=0.15, seed=seed)
        windows, targets = o["windows"], o["targets"]
        last = [np.asarray(Image.open(p).convert("RGB")) for p in o["last_pngs"]]
        proxy, per = quality_proxy(models, last, targets)
        frames, _ = read_frames(o["path"])
        originals.append(dict(seed=seed, n_steps=o["n_steps"], steps_per_music_s=o["n_steps"] / song.duration, proxy=proxy,
                              proxy_per_window=per, smoothness=smoothness(frames), wall_s=time.perf_counter() - t))
        log(f"video: original {o['n_steps']} steps, proxy {proxy:.4f}")
    original = _mean_runs(originals)
    runs = []
    for family, label, kw in video_settings(args.quick):
        per_seed = []
        for seed in args.seeds:
            run_dir = tmp / f"run-{len(runs)}-{seed}"
            t = time.perf_counter()
            src = dict(song=song) if whole is None else dict(song=whole, start=song.start, duration=song.duration)
            out = video(models=models, out=tmp / f"v{len(runs)}-{seed}.mp4", fps=args.video_fps, size=size, seed=seed, run_dir=run_dir, **src,
                        resume=False, segments=[tuple(w) for w in windows], preview=False, progress=False, **kw)
            wall = time.perf_counter() - t
            recs = RunFolder(run_dir).summary()
            params = json.loads((run_dir / "params.json").read_text())
            kf = [np.asarray(Image.open(run_dir / f"keyframe_{k:04d}.png").convert("RGB")) for k in range(len(windows))]
            p, pw = quality_proxy(models, kf, targets)
            fr, _ = read_frames(out)
            n = sum(r["steps"] for r in recs)
            per_seed.append(dict(seed=seed, family=family, label=label, budget=params["budget"], cutn=params["engine"]["cutn"],
                                 iterations_per_keyframe=kw.get("iterations_per_keyframe"), n_steps=n,
                                 steps_per_music_s=n / song.duration, proxy=p, proxy_per_window=pw, smoothness=smoothness(fr),
                                 keyframes=recs, wall_s=wall))
            out.unlink(); shutil.rmtree(run_dir, ignore_errors=True)
        runs.append(_mean_runs(per_seed))
        log(f"video: {label}: {runs[-1]['steps_per_music_s']:.2f} steps/s of music, proxy {runs[-1]['proxy']:.4f} "
            f"(seeds: {', '.join('%.4f' % x['proxy'] for x in per_seed)}), smoothness {runs[-1]['smoothness']['ratio']}")
        if partial: partial(dict(original=original, runs=runs))  # what is measured survives an interrupted sweep
    return dict(size=list(size), fps=args.fps, video_fps=args.video_fps, seeds=list(args.seeds), windows=[list(w) for w in windows],
                original=original, runs=runs)


def sweep_picture(models, song, args):
    "The picture's proxy after each of `checkpoints` iterations, at several learning rates and cutout counts."
    from metamusic.impression import picture
    checkpoints = (2, 5) if args.quick else (25, 50, 100, 200, 300)
    target = song.embed(models, segments="whole")
    settings = [(0.1, 4)] if args.quick else [(0.05, 32), (0.1, 32), (0.2, 32), (0.1, 16)]
    runs = []
    for lr, cutn in settings:
        seen = {}
        def grab(ev):
            if ev.iteration in checkpoints: seen[ev.iteration] = np.asarray(ev.image().convert("RGB"))
        t = time.perf_counter()
        picture(song, models, size=(args.size, args.size), iterations=max(checkpoints), seed=args.seed, preview=False,
                callback=grab, lr=lr, cutn=cutn)
        wall = time.perf_counter() - t
        proxies = {it: quality_proxy(models, [seen[it]], target)[0] for it in checkpoints}
        runs.append(dict(lr=lr, cutn=cutn, proxy=proxies, wall_s=wall))
        log(f"picture: lr {lr} cutn {cutn}: " + ", ".join(f"{it}: {v:.4f}" for it, v in proxies.items()))
    return dict(size=[args.size, args.size], seed=args.seed, checkpoints=list(checkpoints), runs=runs)


def plot(res, path):
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.2))
    plot_video(res["video"], ax[0])
    if res.get("picture"): plot_picture(res["picture"], ax[1])
    fig.suptitle(f"Budget sweep, {res['models']} models, {res['song']['seconds']:.0f} s of {res['song'].get('name', 'demo')} ({res['started'][:10]})", fontsize=10)
    fig.tight_layout(); fig.savefig(path, dpi=110); plt.close(fig)


def plot_video(v, ax):
    "Quality proxy against steps per second of music, one line per family (also used by the video notebook)."
    o = v["original"]
    fams = sorted({r["family"] for r in v["runs"]}, key=[r["family"] for r in v["runs"]].index)
    for fam in fams:
        rr = sorted([r for r in v["runs"] if r["family"] == fam], key=lambda r: r["steps_per_music_s"])
        style = "*" if fam == "preset" else "o-"
        ax.plot([r["steps_per_music_s"] for r in rr], [r["proxy"] for r in rr], style, label=fam, ms=10 if fam == "preset" else 5)
        for r in rr: ax.annotate(r["label"].split()[-1], (r["steps_per_music_s"], r["proxy"]), fontsize=6, xytext=(2, 2), textcoords="offset points")
    ax.scatter([o["steps_per_music_s"]], [o["proxy"]], c="#999", s=80, label="original schedule", zorder=3)
    ax.axhline(o["proxy"], color="#999", lw=0.8, ls="--")
    ax.axvline(o["steps_per_music_s"] / 5, color="#c33", lw=0.8, ls=":", label="1/5 of the original's steps")
    ax.set_xscale("log"); ax.set_xlabel("optimisation steps per second of music (log)")
    ax.set_ylabel("quality proxy (lower = closer)"); ax.set_title("Video: keyframe budgets", fontsize=9)
    ax.legend(fontsize=7)


def plot_picture(p, ax):
    "Picture proxy against iterations, one line per (lr, cutn) (also used by the picture notebook)."
    for r in p["runs"]:
        its = sorted(int(k) for k in r["proxy"])
        ax.plot(its, [r["proxy"][str(k)] if str(k) in r["proxy"] else r["proxy"][k] for k in its], "o-",
                label=f"lr {r['lr']}, cutn {r['cutn']}", ms=4)
    ax.set_xscale("log"); ax.set_xlabel("iterations (log)"); ax.set_ylabel("quality proxy (lower = closer)")
    ax.set_title("Picture: iterations, learning rate, cutouts", fontsize=9); ax.legend(fontsize=7)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny models, a short excerpt, three settings")
    ap.add_argument("--models", default="miniature", help="untrained= kind (default: miniature, the miniature world)")
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--fps", type=int, default=25, help="the original schedule's frame rate (= its steps per second of music)")
    ap.add_argument("--video-fps", type=int, default=10, help="frame rate of our renders (frames cost decoding only)")
    ap.add_argument("--song", default="mini", help="mini: a miniature song (large red disc on blue, then small yellow stripes on black); demo: the demo song")
    ap.add_argument("--seconds", type=float, default=None, help="seconds of music (mini: the song's length, default 12; demo: the excerpt, default 6; --quick 2)")
    ap.add_argument("--start", type=float, default=None, help="demo: where the excerpt starts (default 9; --quick 11)")
    ap.add_argument("--seed", type=int, default=0, help="the picture sweep's seed")
    ap.add_argument("--seeds", default=None, help="video renders: comma-separated seeds, results averaged (default 0,1; --quick 0)")
    ap.add_argument("--parts", default="video,picture")
    ap.add_argument("--out", default=None, help="results stem (default bench/results/budget-sweep; --quick: a temp folder)")
    args = ap.parse_args(argv)
    args.seeds = [int(x) for x in (args.seeds or ("0" if args.quick else "0,1")).split(",")]
    from metamusic.models import load_models
    from metamusic.audio import demo_song
    kind = "tiny" if args.quick else args.models
    args.size = args.size or 32  # the miniature world's own scale (its images and CLIP input are 32²)
    models = load_models("cpu", untrained=kind)
    if args.song == "mini" and not args.quick:
        from metamusic.miniature import miniature_song
        song = whole = miniature_song(duration=args.seconds or 12.0)
    else:
        song = whole = demo_song()
        seconds = args.seconds if args.seconds is not None else (2.0 if args.quick else 6.0)
        start = args.start if args.start is not None else (11.0 if args.quick else 9.0)
        if seconds: song = song.excerpt(start, seconds)
    stem = Path(args.out) if args.out else (Path(tempfile.mkdtemp(prefix="mm-sweep-")) / "budget-sweep" if args.quick
                                            else HERE / "results" / "budget-sweep")
    stem.parent.mkdir(parents=True, exist_ok=True)
    res = dict(started=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), models=kind,
               quick=args.quick, machine=machine_info("cpu"), song=dict(name=song.name, start=song.start, seconds=song.duration))
    tmp = Path(tempfile.mkdtemp(prefix="mm-sweep-work-"))
    t0 = time.perf_counter()
    try:
        if "video" in args.parts:
            res["video"] = sweep_video(models, song, args, tmp, whole if song is not whole else None,
                                       partial=lambda v: dump({**res, "video": v, "partial": True}, stem.with_suffix(".json")))
        if "picture" in args.parts: res["picture"] = sweep_picture(models, song, args)
    finally: shutil.rmtree(tmp, ignore_errors=True)
    res["total_s"] = time.perf_counter() - t0
    res["machine"]["load_avg_end"] = list(os.getloadavg())
    dump(res, stem.with_suffix(".json"))
    if "video" in res: plot(res, stem.with_suffix(".png"))
    log(f"results: {stem}.json ({res['total_s'] / 60:.1f} min)")
    return res


if __name__ == "__main__":
    main()
