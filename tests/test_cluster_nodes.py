"One song in chunks across two Ray nodes (two raylets on 127.0.0.1, one CPU each, each with its own object store and worker pool): the workers land on both nodes and the frames equal the chunked render here."
import os
import pytest
import soundfile as sf
import torch

from metamusic.audio import demo_song
from metamusic.batch import cluster_video, local_only
from metamusic.models import load_models
from metamusic.musicvideo import probe_video, video

CHUNKED = dict(size=(32, 32), fps=6, iterations_per_keyframe=4, cutn=2, seed=7, segments=dict(strategy="fixed", seconds=0.125), chunks=2)

@pytest.fixture(scope="module")
def two_nodes():
    "A head node and a second node, one CPU each, so that two one-CPU workers must sit on different nodes."
    try:
        import ray
        from ray.cluster_utils import Cluster
    except ImportError: pytest.skip('Ray is not installed (pip install "metamusic[cluster]"); the cluster tests need it')
    with local_only(ray):
        cluster = Cluster(initialize_head=True, head_node_args=dict(num_cpus=1, include_dashboard=False, node_ip_address="127.0.0.1"))
        cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
    yield ray
    ray.shutdown(); cluster.shutdown()

def _parent(pid: int) -> int:
    "The parent process: a Ray worker's is the raylet of its node."
    with open(f"/proc/{pid}/stat") as f: return int(f.read().rsplit(")", 1)[1].split()[1])

def test_chunks_on_two_nodes_equal_the_local_render(two_nodes, tmp_path):
    ray = two_nodes
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    song = demo_song()
    sf.write(tmp_path / "a.wav", song.excerpt(0.0, 2.0).samples, song.sr)
    raylets = {}
    def note_node(ev):
        if ev.pid and ev.pid not in raylets:
            try: raylets[ev.pid] = _parent(ev.pid)
            except OSError: pass   # the worker is already gone
    (tmp_path / "ray").mkdir()
    n = torch.get_num_threads(); torch.set_num_threads(1)   # bit-identical only at equal thread counts
    try:
        path = cluster_video(tmp_path / "a.wav", tmp_path / "ray" / "a.mp4", dict(untrained="tiny"), ray_address="auto", workers=2,
                             threads=1, poll=0.05, callback=note_node, **CHUNKED)
        here = video(tmp_path / "a.wav", load_models("cpu", untrained="tiny"), tmp_path / "here.mp4", preview=False, progress=False, **CHUNKED)
    finally: torch.set_num_threads(n)
    assert os.getpid() not in raylets
    assert len(set(raylets.values())) == 2, raylets   # two workers, under two different raylets: one on each node
    a, b = probe_video(path, hashes=True), probe_video(here, hashes=True)
    assert a["video"]["n_frames"] == 12 and a["video"]["hashes"] == b["video"]["hashes"]
