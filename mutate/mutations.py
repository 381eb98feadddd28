"""Deliberate breaks that a user would suffer, each with the tests that must catch it (`make mutate`).

A mutation replaces one exact snippet of `metamusic/<module>.py` AND of the notebook cell that exports it, so the
notebook tests see the same break as the package. When the code changes, a snippet may no longer be found: the runner
(and `tests/test_mutations_listed.py` in `make test`) then says "snippet not found" for that mutation; copy the new
text of the line into `old` and adjust `new`.
"""
from __future__ import annotations
import functools, json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Mutation:
    name: str          # short id, shown in the table
    module: str        # "musicvideo" → metamusic/musicvideo.py and the notebook whose cells export it
    old: str           # exact snippet, found exactly once in the module and once in the notebook
    new: str           # its replacement: the bug
    tests: list = field(default_factory=list)   # pytest node ids (fastest first) that must fail
    why: str = ""      # what a user would suffer


class SnippetError(Exception): pass


@functools.lru_cache(maxsize=None)
def notebook_of(module: str, root: Path) -> Path:
    "The notebook whose `#| default_exp` is `module`."
    for nb in sorted((root / "nbs").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in nb.parts: continue
        cells = json.loads(nb.read_text())["cells"]
        if any(c["cell_type"] == "code" and f"#| default_exp {module}\n" in "".join(c["source"]) + "\n" for c in cells): return nb
    raise SnippetError(f"no notebook has '#| default_exp {module}'")


def _replace_once(text: str, old: str, new: str, where: str) -> str:
    n = text.count(old)
    if n != 1: raise SnippetError(f"snippet not found exactly once in {where} (found {n} times): {old!r}")
    return text.replace(old, new)


def _mutate_notebook(text: str, m: Mutation, where: str) -> str:
    "Replace the snippet in the one code cell that holds it; the notebook stays valid JSON (the snippet is matched unescaped)."
    nb = json.loads(text)
    hits = [c for c in nb["cells"] if c["cell_type"] == "code" and m.old in "".join(c["source"])]
    total = sum("".join(c["source"]).count(m.old) for c in hits)
    if total != 1: raise SnippetError(f"snippet not found exactly once in {where} (found {total} times): {m.old!r}")
    src = "".join(hits[0]["source"]).replace(m.old, m.new)
    hits[0]["source"] = src.splitlines(keepends=True)
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def apply(m: Mutation, root: Path, dry_run: bool = False) -> dict:
    "Apply `m` under `root` (module and notebook); returns {path: original text} to restore. `dry_run` only checks."
    if m.old == m.new: raise SnippetError("old and new are the same")
    py = root / "metamusic" / f"{m.module}.py"
    if not py.is_file(): raise SnippetError(f"no module {py}")
    nb = notebook_of(m.module, root)
    originals = {py: py.read_text(), nb: nb.read_text()}
    changed = {py: _replace_once(originals[py], m.old, m.new, str(py.relative_to(root))),
               nb: _mutate_notebook(originals[nb], m, str(nb.relative_to(root)))}
    if not dry_run:
        for p, t in changed.items(): p.write_text(t)
    return originals


MUTATIONS: list[Mutation] = []

def _m(name, module, old, new, *tests, why=""): MUTATIONS.append(Mutation(name, module, old, new, list(tests), why))

# --- audio
_m("excerpt_forgets_offset", "audio", "start=self.start + a / self.sr", "start=self.start",
   "tests/test_video.py::test_audio_from_the_original_file",
   why="a video excerpt muxed with the sound of another place of the file")
_m("decode_ignores_start", "audio", 'if start: cmd += ["-ss"', 'if False: cmd += ["-ss"',
   "tests/test_audio_formats.py::test_start_and_duration_decode_only_that_part",
   why="load_song(start=) decodes from the beginning")
_m("decode_drops_a_sample", "audio", "return np.frombuffer(buf, dtype=np.float32)", "return np.frombuffer(buf, dtype=np.float32)[1:]",
   "tests/test_audio_formats.py::test_lossless_16k_decodes_exact_to_the_sample",
   why="every decode shifted by one sample (invisible to duration checks)")
_m("embeddings_in_wrong_order", "audio", "for j, i in enumerate(idx): out[i] = e[j]", "for j, i in enumerate(idx): out[idx[-1 - j]] = e[j]",
   "tests/test_audio.py::test_two_batchings_give_the_same_embeddings",
   why="segment embeddings attached to the wrong segments")

# --- engine
_m("gradient_sign_flipped", "engine", "loss = sum(terms.values())", "loss = -sum(terms.values())",
   "tests/test_engine_meaning.py::test_the_engine_descends",
   why="the engine climbs the loss: pictures move away from the song")
_m("negative_weight_pulls", "engine", "sign = 1.0 if self.weight >= 0 else -1.0", "sign = 1.0",
   "tests/test_engine_meaning.py::test_a_negative_weight_pushes_away",
   why="'text:-1' attracts instead of repelling")
_m("stop_value_ignored", "engine", "d = torch.where(active, d, d.detach())", "d = d",
   "tests/test_engine_meaning.py::test_past_its_stop_a_target_no_longer_pulls",
   why="'text:1:0.5' keeps pulling past its stop")
_m("z_not_clamped", "engine", "self.z.clamp_(self.z_min, self.z_max)", "self.z.clamp_(-1e9, 1e9)",
   "tests/test_engine_meaning.py::test_z_stays_where_codebook_vectors_live",
   why="the latent wanders where no codebook vector lives")
_m("pixels_init_is_flat", "engine", 'if init == "pixels": return self.encode_image(torch.rand(1, 3, h, w))',
   'if init == "pixels": return self.encode_image(torch.rand(1, 3, 1, 1).expand(1, 3, h, w))',
   "tests/test_engine_meaning.py::test_pixels_init_is_noise",
   why="init='pixels' starts from a flat colour, not noise")
_m("gradient_init_is_flat", "engine", "ramp = torch.linspace(0, 1, w)", "ramp = 0 * torch.linspace(0, 1, w)",
   "tests/test_engine_meaning.py::test_gradient_init_is_a_two_colour_ramp",
   why="init='gradient' is a flat colour half the time")
_m("crops_ignored", "engine", 'cuts = self.pooled(x) if self.method == "pooled" else self.crops(x)', "cuts = self.pooled(x)",
   "tests/test_engine_meaning.py::test_pooled_cutouts_are_the_whole_image_and_crops_are_parts",
   why="cut_method='crops' silently pooled")
_m("cut_pow_ignored", "engine", "pow(self.cut_pow)", "pow(1.0)",
   "tests/test_engine_meaning.py::test_cut_pow_favours_small_crops",
   why="cut_pow has no effect")
_m("augments_skipped", "engine", "cuts = self.augs(cuts)", "cuts = cuts",
   "tests/test_engine_meaning.py::test_each_augment_changes_some_cutouts_and_not_all",
   why="augments listed but never applied (the original's flat-list bug)")
_m("noise_skipped", "engine", "if self.noise > 0:", "if self.noise > 1e9:",
   "tests/test_engine_meaning.py::test_noise_is_added_to_cutouts",
   why="noise= has no effect")
_m("optimiser_always_adam", "engine", "self.opt = _optimisers()[self.optimiser_name.lower()]([self.z], lr=self.lr)",
   "self.opt = torch.optim.Adam([self.z], lr=self.lr)",
   "tests/test_engine_meaning.py::test_the_optimiser_is_the_one_named",
   why="optimiser='AdamW'/'RMSprop' silently Adam")
_m("lr_ignored", "engine", "self.opt = _optimisers()[self.optimiser_name.lower()]([self.z], lr=self.lr)",
   "self.opt = _optimisers()[self.optimiser_name.lower()]([self.z], lr=0.1)",
   "tests/test_engine_meaning.py::test_the_learning_rate_is_used",
   why="lr= has no effect")
_m("init_pull_never_decays", "engine", "self.init_decay * self.steps", "self.init_decay",
   "tests/test_engine_meaning.py::test_image_init_starts_from_that_image_and_pulls_toward_it",
   why="init_decay ignored: the init image never lets go")
_m("engine_seed_ignored", "engine", "self.seed = seed_everything(seed)", "self.seed = seed_everything(None)",
   "tests/test_picture.py::test_a_seed_repeats_and_another_seed_differs",
   why="a seed that doesn't reproduce")
_m("several_embeddings_first_only", "engine", "e = F.normalize(e, dim=-1).mean(0)", "e = e[0]",
   "tests/test_engine_meaning.py::test_several_audio_embeddings_count_equally",
   why="audio='segments' (and any list of embeddings) steers by the first segment only")

# --- picture
_m("picture_drops_engine_options", "impression", "engine = Engine(models, size=size, seed=seed, targets=targets, **options)",
   "engine = Engine(models, size=size, seed=seed, targets=targets)",
   "tests/test_picture.py::test_options_reach_the_engine",
   why="the metadata records options that were never used")
_m("picture_seed_recorded_not_used", "impression", "engine = Engine(models, size=size, seed=seed, targets=targets, **options)",
   "engine = Engine(models, size=size, seed=None, targets=targets, **options)",
   "tests/test_picture.py::test_a_seed_repeats_and_another_seed_differs",
   why="remaking a picture from its metadata paints another picture")
_m("picture_audio_segments_ignored", "impression", 'segments="whole" if audio == "whole" else None', 'segments="whole"',
   "tests/test_picture.py::test_segments_is_not_whole",
   why="picture(audio='segments') ignored")
_m("picture_audio_weight_ignored", "impression", 'weight=audio_weight, label="song"', 'weight=1.0, label="song"',
   "tests/test_picture.py::test_weights_and_prompts_are_in_the_loss",
   why="audio_weight has no effect")
_m("picture_prompts_dropped", "impression", "targets = make_targets(models, prompts)", "targets = make_targets(models, [])",
   "tests/test_picture.py::test_weights_and_prompts_are_in_the_loss",
   why="prompts recorded but not used")

# --- video
_m("every_keyframe_first_segment", "musicvideo", "return [audio_target(plan.embeds[seg]), *plan.prompts[k]]",
   "return [audio_target(plan.embeds[0]), *plan.prompts[k]]",
   "tests/test_video_meaning.py::test_keyframe_k_follows_segment_k_and_the_prompts_of_its_time",
   why="the video no longer follows the music")
_m("every_keyframe_first_prompts", "musicvideo", "return [audio_target(plan.embeds[seg]), *plan.prompts[k]]",
   "return [audio_target(plan.embeds[seg]), *plan.prompts[0]]",
   "tests/test_video_meaning.py::test_keyframe_k_follows_segment_k_and_the_prompts_of_its_time",
   why="a prompt schedule stuck at its first line")
_m("prompt_schedule_ignores_excerpt_start", "musicvideo", "sched.active(offset + t0, offset + t1)", "sched.active(t0, t1)",
   "tests/test_video_meaning.py::test_keyframe_k_follows_segment_k_and_the_prompts_of_its_time",
   why="lyrics of an excerpt shown at the wrong time")
_m("excerpt_audio_from_the_beginning", "musicvideo", "return Path(song.path), song.start", "return Path(song.path), 0.0",
   "tests/test_video.py::test_audio_from_the_original_file",
   why="picture and sound out of sync")
_m("drift_carried_the_wrong_way", "musicvideo", "drift_theta(plan.motion, [L], w // f, h // f)", "drift_theta(plan.motion, [-L], w // f, h // f)",
   "tests/test_video_meaning.py::test_the_drift_carries_keyframes_along_and_makes_no_jump",
   why="each keyframe starts where the camera wasn't")
_m("drift_jumps_at_keyframes", "musicvideo", "zb = warp(zb, drift_theta(motion, tau[sl] - seg[sl], w, h))",
   "zb = warp(zb, drift_theta(motion, tau[sl], w, h))",
   "tests/test_video_meaning.py::test_the_drift_carries_keyframes_along_and_makes_no_jump",
   why="a visible jump at every keyframe")
_m("video_seed_recorded_not_used", "musicvideo", "fresh = partial(Engine, models, size=plan.size, seed=plan.seed, **plan.options)",
   "fresh = partial(Engine, models, size=plan.size, seed=plan.params[\"seed\"], **plan.options)",
   "tests/test_video_meaning.py::test_a_random_seed_is_recorded_and_really_used",
   why="the saved seed doesn't reproduce the video")
_m("video_drops_engine_options", "musicvideo", "fresh = partial(Engine, models, size=plan.size, seed=plan.seed, **plan.options)",
   "fresh = partial(Engine, models, size=plan.size, seed=plan.seed)",
   "tests/test_video_meaning.py::test_engine_options_and_seed_reach_the_keyframes",
   why="params.json records options that were never used")
_m("easing_ignored", "musicvideo", "k, tau, wt = frame_plan(times, b, easing, pace)", 'k, tau, wt = frame_plan(times, b, "smooth", pace)',
   "tests/test_video_meaning.py::test_render_frames_honours_easing_and_pulse",
   why="easing= has no effect")
_m("pulse_skipped", "musicvideo", "frames = warp(frames, pulse_theta(motion, env[sl], beat[sl], W, H)).clamp(0, 1)", "frames = frames",
   "tests/test_video_meaning.py::test_render_frames_honours_easing_and_pulse",
   why="no beat pulse")
_m("pace_onsets_ignored", "musicvideo", 'pace_curve = cumulative(*music["onset"]) if plan.pace == "onsets" else None',
   "pace_curve = None",
   "tests/test_video_meaning.py::test_onset_pacing_reaches_the_frames",
   why="pace='onsets' renders as pace='time'")
_m("audio_not_cut_to_the_video", "musicvideo", "audio_duration=plan.song.duration", "audio_duration=None",
   "tests/test_video.py::test_audio_from_the_original_file",
   why="the sound runs on after the picture ends")

# --- CLI
_m("cli_picture_drops_seed", "cli", "seed=args.seed, out=out, preview=False, **opts)", "seed=None, out=out, preview=False, **opts)",
   "tests/test_cli.py::test_picture_flags_reach_the_picture",
   why="--seed ignored: no reproducible picture from the command line")
_m("cli_picture_drops_engine_options", "cli", "seed=args.seed, out=out, preview=False, **opts)", "seed=args.seed, out=out, preview=False)",
   "tests/test_cli.py::test_picture_flags_reach_the_picture",
   why="--lr, --cutn, --optimiser ... ignored")
_m("cli_video_motion_ignored", "cli", "motion = False if args.no_motion else", "motion = None if args.no_motion else",
   "tests/test_cli.py::test_video_flags_reach_the_video",
   why="--no-motion still drifts")
_m("cli_video_pace_ignored", "cli", "easing=args.easing, pace=args.pace", 'easing=args.easing, pace="time"',
   "tests/test_cli.py::test_video_flags_reach_the_video",
   why="--pace onsets ignored")
_m("cli_download_failure_exit_code", "cli", "return 1 if failed else 0", "return 3 if failed else 0",
   "tests/test_cli.py::test_weights_download_without_network_names_file_url_folder",
   why="a failed download exits with a code the contract doesn't have")

# --- weights and models
_m("checksum_not_checked", "weights", "if expected and digest != expected.lower()", "if False and digest != expected.lower()",
   "tests/test_weights.py::test_checksum_mismatch",
   why="a corrupt or tampered download is accepted")
_m("local_clip_ignored", "models", 'path = find_weights("clip_vit_b_32", weights_dir) or download_weights("clip_vit_b_32", weights_dir)',
   'path = find_weights("clip_vit_b_32", None) or download_weights("clip_vit_b_32", None)',
   "tests/test_models_real_layout.py::test_load_models_from_a_real_weights_folder",
   why="CLIP in the weights folder ignored: an offline user can't start")

# --- widgets
_m("studio_drops_seed", "widgets", 'kw["seed"] = seed', 'kw["seed"] = None',
   "tests/test_studio_meaning.py::test_every_video_field_reaches_the_call",
   why="the studio's seed field does nothing")
_m("studio_drops_lr", "widgets", 'kw[k] = _num(p, k, kind, *option_range(k)[:2]) if p[k] is not None else _engine_default(k)',
   'kw[k] = _engine_default(k)',
   "tests/test_studio_meaning.py::test_every_video_field_reaches_the_call",
   why="the studio's learning rate does nothing")
_m("stop_button_ignored", "widgets", "return False if self.stop_requested.is_set() else None", "return None",
   "tests/test_studio_meaning.py::test_stop_ends_the_run_after_this_step",
   why="Stop doesn't stop")

# --- keyframe budgets (video, engine)
_m("section_not_given_long_budget", "musicvideo", 'if why[k] != "warm": steps.append(budget.first); continue',
   'if why[k] == "first": steps.append(budget.first); continue',
   "tests/test_budget.py::test_section_change_gets_the_long_budget",
   why="a cut to a new section gets the few steps of a warm start: the new section starts muddy")
_m("early_stop_never", "musicvideo", "patience = 0 if fixed else budget.patience", "patience = 0",
   "tests/test_budget.py::test_early_stop_ends_a_keyframe_on_a_plateau",
   why="every keyframe runs its whole budget: renders take longer for nothing")
_m("early_stop_at_once", "engine", "settled = patience > 0 and i >= min_iterations and i < iterations and plateau(history, patience, tolerance)",
   "settled = patience > 0 and i < iterations",
   "tests/test_budget.py::test_early_stop_ends_a_keyframe_on_a_plateau",
   why="keyframes stop after one step: the video barely follows the music")
_m("plateau_while_improving", "engine", "return bool(before - last <= tolerance * max(abs(before), 1e-12))",
   "return bool(last - before <= tolerance * max(abs(before), 1e-12))",
   "tests/test_budget.py::test_plateau_means_the_loss_stopped_improving",
   why="a keyframe stops while its loss is still falling")
_m("stop_reason_not_recorded", "musicvideo", "stop=res.reason, loss=res.loss)", 'stop="budget", loss=res.loss)',
   "tests/test_budget.py::test_early_stop_ends_a_keyframe_on_a_plateau",
   why="keyframes.json and the storyboard say every keyframe ran its budget")
_m("planned_steps_recorded_as_run", "musicvideo", "steps=res.iterations, budget=plan.steps[k]", "steps=plan.steps[k], budget=plan.steps[k]",
   "tests/test_budget.py::test_early_stop_ends_a_keyframe_on_a_plateau",
   why="the run folder claims steps that were never taken")

# --- analysis (audio)
_m("tempo_hint_ignored", "audio", 'self._features["loudness"], self.tempo_hint)', 'self._features["loudness"], None)',
   "tests/test_audio.py::test_a_tempo_hint_settles_the_octave",
   why="--bpm / bpm= recorded but the tempo stays in the wrong octave")
_m("section_confidence_inverted", "audio", "round(chosen[t] / (chosen[t] + threshold), 3)", "round(threshold / (chosen[t] + threshold), 3)",
   "tests/test_audio.py::test_a_clear_section_change_is_confident",
   why="the clearest changes are reported as the least sure")
_m("section_boundary_one_beat_late", "audio", "chosen[float(edges[i])] = float(score[i])",
   "chosen[float(edges[min(i + 1, len(edges) - 1)])] = float(score[i])",
   "tests/test_audio.py::test_section_change_on_its_beat",
   why="every section cut lands a beat after the change")
_m("section_novelty_one_scale", "audio", "np.minimum(long, _novelty(X, ks))", "long",
   "tests/test_analysis.py::test_false_boundaries_on_songs_without_a_change",
   "tests/test_analysis.py::test_held_back_score_stays_at_its_floor",
   why="fades and slow builds are reported as section changes (only the 6 s comparison, no abruptness check)")
_m("section_brightness_ignored", "audio", "brightness=X[:, 19:21])", "brightness=0 * X[:, 19:21])",
   "tests/test_analysis.py::test_kind_boundary_f_stays_at_its_floor",
   why="drums coming in or going out are missed again")

# --- weight sources
_m("dead_source_no_fallback", "weights", 'hub_down = f"the hub did not answer for {src.where}"\n            continue',
   'hub_down = f"the hub did not answer for {src.where}"\n            break',
   "tests/test_weights.py::test_mirror",
   why="the first source down and the download fails, though a mirror has the file")
_m("model_name_maps_to_default_vqgan", "weights", "MODEL_WEIGHTS = {**{m: list(vqgan_weights(m)) for m in VQGAN_MODELS}",
   "MODEL_WEIGHTS = {**{m: list(vqgan_weights(DEFAULT_VQGAN)) for m in VQGAN_MODELS}",
   "tests/test_weights.py::test_model_names_map_to_their_files",
   why="`metamusic weights download gumbel_f8_8192` fetches the default VQGAN's 1 GB instead")
_m("stale_safetensors_copy_read", "weights", 'logger.info("%s is older than %s; reading the checkpoint", conv, checkpoint); return None',
   "pass",
   "tests/test_weights.py::test_safetensors_copy_follows_a_changed_checkpoint",
   why="a replaced checkpoint is ignored: the old weights are used forever")

# --- colab, progress, widgets
_m("progress_lines_need_a_terminal", "core", "if not _is_terminal(sys.stderr):", "if False:",
   "tests/test_colab_progress.py::test_video_progress_lines_in_a_redirected_stderr",
   why="`!metamusic video ...` on Colab (or 2>log, nohup) shows nothing for minutes")
_m("upload_ipywidgets7_shape_ignored", "widgets", "if isinstance(value, dict):   # ipywidgets 7", "if False:   # ipywidgets 7",
   "tests/test_studio_meaning.py::test_uploads_in_both_ipywidgets_shapes",
   why="uploading a song in the studio fails on Colab (ipywidgets 7)")
_m("video_embedded_above_limit", "widgets", "def embeddable(self) -> bool: return self.path.stat().st_size <= self.max_mb * 2**20",
   "def embeddable(self) -> bool: return True",
   "tests/test_studio_meaning.py::test_a_video_above_the_limit_is_not_embedded",
   why="a long video is embedded as base64: the Colab tab freezes or disconnects")

# --- batch
_m("failed_job_stops_the_batch", "batch", "        tally.finish(i, render_job(job, models, cb))",
   "        tally.finish(i, r := render_job(job, models, cb))\n        if not r.ok: break",
   "tests/test_batch_here.py::test_a_bad_file_fails_alone",
   why="one bad file in a folder of songs and the rest are never rendered")
_m("dead_worker_chunk_dropped", "batch", "if lost[i] > retries: failures[i] = _died(e, lost[i])", "if lost[i] > retries: pass",
   "tests/test_notebooks.py::test_notebook[06a_batch.ipynb]",
   "tests/test_cluster.py::test_chunk_failing_for_good_is_named_and_a_rerun_redoes_only_it",
   why="a chunk whose worker died for good is forgotten: the video is joined without it, or fails later with no word of which chunk")
_m("first_failed_chunk_stops_the_others", "batch", 'if i in failures: emit(phase, i, parts, "failed for good; going on with the others")',
   'if i in failures: raise chunk_error(plan, phase, failures)',
   "tests/test_notebooks.py::test_notebook[06a_batch.ipynb]",
   "tests/test_cluster.py::test_chunk_failing_for_good_is_named_and_a_rerun_redoes_only_it",
   why="one failed chunk abandons the others mid-way: an hour of cluster time redone on the rerun")
_m("cluster_gpus_ignored", "batch", 'gpus = (1 if res.get("GPU", 0) >= 1 else 0) if gpus_per_worker is None else gpus_per_worker',
   "gpus = 0 if gpus_per_worker is None else gpus_per_worker",
   "tests/test_notebooks.py::test_notebook[06a_batch.ipynb]",
   why="on a cluster of GPUs every worker renders on the CPU: hours instead of minutes")
_m("lost_worker_part_not_requeued", "batch", "else: todo.insert(0, i); emit(", "else: failures[i] = _died(e, lost[i]); emit(",
   "tests/test_notebooks.py::test_notebook[06a_batch.ipynb]",
   "tests/test_cluster_nodes.py::test_a_lost_node_mid_chunk_and_the_video_still_equals_the_local_render",
   why="a node lost mid-chunk ends the render in an error although another worker could have taken the chunk over")
