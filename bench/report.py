"Turn a benchmark results dict into a markdown table (with goals met / missed) and a PNG plot."
from __future__ import annotations
from pathlib import Path


def _f(v, fmt="{:.2f}"):
    return "—" if v is None else fmt.format(v)


def _smooth(sm):
    if sm.get("ratio") is None and sm.get("median") is not None:
        return f"∞ ({100 * sm['unchanged']:.0f}% of frame pairs unchanged)"
    return _f(sm.get("ratio"), "{:.1f}") + (f" ({100 * sm['unchanged']:.0f}% unchanged)" if sm.get("unchanged") else "")


def _song(section):
    "The song a section rendered, as a phrase."
    name = section["excerpt"].get("song", "demo")
    if name.startswith("miniature:"): return f"the miniature song ({name.split(':', 1)[1].strip().replace(' | ', ', then ')})"
    return "the demo song" if name == "demo" else f"“{name}”"

def _gib(b): return None if b is None else b / 2**30


def goals(res):
    "Each goal from issue 9 with the measured value and met / missed / not measured."
    gpu = bool(res["machine"].get("gpu"))
    S = res["sections"]
    out = []
    st = S.get("step", {})
    if "ratio" in st:
        r = st["ratio"]
        if gpu: out.append(("Step at equal size and cutouts ≥ 3× faster than the original (GPU)", f"×{r:.2f}",
                            "met" if r >= 3 else "missed"))
        else: out.append(("Step at equal size and cutouts: parity with the original on CPU (≥ 0.95×; CLIP fwd+bwd dominate)",
                          f"×{r:.2f}", "met" if r >= 0.95 else "missed"))
    so, q = S.get("song", {}), S.get("quality", {})
    d = so.get("ours_defaults")
    if "original" in so and d:
        need = 10 if gpu else 5
        out.append((f"Song, `video` shipped defaults ({so.get('models')} models): ≥ {need}× less wall time per second of music "
                     "than the original schedule", f"×{d['ratio_vs_original']:.1f} ({d['s_per_music_s']:.1f} vs "
                     f"{so['original']['s_per_music_s']:.1f} s per s of music on a {so['excerpt']['seconds']:.0f} s excerpt)",
                     "met" if d["ratio_vs_original"] >= need else "missed"))
    qd = q.get("ours_defaults")
    if "original" in q and qd:
        o = q["original"]
        r = qd["steps_per_music_s"] / o["steps_per_music_s"]
        ok = r <= 0.2 and qd["proxy"] <= o["proxy"]
        world = "miniature world" if q.get("models") in ("mini", "miniature") else f"{q.get('models')} models (NOT the miniature world)"
        out.append((f"Shipped defaults: ≤ 1/5 of the original's optimisation steps per second of music at equal-or-better "
                    f"quality proxy ({world}, {q['excerpt']['seconds']:.0f} s of {_song(q)})",
                    f"{qd['steps_per_music_s']:.2f} vs {o['steps_per_music_s']:.1f} steps per s of music (1/{1 / r:.1f}); "
                    f"proxy {qd['proxy']:.4f} vs {o['proxy']:.4f}" + (" (worse)" if qd["proxy"] > o["proxy"] else ""),
                    ("met" if ok else "missed") if q.get("models") in ("mini", "miniature") else "not measured"))
    me = S.get("memory", {})
    r512 = [r for r in me.get("runs", []) if r.get("size") == 512 and "error" not in r]
    if gpu and r512 and "cuda_max_allocated" in r512[0]:
        g = _gib(r512[0]["cuda_max_allocated"])
        out.append(("512×512, 32 cutouts fits a 15 GB T4 with room to spare (≤ 10 GiB allocated)", f"{g:.2f} GiB",
                    "met" if g <= 10 else "missed"))
    else:
        out.append(("512×512, 32 cutouts fits a 15 GB T4 with room to spare", "needs a GPU; CPU peak RSS below",
                    "not measured"))
    pv = S.get("preview", {})
    if "overhead" in pv:
        out.append(("Live preview costs < 5%", f"{100 * pv['overhead']:+.1f}%", "met" if pv["overhead"] < 0.05 else "missed"))
    elif pv: out.append(("Live preview costs < 5%", pv.get("error", "?"), "not measured"))
    out.append(("North star: 3-min song, 512×512, 30 fps in < 10 min on a Colab T4", "needs a T4", "not measured"))
    return out


def _share(r):
    by, tot = r.get("flops_by_module") or {}, r.get("flops") or 0
    if not tot: return ""
    clip = sum(v for k, v in by.items() if "VisionTransformer" in k or "CLIP" in k)
    dec = sum(v for k, v in by.items() if "Decoder" in k)
    return f"CLIP {100 * clip / tot:.0f}%, VQGAN decoder {100 * dec / tot:.0f}% of the FLOPs"


def _budget(r):
    "How a render's keyframe steps were set, in words."
    if r.get("iterations_per_keyframe"): return f"fixed {r['iterations_per_keyframe']} per keyframe"
    b, stops = r.get("budget") or {}, sum(k.get("stop") == "plateau" for k in r.get("keyframes", []))
    return (f"quality {r.get('quality')!r}: first {b.get('first')}, later about {b.get('later')}, "
            f"{stops} early stop{'s' if stops != 1 else ''}")


def _render_rows(so):
    "Table rows for one comparison (original, ours with defaults, the sweep)."
    o = so["original"]
    L = ["| render | wall s | s per s of music | ×faster | steps | steps per s of music | quality proxy (lower = closer) | smoothness max/median | frames |",
         "|---|---|---|---|---|---|---|---|---|",
         f"| original schedule (one step per frame, cutn {o['params']['cutn']}) | {o['wall_s']:.1f} | {o['s_per_music_s']:.1f} | 1 | "
         f"{o['n_steps']} | {o['steps_per_music_s']:.1f} | {o['proxy']:.4f} | {_smooth(o['smoothness'])} | {o['frames']} |"]
    rows = ([dict(so["ours_defaults"], label="defaults")] if "ours_defaults" in so else []) + list(so.get("sweep", []))
    for r in rows:
        if r.get("label") == "defaults": name = f"**ours, `video` shipped defaults** (quality {r.get('quality')!r}, cutn {r['cutn']})"
        elif r.get("iterations_per_keyframe"): name = f"ours, fixed {r['iterations_per_keyframe']} per keyframe, cutn {r['cutn']}"
        else: name = f"ours, quality {r.get('quality')!r} (cutn {r['cutn']})"
        L.append(f"| {name} | {r['wall_s']:.1f} | {r['s_per_music_s']:.1f} | {r['ratio_vs_original']:.1f} | {r['n_steps']} | "
                 f"{r['steps_per_music_s']:.2f} | {r['proxy']:.4f} | {_smooth(r['smoothness'])} | {r['frames']} |")
    return L


def notes(res):
    "Data-driven explanations of each goal's outcome."
    gpu, S, out = bool(res["machine"].get("gpu")), res["sections"], []
    st = S.get("step", {})
    if "ratio" in st:
        o, u = st["original"], st["ours"]
        same = abs(o["flops"] - u["flops"]) / o["flops"] < 0.02
        out.append(f"Step: at equal size and cutouts both loops do {'the same' if same else 'different'} arithmetic "
                   f"({o['flops'] / 1e9:.0f} vs {u['flops'] / 1e9:.0f} GFLOP per step; {_share(u)}). "
                   + ("On a CPU the only savings at equal settings are the per-cut pooling loop and the per-step PNG; "
                      "mixed precision, channels_last and tensor cores only help on a GPU, so parity is the floor here "
                      "and the song benchmark is where the time is saved (fewer steps)." if not gpu else
                      "On the GPU ours runs CLIP and the decoder under bf16/fp16 autocast with channels_last; the "
                      "original ran the decoder in fp32."))
    so = S.get("song", {})
    d = so.get("ours_defaults")
    if "original" in so and d:
        o = so["original"]
        ph = d.get("phase_s") or {}
        rend, opt = ph.get("rendering", 0), ph.get("optimising", 0)
        out.append(f"Where the time goes ({so.get('models')} models, {so['excerpt']['seconds']:.0f} s excerpt): the original spends "
                   f"{o['s_per_music_s']:.0f} s per second of music ({o['params']['steps_per_music_s']} steps at "
                   f"{o['s_per_step']:.2f} s, one per frame). Our defaults spend {d['s_per_music_s']:.1f} s: {opt:.0f} s "
                   f"optimising {d['n_keyframes']} keyframes in {d['n_steps']} steps ({_budget(d)}), {rend:.0f} s decoding "
                   f"and encoding the {d['frames']} frames ({rend / max(d['frames'], 1):.2f} s per frame). On an excerpt "
                   "this short the first keyframe's long run weighs heavily; over a whole song it is paid once (see the "
                   "quality section's steps per second).")
    q = S.get("quality", {})
    qd = q.get("ours_defaults")
    if "original" in q and qd:
        o = q["original"]
        out.append(f"Quality section: {q['excerpt']['seconds']:.0f} s of {_song(q)} at {q['size'][0]}² with "
                   f"{q.get('models')} models, both renders on the same windows and targets; ours ran {qd['n_steps']} "
                   f"steps ({_budget(qd)}) against the original's {o['n_steps']}. The proxy is the mean squared spherical "
                   "distance between the CLIP embedding of each window's image and its Wav2CLIP target (lower = closer).")
        if q.get("models") not in ("mini", "miniature"):
            out.append("The quality section ran without the miniature world (not in this version, or --quick): its proxy "
                       "cannot rank settings, so its goal row says nothing about quality.")
    me = S.get("memory", {})
    if me and not gpu: out.append("Memory on a T4: needs a GPU run (`python bench/run.py --device cuda`); the CPU peak "
                                  "RSS above includes the models (about 1.7 GiB of fp32 weights and code).")
    pv = S.get("preview", {})
    if "overhead" in pv:
        out.append(f"Preview: {100 * pv['overhead']:+.1f}% (the preview decodes frames only within a 5% time budget and "
                   "draws on the main thread while the job runs in a worker thread); differences of a few percent are "
                   "within run-to-run noise on a shared 2-core machine.")
    return out


def markdown(res):
    m, S = res["machine"], res["sections"]
    dev = m["gpu"]["name"] if m.get("gpu") else f"CPU only: {m['cpu']}, {m['cores']} cores"
    L = [f"# metamusic benchmark — {res['started']}", "",
         f"Machine: {dev}; torch {m['torch']} ({m['torch_threads']} threads), Python {m['python']}, "
         f"metamusic {m.get('metamusic', '?')} (git {m.get('git', '?')}); load average at start "
         f"{m['load_avg'][0]:.2f}, at end {m.get('load_avg_end', [float('nan')])[0]:.2f}.",
         f"Models: {res['models']}. Songs: the demo song for timing; the quality section's is named there. Every parameter is in the JSON beside this file.", ""]
    if res.get("quick"): L += ["**Quick run with tiny models: plumbing check only, numbers mean nothing.**", ""]
    L += ["## Goals", "", "| goal | measured | status |", "|---|---|---|"]
    L += [f"| {g} | {v} | **{s}** |" for g, v, s in goals(res)]
    st = S.get("step")
    if st and "ratio" in st:
        L += ["", f"## 1. Step cost ({st['size'][0]}×{st['size'][1]}, {st['cutn']} cutouts, median of {st['steps_timed']} steps)", "",
              "| | s / step | GFLOP / step | achieved GFLOP/s | fraction of peak |", "|---|---|---|---|---|"]
        for k, name in (("original", "original (reimplemented)"), ("ours", f"ours (`Engine`, cutn={st['cutn']})"),
                        ("ours_defaults", "ours (`ENGINE_DEFAULTS` as shipped)")):
            if k in st:
                r = st[k]
                L.append(f"| {name} | {r['s_per_step']:.3f} | {r['flops'] / 1e9:.1f} | {r['flops_per_s'] / 1e9:.1f} | "
                         f"{_f(r.get('fraction_of_peak'), '{:.1%}')} |")
        L += ["", f"Ours is ×{st['ratio']:.2f} the original's speed at equal settings ({_share(st['ours'])}). FLOPs: matmuls, convolutions and "
              f"attention, forward + backward, as `torch.utils.flop_counter` counts them. Peak: {st.get('peak_used')}."]
    elif st: L += ["", f"## 1. Step cost: failed ({st.get('error')})"]
    for key, title in (("song", "Song render: where the time goes"), ("quality", "Quality: the same comparison where the proxy can rank settings")):
        so = S.get(key)
        if so and "original" in so:
            o = so["original"]
            L += ["", f"## {'2' if key == 'song' else '3'}. {title} ({so['excerpt']['seconds']:.2f} s of {_song(so)} from "
                  f"{so['excerpt']['start']:.1f} s, {so['size'][0]}×{so['size'][1]}, {so['fps']} fps, {len(so['windows'])} windows, "
                  f"models: {so.get('models')})", ""] + _render_rows(so)
            L += ["", f"Original: {o['steps_s']:.1f} s optimising ({o['s_per_step']:.3f} s/step), {o['encode_s']:.1f} s "
                  f"encoding, {o['setup_s']:.1f} s set-up. Load average during the renders: "
                  + ", ".join(f"{r['load_avg'][0]:.1f}→{r['load_avg'][1]:.1f}" for r in [o] + ([so['ours_defaults']] if 'ours_defaults' in so else [])) + "."]
        elif so: L += ["", f"## {title}: failed ({so.get('error')})"]
    me = S.get("memory")
    if me and "runs" in me:
        L += ["", f"## 4. Memory (picture, {me['cutn']} cutouts, {me['iterations']} iterations, one subprocess each)", "",
              "| size | peak RSS GiB | RSS after loading models GiB | CUDA max allocated GiB | CUDA max reserved GiB |",
              "|---|---|---|---|---|"]
        for r in me["runs"]:
            if "error" in r: L.append(f"| {r['size']} | failed: {r['error']} | | | |"); continue
            size = "models only" if r["size"] == 0 else f"{r['size']}²"
            L.append(f"| {size} | "
                     f"{_gib(r['rss_peak']):.2f} | {_gib(r['rss_after_models']):.2f} | {_f(_gib(r.get('cuda_max_allocated')))} | "
                     f"{_f(_gib(r.get('cuda_max_reserved')))} |")
    pv = S.get("preview")
    if pv and "overhead" in pv:
        L += ["", f"## 5. Preview overhead ({pv['size'][0]}², {pv['iterations']} iterations, {pv['reps']} interleaved repeats)", "",
              f"Without preview: {', '.join(f'{t:.2f}' for t in pv['without_s'])} s; with the widgets' preview callback: "
              f"{', '.join(f'{t:.2f}' for t in pv['with_s'])} s; overhead {100 * pv['overhead']:+.1f}% (medians)."]
    elif pv: L += ["", f"## 5. Preview overhead: not measured ({pv.get('error')})"]
    L += ["", "## Notes: what limits the missed goals", ""] + [f"- {n}" for n in notes(res)]
    L += ["", f"Total benchmark time {res.get('total_s', 0) / 60:.1f} min. Reproduce: `make bench` "
          "(or `python bench/run.py --device cuda` on a GPU)."]
    return "\n".join(L) + "\n"


def plot(res, path):
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.ticker
    import matplotlib.pyplot as plt
    S = res["sections"]
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    st = S.get("step", {})
    if "original" in st:
        names, vals = ["original", f"ours\n(cutn {st['cutn']})"], [st["original"]["s_per_step"], st["ours"]["s_per_step"]]
        if "ours_defaults" in st: names.append("ours\n(defaults)"); vals.append(st["ours_defaults"]["s_per_step"])
        ax[0].bar(names, vals, color=["#999", "#3a7", "#6c9"][:len(vals)])
        ax[0].set_ylabel("seconds per step"); ax[0].set_title(f"Step, {st['size'][0]}², {st['cutn']} cutouts")
    q = S.get("quality") if "original" in S.get("quality", {}) else S.get("song", {})
    if "original" in q:
        o = q["original"]
        ax[1].scatter([o["steps_per_music_s"]], [o["proxy"]], c="#999", s=80, label="original schedule", zorder=3)
        for r in q.get("sweep", []):
            ax[1].scatter([r["steps_per_music_s"]], [r["proxy"]], c="#3a7", s=30)
            ax[1].annotate(r["label"], (r["steps_per_music_s"], r["proxy"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        d = q.get("ours_defaults")
        if d: ax[1].scatter([d["steps_per_music_s"]], [d["proxy"]], marker="*", s=150, c="#c33", label="ours, shipped defaults", zorder=3)
        ax[1].axhline(o["proxy"], color="#999", lw=0.8, ls="--")
        ax[1].axvline(o["steps_per_music_s"] / 5, color="#c33", lw=0.8, ls=":", label="goal: 1/5 of the original's steps")
        ax[1].set_xscale("log"); ax[1].set_xlabel("optimisation steps per second of music (log)")
        ax[1].xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax[1].xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter()); ax[1].set_ylabel("quality proxy (lower = closer)")
        ax[1].set_title(f"Song, {q['excerpt']['seconds']:.0f} s at {q['size'][0]}², {q['fps']} fps, {q.get('models')} models", fontsize=9)
        ax[1].legend(fontsize=7)
    me = S.get("memory", {})
    runs = [r for r in me.get("runs", []) if "error" not in r]
    if runs:
        lab = ["models" if r["size"] == 0 else f"{r['size']}²" for r in runs]
        ax[2].bar(lab, [_gib(r["rss_peak"]) for r in runs], color="#47a", label="peak RSS")
        if any("cuda_max_allocated" in r for r in runs):
            ax[2].plot(lab, [_gib(r.get("cuda_max_allocated", 0)) for r in runs], "o-", c="#c33", label="CUDA max allocated")
        ax[2].set_ylabel("GiB"); ax[2].set_title(f"Memory, picture with {me['cutn']} cutouts"); ax[2].legend(fontsize=7)
    m = res["machine"]
    fig.suptitle(f"metamusic bench {res['started'][:10]} — " + (m["gpu"]["name"] if m.get("gpu") else f"{m['cpu']}, {m['cores']} cores")
                 + f", torch {m['torch']}" + (" (QUICK, tiny models)" if res.get("quick") else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(res, stem):
    stem = Path(stem)
    stem.with_suffix(".md").write_text(markdown(res))
    try: plot(res, stem.with_suffix(".png"))
    except Exception as e:  # a plot failure must not lose the table
        import sys; print(f"plot failed: {e}", file=sys.stderr)


if __name__ == "__main__":  # regenerate the table and plot from a results JSON: python bench/report.py <file.json>
    import json, sys
    for f in sys.argv[1:]:
        write_report(json.loads(Path(f).read_text()), Path(f).with_suffix(""))
