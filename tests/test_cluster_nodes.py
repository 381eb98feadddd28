"One song in chunks across two Ray nodes (two raylets on 127.0.0.1, one CPU each, each with its own object store and worker pool): the workers land on both nodes and the frames equal the chunked render here, also when the second node is lost mid-chunk."
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
        cluster.second = cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
    ray.cluster = cluster   # for the test that takes a node down
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

def test_a_lost_node_mid_chunk_and_the_video_still_equals_the_local_render(two_nodes, tmp_path):
    "The second node goes down (its raylet and workers killed) while its worker is mid-chunk: the chunk moves to the head node's worker, resumes from the shared run folder, and the frames equal the chunked render here."
    import json
    from metamusic.musicvideo import RunFolder
    ray, cluster = two_nodes, two_nodes.cluster
    song = demo_song()
    sf.write(tmp_path / "b.wav", song.excerpt(2.0, 2.0).samples, song.sr)
    (tmp_path / "ray").mkdir()
    run, node = RunFolder(tmp_path / "ray" / "b.run"), cluster.second
    raylet, lost, events = node.all_processes["raylet"][0].process.pid, {}, []
    def lose_the_node(ev):
        events.append(ev)
        if lost or ev.phase != "keyframes" or ev.part < 0 or ev.pid is None: return
        first, stop = json.loads(run.params_file.read_text())["chunks"][ev.part]
        try: on_it = _parent(ev.pid) == raylet
        except OSError: return
        if on_it and first < run.finished(first, stop) < stop:
            cluster.remove_node(node, allow_graceful=False); lost.update(pid=ev.pid, part=ev.part)
    n = torch.get_num_threads(); torch.set_num_threads(1)
    try:
        path = cluster_video(tmp_path / "b.wav", tmp_path / "ray" / "b.mp4", dict(untrained="tiny"), ray_address="auto", workers=2,
                             threads=1, poll=0.05, callback=lose_the_node, **CHUNKED)
        here = video(tmp_path / "b.wav", load_models("cpu", untrained="tiny"), tmp_path / "here.mp4", preview=False, progress=False, **CHUNKED)
    finally: torch.set_num_threads(n)
    assert lost, "the chunks finished before the node could be lost"
    assert any(ev.part == lost["part"] and "lost" in ev.desc for ev in events), [ev.line for ev in events]
    a, b = probe_video(path, hashes=True), probe_video(here, hashes=True)
    assert a["video"]["n_frames"] == 12 and a["video"]["hashes"] == b["video"]["hashes"]
