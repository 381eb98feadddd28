"""With the miniature world's trained models the pipeline means something, so these tests can check what it is for:
the loss falls with the shipped defaults, a picture shows what its song plays, a video's keyframes follow a section
change, a prompt's sign steers, and the benchmark's quality proxy tells 2 steps from 50. Nothing here trains.

Engine settings are the shipped defaults (`ENGINE_DEFAULTS`, `picture`'s iterations, `video`'s iterations per keyframe);
only the size is the world's scale: 64 × 64 pixels, 16 × 16 tokens of the factor-4 miniature VQGAN."""
import json
from pathlib import Path
import numpy as np
import pytest
import torch
from PIL import Image
from metamusic.models import load_models
from metamusic.miniature import (Attributes, CAPTIONS, caption_rank, caption_ranking, mean_colour, miniature_song,
                                 quality_proxy, render_image, song_attributes)
from metamusic.impression import picture
from metamusic.musicvideo import video
from metamusic.engine import spherical_distance

SIZE = (64, 64)
RED_DISC = Attributes.parse("large red disc on blue")
YELLOW_STRIPES = Attributes.parse("small yellow stripes on black")
COLOUR_TOLERANCE = 0.12  # largest per-channel difference of mean colours (in [0, 1])


@pytest.fixture(scope="module")
def mini():
    torch.set_num_threads(2)
    return load_models("cpu", untrained="miniature")


@pytest.fixture(scope="module")
def one_set_picture(mini):
    "A picture (default settings) of a song that plays one attribute set, with its loss after every step."
    song = miniature_song(RED_DISC, None, duration=3.0)
    losses = []
    img = picture(song, mini, size=SIZE, seed=0, preview=False, callback=lambda e: losses.append(e.loss))
    return img, losses


def test_miniature_models_load_and_are_marked(mini):
    assert mini.untrained == "miniature" and mini.names["vqgan"] == "miniature"
    assert mini.vqgan.factor == 4 and mini.clip.embed_dim == 512 and mini.wav2clip.embed_dim == 512


def test_loss_falls_with_the_shipped_picture_defaults(one_set_picture):
    _, losses = one_set_picture
    assert len(losses) == 300  # picture()'s default iterations
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert last < 0.7 * first, (first, last)


def test_picture_of_one_attribute_set_shows_it(mini, one_set_picture):
    img, _ = one_set_picture
    got, want = mean_colour(img), mean_colour(render_image(RED_DISC))
    assert np.abs(got - want).max() < COLOUR_TOLERANCE, (got, want)
    assert caption_ranking(mini, img)[0] == RED_DISC.caption, caption_ranking(mini, img)[:5]
    assert json.loads(img.info["metamusic"])["untrained"] == "miniature"  # outputs are marked


@pytest.fixture(scope="module")
def section_video(mini, tmp_path_factory):
    "A video (default settings) of a 12 s song whose attributes change at 6 s (long enough for the analysis to find the section)."
    song = miniature_song(RED_DISC, YELLOW_STRIPES, duration=12.0)
    out = video(song, mini, out=tmp_path_factory.mktemp("video") / "mini.mp4", size=SIZE, fps=4, seed=0, preview=False)
    run = out.with_name("mini.run")
    b = json.loads((run / "params.json").read_text())["boundaries"]
    keyframes = [Image.open(run / f"keyframe_{k:04d}.png").convert("RGB") for k in range(len(b))]
    return song, b, keyframes


def test_video_keyframes_follow_the_section_change(mini, section_video):
    song, b, keyframes = section_video
    change = 6.0
    assert song.sections == pytest.approx([0.0, change], abs=0.3)
    a, c = song_attributes(song)
    checked = 0
    for k in range(len(b) - 1):  # keyframe k is optimised toward the segment (b[k], b[k+1])
        if b[k + 1] <= change + 0.05: want, other = a, c
        elif b[k] >= change - 0.05: want, other = c, a
        else: continue  # a segment across the change hears both
        img = keyframes[k]
        col = mean_colour(img)
        d_want = np.abs(col - mean_colour(render_image(want))).max()
        d_other = np.abs(col - mean_colour(render_image(other))).max()
        assert d_want < d_other, (k, b[k], col)
        assert caption_rank(mini, img, want.caption) < caption_rank(mini, img, other.caption), (k, b[k])
        checked += 1
    assert checked >= 2, b


def test_bench_quality_proxy_ranks_2_steps_worse_than_50(mini, section_video, tmp_path):
    song, b, keyframes50 = section_video
    out = video(song, mini, out=tmp_path / "two.mp4", size=SIZE, fps=4, seed=0, preview=False, iterations_per_keyframe=2,
                segments=[(b[i], b[i + 1]) for i in range(len(b) - 1)])
    keyframes2 = [Image.open(tmp_path / "two.run" / f"keyframe_{k:04d}.png").convert("RGB") for k in range(len(b))]
    embeds = song.embed(mini, segments=[(b[i], b[i + 1]) for i in range(len(b) - 1)])
    targets = torch.cat([embeds, embeds[-1:]])  # the closing keyframe repeats the last segment's target
    p2, _ = quality_proxy(mini, keyframes2, targets)
    p50, _ = quality_proxy(mini, keyframes50, targets)
    assert p2 > p50 + 0.1, (p2, p50)


def test_text_prompt_sign_steers(mini):
    "A prompt with positive weight moves the picture toward its caption; with negative weight, away from it."
    song = miniature_song(RED_DISC, None, duration=3.0)
    text = YELLOW_STRIPES.caption
    with torch.no_grad(): t = mini.clip.encode_text([text])[0]
    def dist(prompts):
        img = picture(song, mini, prompts=prompts, size=SIZE, iterations=100, seed=0, preview=False)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)[None]
        with torch.no_grad(): e = mini.clip.encode_image(torch.nn.functional.interpolate(x, size=32, mode="bilinear", antialias=True))[0]
        return float(spherical_distance(e, t))
    base, toward, away = dist(None), dist(f"{text}:1"), dist(f"{text}:-1")
    assert toward < base - 0.05 and away > base + 0.02, (toward, base, away)
