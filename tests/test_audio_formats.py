"Every audio format ffmpeg reads decodes to the right duration; every bad input is an AudioError naming the file."
import logging, subprocess
import numpy as np
import pytest
import torch
import imageio_ffmpeg

from metamusic.core import AudioError
from metamusic.audio import load_song, SR

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
DUR = 2.5  # seconds of every generated file

def ffmpeg(*args):
    subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)], check=True)

def tone(rate=44100, channels=1, dur=DUR):
    # a chirp-ish tone on every channel (aevalsrc gives any channel layout)
    expr = "|".join(["0.4*sin(2*PI*(220+40*t)*t)"] * channels)
    return ["-f", "lavfi", "-i", f"aevalsrc={expr}:s={rate}:d={dur}"]

# name: (file name, ffmpeg args after the inputs)
FORMATS = {
    "mp3": ("a.mp3", ["-c:a", "libmp3lame", "-b:a", "64k"]),
    "wav_s16": ("s16.wav", ["-c:a", "pcm_s16le"]),
    "wav_s24": ("s24.wav", ["-c:a", "pcm_s24le"]),
    "wav_s32": ("s32.wav", ["-c:a", "pcm_s32le"]),
    "wav_f32": ("f32.wav", ["-c:a", "pcm_f32le"]),
    "wav_u8": ("u8.wav", ["-c:a", "pcm_u8"]),
    "flac": ("a.flac", ["-c:a", "flac"]),
    "ogg_vorbis": ("a.ogg", ["-c:a", "libvorbis", "-q:a", "2"]),
    "opus": ("a.opus", ["-c:a", "libopus", "-b:a", "32k"]),
    "m4a_aac": ("a.m4a", ["-c:a", "aac", "-b:a", "64k"]),
}

@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("formats")
    out = {}
    for name, (fn, args) in FORMATS.items():
        ffmpeg(*tone(), *args, d / fn); out[name] = d / fn
    ffmpeg(*tone(channels=6), "-c:a", "pcm_s16le", d / "surround51.wav"); out["wav_5.1"] = d / "surround51.wav"
    ffmpeg(*tone(rate=96000), "-c:a", "pcm_s24le", d / "hires96k.wav"); out["wav_96k"] = d / "hires96k.wav"
    ffmpeg(*tone(channels=6), "-c:a", "flac", d / "surround51.flac"); out["flac_5.1"] = d / "surround51.flac"
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size=64x48:rate=10:duration={DUR}", *tone(),
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", d / "clip.mp4")
    out["video_mp4"] = d / "clip.mp4"
    return out

CASES = list(FORMATS) + ["wav_5.1", "wav_96k", "flac_5.1", "video_mp4"]

@pytest.mark.parametrize("name", CASES)
def test_format_decodes_to_right_duration(files, name):
    song = load_song(files[name])
    assert song.sr == SR and song.samples.dtype == np.float32 and song.samples.ndim == 1
    assert abs(song.duration - DUR) < 0.1, (name, song.duration)
    assert np.isfinite(song.samples).all()
    rms = float(np.sqrt(np.mean(song.samples ** 2)))
    assert 0.1 < rms < 0.6, (name, rms)  # the tone survived: not silence, not clipped noise
    assert song.path == files[name] and song.name == files[name].stem

LOSSLESS = {"wav_s16", "wav_s24", "wav_s32", "wav_f32", "wav_u8", "flac", "wav_5.1", "wav_96k", "flac_5.1"}

@pytest.mark.parametrize("name", sorted(LOSSLESS))
def test_lossless_files_have_the_exact_number_of_samples(files, name):
    "2.5 s at 44.1 or 96 kHz is exactly 40000 samples at 16 kHz: no encoder padding, no sample lost in the pipe."
    assert len(load_song(files[name]).samples) == round(DUR * SR)

@pytest.mark.parametrize("subtype,suffix", [("FLOAT", ".wav"), ("PCM_16", ".wav"), ("PCM_24", ".wav"), ("PCM_16", ".flac")])
def test_lossless_16k_decodes_exact_to_the_sample(tmp_path, subtype, suffix):
    "A 16 kHz mono lossless file needs no resampling: every sample comes back bit for bit, none shifted, none missing."
    import soundfile as sf
    x = (0.5 * np.random.default_rng(1).uniform(-1, 1, 2 * SR + 123)).astype(np.float32)
    path = tmp_path / f"exact{suffix}"
    sf.write(path, x, SR, subtype=subtype)
    ref, _ = sf.read(path, dtype="float32")            # the file's samples, read without ffmpeg
    song = load_song(path)
    assert len(song.samples) == len(ref) == len(x)
    assert np.array_equal(song.samples, ref), np.abs(song.samples - ref).max()

def test_start_and_duration_decode_only_that_part(files):
    song = load_song(files["flac"], start=1.0, duration=0.5)
    assert abs(song.duration - 0.5) < 0.01 and song.start == 1.0
    full = load_song(files["flac"])
    a = int(1.0 * SR)
    # the excerpt is the same audio as the full decode at that place (up to the resampler's edge)
    assert np.allclose(song.samples[800:7000], full.samples[a + 800:a + 7000], atol=2e-3)
    tail = load_song(files["flac"], start=2.0)
    assert abs(tail.duration - 0.5) < 0.05
    with pytest.raises(AudioError, match="a.flac.*start"): load_song(files["flac"], start=10)

def test_bad_inputs_name_the_file(tmp_path, files):
    cases = {}
    cases["missing.mp3"] = (tmp_path / "missing.mp3", "no such file")
    (tmp_path / "folder.wav").mkdir(); cases["folder.wav"] = (tmp_path / "folder.wav", "folder")
    (tmp_path / "empty.mp3").write_bytes(b""); cases["empty.mp3"] = (tmp_path / "empty.mp3", "empty")
    (tmp_path / "notes.mp3").write_text("these are my notes\n" * 40); cases["notes.mp3"] = (tmp_path / "notes.mp3", "not an audio file")
    (tmp_path / "noise.ogg").write_bytes(np.random.default_rng(0).bytes(5000)); cases["noise.ogg"] = (tmp_path / "noise.ogg", "")
    wav = files["wav_s16"].read_bytes()
    (tmp_path / "headeronly.wav").write_bytes(wav[:44]); cases["headeronly.wav"] = (tmp_path / "headeronly.wav", "")
    (tmp_path / "cut.m4a").write_bytes(files["m4a_aac"].read_bytes()[:300]); cases["cut.m4a"] = (tmp_path / "cut.m4a", "")
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", tmp_path / "silent_film.mp4")
    cases["silent_film.mp4"] = (tmp_path / "silent_film.mp4", "no audio track")
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=1:duration=1", "-frames:v", "1", tmp_path / "cover.png")
    cases["cover.png"] = (tmp_path / "cover.png", "not an audio file")
    for fn, (path, words) in cases.items():
        with pytest.raises(AudioError) as e: load_song(path)
        msg = str(e.value)
        assert fn in msg and words in msg, (fn, msg)
        assert "Traceback" not in msg and "\n" not in msg, msg

def test_truncated_file_decodes_what_is_there(tmp_path, files):
    # a file cut short mid-stream: the audio up to the cut is usable, and the user is told
    data = files["mp3"].read_bytes()
    (tmp_path / "half.mp3").write_bytes(data[:len(data) // 2])
    song = load_song(tmp_path / "half.mp3")
    assert 0.5 < song.duration < DUR
    assert np.isfinite(song.samples).all()

def test_damaged_file_decodes_with_a_warning_naming_it(tmp_path, files, caplog):
    data = bytearray(files["flac"].read_bytes())
    data[3000:20000] = bytes(17000)  # a stretch of the stream wiped out
    (tmp_path / "damaged.flac").write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="metamusic"):
        song = load_song(tmp_path / "damaged.flac")
    assert 0 < song.duration <= DUR + 0.1 and np.isfinite(song.samples).all()
    assert any("damaged.flac" in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records)

def test_nan_samples_are_repaired_with_a_warning(tmp_path, caplog):
    import soundfile as sf
    x = (0.3 * np.sin(np.arange(SR) / 10)).astype(np.float32); x[1000:1010] = np.nan; x[5000] = np.inf
    sf.write(tmp_path / "nan.wav", x, SR, subtype="FLOAT")
    with caplog.at_level(logging.WARNING, logger="metamusic"):
        song = load_song(tmp_path / "nan.wav")
    assert np.isfinite(song.samples).all() and abs(song.duration - 1.0) < 0.01
    assert any("non-finite" in r.getMessage() and "nan.wav" in r.getMessage() for r in caplog.records)

@pytest.fixture(scope="module")
def models():
    from metamusic.models import load_models
    return load_models("cpu", untrained="tiny")

@pytest.mark.parametrize("kind", ["silence", "short_clip"])
def test_silence_and_short_clip_segment_and_embed(tmp_path, models, kind):
    if kind == "silence": ffmpeg("-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo", "-t", 6, "-c:a", "pcm_s16le", tmp_path / "s.wav")
    else: ffmpeg(*tone(dur=0.3), "-c:a", "libmp3lame", tmp_path / "s.mp3")
    song = load_song(next(tmp_path.iterdir()))
    segs = song.segments()
    assert segs[0][0] == 0.0 and segs[-1][1] == song.duration
    assert all(a1 == b0 for (_, a1), (b0, _) in zip(segs[:-1], segs[1:]))
    if kind == "silence": assert song.tempo == 0.0 and len(song.beats) == 0 and len(segs) == 3  # fixed 2 s windows
    else: assert len(segs) == 1
    for s in (None, "whole", song.segments("fixed", seconds=0.1, min_len=0)):
        e = song.embed(models, s)
        assert e.shape[1] == 512 and torch.isfinite(e).all()
    t, c = song.embedding_curve(models)
    assert len(t) == len(c) and torch.isfinite(c).all()
