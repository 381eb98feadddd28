"""The Colab tutorial, executed top to bottom in a real Jupyter kernel with a stand-in `google.colab` (tests/colab_stub) that
records what the notebook asks of Colab: the custom widget manager, Drive, an upload, downloads. No GPU here, so the tutorial
runs its tiny untrained models. The Colab tier (`make colab`) runs this on Colab's package stack; the plain test run executes
the same notebook in-process (tests/test_notebooks.py), off Colab."""
import json, os, sys
from pathlib import Path
import pytest

nbclient = pytest.importorskip("nbclient")
import nbformat

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not os.environ.get("METAMUSIC_COLAB_TIER"),
                                reason="runs in the Colab tier (make colab), on Colab's package stack")


def test_tutorial_on_a_stand_in_colab(tmp_path):
    import numpy as np, soundfile as sf
    sr = 16000
    t = np.arange(3 * sr) / sr
    sf.write(tmp_path / "my song.wav", (0.3 * np.sin(2 * np.pi * 330 * t)).astype("float32"), sr)
    nb = nbformat.read(ROOT / "nbs" / "tutorials" / "colab.ipynb", as_version=4)
    switched = 0
    for c in nb.cells:   # exercise the upload path: as a user who sets SONG = "upload"
        if c.cell_type == "code" and 'SONG = ""' in c.source: c.source = c.source.replace('SONG = ""', 'SONG = "upload"'); switched += 1
    assert switched == 1
    work, run_dir, log = tmp_path / "work", tmp_path / "cwd", tmp_path / "colab.jsonl"
    run_dir.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "colab_stub"), os.environ.get("PYTHONPATH", "")]),
               COLAB_STUB_LOG=str(log), COLAB_STUB_UPLOAD=str(tmp_path / "my song.wav"), METAMUSIC_WORK=str(work),
               OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    env.pop("IN_TEST", None)
    from jupyter_client.manager import KernelManager
    km = KernelManager(kernel_name="python3")
    client = nbclient.NotebookClient(nb, km=km, timeout=600, resources={"metadata": {"path": str(run_dir)}})
    client.execute(env=env)   # handed to the kernel's start
    calls = [json.loads(l) for l in log.read_text().splitlines()]
    names = [c["call"] for c in calls]
    assert names[:3] == ["output.enable_custom_widget_manager", "drive.mount", "files.upload"], names
    assert calls[1]["args"] == ["/content/drive"]
    downloads = [Path(c["args"][0]).name for c in calls if c["call"] == "files.download"]
    assert downloads == ["picture.png", "picture-storm.png", "video.mp4"], calls
    assert (work / "songs" / "my song.wav").is_file()                     # the upload is kept in the work folder
    for f in ("picture.png", "picture-storm.png", "video.mp4"): assert (work / "out" / f).is_file(), f
    assert (work / "out" / "video.run").is_dir()                          # the run folder a resume continues from
    html = [o.get("data", {}).get("text/html", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    videos = "".join(h for h in html if "metamusic-video" in h)
    assert videos.count("base64,") == 1, "the video is embedded exactly once"
    kinds = {o.get("output_type") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])}
    assert "error" not in kinds
