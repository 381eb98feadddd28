"""Weights from their sources, against a stand-in Hugging Face hub on 127.0.0.1 (tests/_hub.py): the default download set,
model-name arguments, a dead first source, `weights list --check`, and `demo` choosing real models when every one can be had.

Every other request goes to a proxy on a closed local port, so nothing here can reach the internet whatever the machine."""
import json, os, socket, subprocess, sys
from pathlib import Path
import pytest
from _hub import StandInHub

TESTS = Path(__file__).parent
CLIP_REPO = "timm/vit_base_patch32_clip_224.openai"


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def offline_env(tmp: Path, hub_url: str | None = None) -> dict:
    "Environment for a child: hub at `hub_url`, caches and home under `tmp`, every other request refused."
    proxy = f"http://127.0.0.1:{_closed_port()}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HOME": str(tmp / "home"), "HF_HOME": str(tmp / "hf"),
           "HF_HUB_DISABLE_TELEMETRY": "1", "METAMUSIC_WEIGHTS": str(tmp / "ckpts"), "no_proxy": "127.0.0.1,localhost",
           "NO_PROXY": "127.0.0.1,localhost", **{k: proxy for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}}
    for k in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TORCH_FORCE_WEIGHTS_ONLY_LOAD", "METAMUSIC_MIRROR"): env.pop(k, None)
    if hub_url: env.update(HF_ENDPOINT=hub_url, METAMUSIC_MIRROR=hub_url + "/files")
    return env


CLI_RUNS = r"""
import contextlib, io, json, os, sys
sys.path.insert(0, {tests!r})
from _hub import StandInHub
hub = StandInHub().__enter__()
os.environ.update(HF_ENDPOINT=hub.url, METAMUSIC_MIRROR=hub.url + "/files")   # before huggingface_hub is imported
from metamusic.cli import main
def run(*argv):
    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e): code = main(list(argv))
    return dict(code=code, out=o.getvalue(), err=e.getvalue(), requests=list(hub.requests))
res = dict(url=hub.url)
res["none"] = run("weights", "download", "ViT-B-32")       # an empty hub and mirror: no source answers
# the hub has only the .bin (its first file, the safetensors, is gone); the mirror folder has the other files
hub.hub[({repo!r}, "open_clip_pytorch_model.bin")] = b"clip weights " * 1000
files = {{"vqgan_imagenet_f16_16384.yaml": b"model: {{}}\n", "vqgan_imagenet_f16_16384.ckpt": os.urandom(50_000), "Wav2CLIP.pt": os.urandom(20_000)}}
hub.plain.update(files)
res["default"] = run("weights", "download")              # no names: what the default models need
res["files_equal"] = all(open(os.path.join(os.environ["METAMUSIC_WEIGHTS"], n), "rb").read() == d for n, d in files.items())
res["names"] = run("weights", "download", "imagenet_f16_16384", "ViT-B-32", "wav2clip")   # model names; all present now
res["list"] = run("weights", "list", "--check")
print(json.dumps(res))
"""


def test_default_download_names_dead_source_and_list(tmp_path):
    r = subprocess.run([sys.executable, "-c", CLI_RUNS.format(tests=str(TESTS), repo=CLIP_REPO)], capture_output=True, text=True,
                       env=offline_env(tmp_path), timeout=400)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    url = res["url"]

    none = res["none"]   # every source of CLIP fails, each with its reason; exit 1, no traceback
    assert none["code"] == 1 and "Traceback" not in none["err"], none
    for word in (f"hub:{CLIP_REPO}/open_clip_model.safetensors", f"hub:{CLIP_REPO}/open_clip_pytorch_model.bin",
                 "openaipublic.azureedge.net", "refused", str(tmp_path / "ckpts" / "ViT-B-32.pt")):
        assert word in none["err"], (word, none["err"])

    d = res["default"]
    assert d["code"] == 0 and res["files_equal"], d
    clip_line = next(l for l in d["out"].splitlines() if l.startswith("clip_vit_b_32:"))
    clip_path = Path(clip_line.split(": ", 1)[1])
    assert clip_path.read_bytes() == b"clip weights " * 1000
    assert str(tmp_path / "hf") in str(clip_path)   # the hub client's cache (HF_HOME), not a second copy
    asked = [p for m, p in d["requests"][len(none["requests"]):] if "ViT-B-32" in p or CLIP_REPO in p]
    assert asked[:2] == ["/files/ViT-B-32.pt", f"/{CLIP_REPO}/resolve/main/open_clip_model.safetensors"], asked   # dead ones first

    n = res["names"]   # model names as every other command takes them; nothing fetched again
    assert n["code"] == 0, n
    assert [l.split(":")[0] for l in n["out"].splitlines()] == [
        "vqgan_imagenet_f16_16384.yaml", "vqgan_imagenet_f16_16384.ckpt", "clip_vit_b_32", "wav2clip"]
    assert n["requests"] == d["requests"]

    out = res["list"]["out"]   # where each file is, and which source a download would use
    clip = out[out.index("  clip_vit_b_32:"):]
    assert f"here: {clip_path}" in clip
    lines = [l.strip() for l in clip.splitlines() if l.strip()[:2] in ("1.", "2.", "3.", "4.")]
    assert lines[0].startswith(f"1. {url}/files/ViT-B-32.pt") and "fails: HTTP 404" in lines[0], lines
    assert lines[1].startswith(f"2. hub:{CLIP_REPO}/open_clip_model.safetensors") and "fails:" in lines[1], lines
    assert lines[2].startswith(f"3. hub:{CLIP_REPO}/open_clip_pytorch_model.bin") and "a download would use this" in lines[2], lines
    w2c = out[out.index("  wav2clip:"):out.index("  clip_vit_b_32:")]
    assert f"1. {url}/files/Wav2CLIP.pt  [answers" in w2c and "here: " + str(tmp_path / "ckpts" / "Wav2CLIP.pt") in w2c


DEMO = r"""
import argparse, contextlib, io, json, os, sys
sys.path.insert(0, {tests!r})
from _hub import StandInHub
hub = StandInHub().__enter__()
os.environ.update(HF_ENDPOINT=hub.url, METAMUSIC_MIRROR=hub.url + "/files")   # before huggingface_hub is imported
import torch, yaml
from safetensors.torch import save
from metamusic.models import TINY_VQGAN, Wav2CLIP, vqgan_from_config
torch.manual_seed(0)
vq = vqgan_from_config({{"model": TINY_VQGAN}})   # a small VQGAN under the default model's name: its yaml says how big
hub.plain["vqgan_imagenet_f16_16384.yaml"] = yaml.safe_dump({{"model": TINY_VQGAN}}).encode()
buf = io.BytesIO(); torch.save({{"epoch": 1, "state_dict": {{**vq.state_dict(), "loss.logvar": torch.zeros(())}}}}, buf)
hub.plain["vqgan_imagenet_f16_16384.ckpt"] = buf.getvalue()
buf = io.BytesIO(); torch.save(Wav2CLIP().state_dict(), buf); hub.plain["Wav2CLIP.pt"] = buf.getvalue()
from metamusic.cli import _demo_models
args = argparse.Namespace(untrained=False, device="cpu", weights_dir=None)
def demo():
    err = io.StringIO()
    with contextlib.redirect_stderr(err): m = _demo_models(args)
    return m, err.getvalue()
res = {{}}
m, err = demo()   # CLIP is on no source: only it is named, with why
res["missing"] = dict(untrained=m.untrained, err=err)
import open_clip
clip = open_clip.create_model("ViT-B-32", pretrained=None)
hub.hub[({repo!r}, "open_clip_model.safetensors")] = save({{k: v.half().contiguous() for k, v in clip.state_dict().items()}})
m, err = demo()   # every model can be had now: the real (fabricated) ones are used
got = m.clip.model.state_dict()
same = all(torch.equal(got[k], v.half().float()) for k, v in clip.state_dict().items())
res["all"] = dict(untrained=m.untrained, names=m.names, err=err, clip_same=same,
                  vq_same=all(torch.equal(m.vqgan.state_dict()[k], v) for k, v in vq.state_dict().items()),
                  quick_gelu=type(m.clip.model.visual.transformer.resblocks[0].mlp.gelu).__name__)
print(json.dumps(res))
"""


def test_demo_uses_real_models_when_all_can_be_had(tmp_path):
    env = offline_env(tmp_path)
    r = subprocess.run([sys.executable, "-c", DEMO.format(tests=str(TESTS), repo=CLIP_REPO)], capture_output=True, text=True,
                       env=env, timeout=400)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    miss = res["missing"]
    assert miss["untrained"] == "miniature"   # the fallback: the trained miniature world
    assert "CLIP ViT-B-32 can't be had" in miss["err"] and "EntryNotFound" in miss["err"] and "refused" in miss["err"], miss["err"]
    assert "VQGAN imagenet_f16_16384 can't" not in miss["err"] and "Wav2CLIP can't" not in miss["err"], miss["err"]
    done = res["all"]
    assert done["untrained"] is None and "can't be had" not in done["err"], done
    assert done["clip_same"] and done["vq_same"] and done["quick_gelu"] == "QuickGELU", done
    assert str(tmp_path / "hf") in done["names"]["clip_weights"], done["names"]
    ckpts = tmp_path / "ckpts"
    # the first load kept safetensors copies beside the pickled checkpoints
    assert (ckpts / "vqgan_imagenet_f16_16384.safetensors").is_file() and (ckpts / "Wav2CLIP.safetensors").is_file()
