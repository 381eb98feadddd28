"Batches and one song in chunks on a local Ray cluster (127.0.0.1, 2 CPU workers, tiny models): a bad file, outputs equal to a local render, a killed worker, a chunk failed for good, the CLI."
import os, signal, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from metamusic.audio import demo_song
from metamusic.batch import batch_jobs, local_only, render_batch, render_job
from metamusic.models import load_models
from metamusic.musicvideo import RunFolder, probe_video

MODELS = dict(untrained="tiny")
PICTURE = dict(size=(32, 32), iterations=3, cutn=2, seed=0)
# Keyframes every 0.125 s at most, a few steps each: long enough to kill a worker between keyframes, short enough for a test.
VIDEO = dict(size=(32, 32), fps=6, iterations_per_keyframe=4, cutn=2, seed=7, segments=dict(strategy="fixed", seconds=0.125))

@pytest.fixture(scope="module")
def ray(tmp_path_factory):
    "One Ray cluster for the module: this process is its driver, 2 CPUs, everything on 127.0.0.1."
    try: import ray
    except ImportError: pytest.skip('Ray is not installed (pip install "metamusic[cluster]"); the cluster tests need it')
    # Ray's raylet gives its agent processes 15 s to start. Where jupyter's jsonschema extras are installed (the dev
    # environment) every Ray process imports rfc3987_syntax, ~2.5 s of CPU that a busy 2-core machine stretches past
    # that limit; jsonschema treats it as optional, so the cluster's processes go without it.
    shim = tmp_path_factory.mktemp("shim") / "rfc3987_syntax"
    shim.mkdir(); (shim / "__init__.py").write_text("raise ImportError('left out of the test cluster: slow to import')\n")
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(shim.parent)] + ([saved] if saved else []))
    try:
        with local_only(ray): ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    finally:
        if saved is None: os.environ.pop("PYTHONPATH")
        else: os.environ["PYTHONPATH"] = saved
    yield ray
    ray.shutdown()

@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    "Two 2-second songs and a text file named like one."
    d, song = tmp_path_factory.mktemp("songs"), demo_song()
    for k, name in enumerate(["a", "b"]): sf.write(d / f"{name}.wav", song.excerpt(2.0 * k, 2.0).samples, song.sr)
    (d / "bad.wav").write_text("not audio")
    # librosa compiles its beat tracker with numba and caches it beside its code. Two workers compiling at once (or one
    # killed while writing the cache) can leave a broken cache that segfaults later readers: compile it here first.
    from metamusic.audio import load_song
    load_song(d / "a.wav").beats
    return d

@pytest.fixture
def one_thread():
    "The workers run one torch thread each; CPU results are bit-identical only at equal thread counts, so this process too."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

def render_here(jobs):
    "The same jobs rendered in this process, one after another, without Ray."
    models = load_models("cpu", untrained="tiny")
    return [render_job(j, models) for j in jobs]

def pixels(path):
    with Image.open(path) as im: return np.asarray(im.convert("RGB"))

def test_listens_only_on_localhost(ray):
    "The test cluster's node and its services are on 127.0.0.1 (nothing reachable from another machine)."
    nodes = ray.nodes()
    assert [n["NodeManagerAddress"] for n in nodes] == ["127.0.0.1"]
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
    own = _listening_sockets(os.getpid()) | set().union(*(_listening_sockets(p) for p in _descendants(os.getpid())))
    assert own and all(host in ("127.0.0.1", "::1") for host, _ in own), sorted(own)

def test_bad_file_named_good_ones_equal_local(ray, songs, tmp_path, one_thread):
    "A 3-song batch with one bad file: the good pictures are written, pixel for pixel as here; the bad one is named."
    jobs = batch_jobs([songs / "a.wav", songs / "bad.wav", songs / "b.wav"], out_dir=tmp_path / "ray", **PICTURE)
    (tmp_path / "ray").mkdir()
    events = []
    results = render_batch(jobs, MODELS, ray_address="auto", workers=2, threads=1, poll=0.2, callback=events.append)
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].bad_input and "bad.wav" in results[1].error
    assert events[-1].kind == "end" and "1 failed" in events[-1].line and "bad.wav" in events[-1].line
    assert {e.kind for e in events} >= {"start", "done", "failed", "end"}
    workers = {r.worker for r in results}
    assert len(workers) == 2 and f"pid {os.getpid()} " not in " ".join(workers)   # two Ray workers, not this process
    (tmp_path / "here").mkdir()
    here = render_here(batch_jobs([songs / "a.wav", songs / "b.wav"], out_dir=tmp_path / "here", **PICTURE))
    for r, h in zip([results[0], results[2]], here):
        assert np.array_equal(pixels(r.outputs["picture"]), pixels(h.outputs["picture"])), r.job.name

def test_killed_worker_job_is_redone_and_video_resumes(ray, songs, tmp_path, one_thread):
    "A worker SIGKILLed between keyframes: Ray restarts it, the job resumes from its run folder, the videos equal local ones."
    jobs = batch_jobs([songs / "a.wav", songs / "b.wav"], kinds="video", out_dir=tmp_path / "ray", **VIDEO)
    (tmp_path / "ray").mkdir()
    killed = {}
    def kill_first_job(ev):
        if killed or ev.kind != "progress" or ev.index != 0 or not ev.desc.startswith("keyframe"): return
        k = int(ev.desc.split()[1].split("/")[0]) - 1            # "keyframe 5/17": keyframes 0..3 are finished
        if k >= 3 and RunFolder(jobs[0].run_dir).finished() >= 2:
            os.kill(ev.pid, signal.SIGKILL); killed.update(pid=ev.pid, keyframe=k)
    results = render_batch(jobs, MODELS, ray_address="auto", workers=2, threads=1, poll=0.05, callback=kill_first_job)
    assert killed, "the first job finished its keyframes before it could be killed"
    assert all(r.ok for r in results), [r.error for r in results]
    first = results[0]
    assert f"pid {killed['pid']} " not in first.worker + " "      # finished by the restarted worker...
    assert first.resumed >= 2                                    # ...which took over the keyframes already made
    (tmp_path / "here").mkdir()
    here = render_here(batch_jobs([songs / "a.wav", songs / "b.wav"], kinds="video", out_dir=tmp_path / "here", **VIDEO))
    for r, h in zip(results, here):
        ours, theirs = RunFolder(r.job.run_dir), RunFolder(h.job.run_dir)
        n = theirs.finished()
        assert n >= 4 and ours.finished() == n
        for k in range(n): assert torch.equal(ours.load("keyframe", k)["zq"], theirs.load("keyframe", k)["zq"]), (r.job.name, k)
        assert probe_video(r.outputs["video"], hashes=True)["video"]["hashes"] == probe_video(h.outputs["video"], hashes=True)["video"]["hashes"]

def test_cli_batch_on_the_cluster(ray, songs, tmp_path):
    "`metamusic batch --ray ADDRESS` from another process joins the cluster: outputs on stdout, the bad file named, exit 2."
    address = ray.get_runtime_context().gcs_address
    cmd = [sys.executable, "-c", "import sys; from metamusic.cli import main; sys.exit(main())", "batch",
           str(songs / "a.wav"), str(songs / "bad.wav"), "--untrained", "--size", "32", "32", "--iterations", "2", "--cutn", "2",
           "--seed", "0", "-o", str(tmp_path), "--ray", address, "--poll", "1"]
    # The cluster is a one-machine one on 127.0.0.1; a new driver must see itself on that address too (else Ray looks
    # for a node at this machine's network address).
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert p.returncode == 2, p.stderr
    assert p.stdout.splitlines() == [f"picture: {tmp_path / 'a_untrained.png'}"], p.stdout
    assert "bad.wav" in p.stderr.splitlines()[-1] and "1 of 2 jobs done, 1 failed" in p.stderr, p.stderr
    assert (tmp_path / "a_untrained.png").is_file() and not (tmp_path / "bad_untrained.png").exists()

def test_without_ray_the_command_says_how_to_install(monkeypatch, capsys):
    "Without the extra, `--ray` is one line with the pip command, and exit code 2 (no cluster needed for this one)."
    from metamusic.cli import main
    monkeypatch.setitem(sys.modules, "ray", None)     # `import ray` fails as if it were not installed
    assert main(["batch", "demo", "--ray", "--untrained"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and 'pip install "metamusic[cluster]"' in err, err

# --- one song across workers
CHUNKED = dict(size=(32, 32), fps=6, iterations_per_keyframe=4, cutn=2, seed=7, segments=dict(strategy="fixed", seconds=0.125), chunks=2)

def test_chunked_video_equals_local_and_survives_a_killed_worker(ray, songs, tmp_path, one_thread):
    "One song in 2 chunks on 2 workers, one SIGKILLed mid-chunk: Ray redoes its task, the keyframes and frames equal the chunked render here."
    import json
    from metamusic.batch import cluster_video
    from metamusic.musicvideo import video
    out, killed, events = tmp_path / "ray" / "a.mp4", {}, []
    out.parent.mkdir()
    run = RunFolder(out.with_suffix(".run"))
    def kill_mid_chunk(ev):
        events.append(ev)
        if killed or ev.phase != "keyframes" or ev.part < 0 or ev.pid is None: return
        first, stop = json.loads(run.params_file.read_text())["chunks"][ev.part]
        if first < run.finished(first, stop) < stop:      # a keyframe of the chunk is finished, another is not
            os.kill(ev.pid, signal.SIGKILL); killed.update(pid=ev.pid, part=ev.part)
    path = cluster_video(songs / "a.wav", out, MODELS, ray_address="auto", workers=2, threads=1, poll=0.05, callback=kill_mid_chunk, **CHUNKED)
    assert killed, "the chunks finished before a worker could be killed"
    after = events[next(i for i, ev in enumerate(events) if ev.pid == killed["pid"]):]
    assert any(ev.part == killed["part"] and ev.pid not in (None, killed["pid"]) for ev in after)   # the chunk went on elsewhere
    assert os.getpid() not in {ev.pid for ev in events}                                              # on Ray workers, not here
    here = video(songs / "a.wav", load_models("cpu", untrained="tiny"), tmp_path / "here.mp4", preview=False, progress=False, **CHUNKED)
    ours, theirs = RunFolder(run.path), RunFolder(tmp_path / "here.run")
    chunks = json.loads(theirs.params_file.read_text())["chunks"]
    assert len(chunks) == 2 and ours.finished() == theirs.finished() == chunks[-1][1]
    for k in range(chunks[-1][1]): assert torch.equal(ours.load("keyframe", k)["zq"], theirs.load("keyframe", k)["zq"]), k
    a, b = probe_video(path, hashes=True), probe_video(here, hashes=True)
    assert a["video"]["n_frames"] == 12 and a["video"]["hashes"] == b["video"]["hashes"]
    assert a["audio"]["codec"] == "aac" and abs(a["audio"]["duration"] - 2.0) < 1 / 6
    assert not list(run.path.glob("segment*"))                        # the segments were joined and removed

def test_chunk_failing_for_good_is_named_and_a_rerun_redoes_only_it(ray, songs, tmp_path, one_thread):
    "With no retries, a worker SIGKILLed mid-chunk fails that chunk for good: the other chunk finishes, the error names song, chunk and cause; the same call then redoes only the failed chunk."
    import json
    from metamusic.batch import cluster_video
    from metamusic.musicvideo import ChunkError, video
    out, killed = tmp_path / "ray" / "a.mp4", {}
    out.parent.mkdir()
    run = RunFolder(out.with_suffix(".run"))
    def kill_mid_chunk(ev):
        if killed or ev.phase != "keyframes" or ev.part < 0 or ev.pid is None: return
        first, stop = json.loads(run.params_file.read_text())["chunks"][ev.part]
        if first < run.finished(first, stop) < stop:
            os.kill(ev.pid, signal.SIGKILL); killed.update(pid=ev.pid, part=ev.part)
    args = dict(ray_address="auto", workers=2, threads=1, poll=0.05, **CHUNKED)
    with pytest.raises(ChunkError) as e: cluster_video(songs / "a.wav", out, MODELS, retries=0, callback=kill_mid_chunk, **args)
    assert killed, "the chunks finished before a worker could be killed"
    chunks = json.loads(run.params_file.read_text())["chunks"]
    msg, (first, stop) = str(e.value), chunks[killed["part"]]
    assert str(songs / "a.wav") in msg and f"chunk {killed['part'] + 1}/2 (keyframes {first}..{stop - 1}" in msg, msg
    assert "its worker died once" in msg and str(run.path) in msg, msg
    other = chunks[1 - killed["part"]]
    assert run.finished(*other) == other[1] and first < run.finished(first, stop) < stop   # kept: the whole other chunk, part of this one
    kept = {k: run.load("keyframe", k)["zq"] for k in range(chunks[-1][1]) if run.finished(k, k + 1) == k + 1}
    assert not out.exists()
    path = cluster_video(songs / "a.wav", out, MODELS, **args)   # the same call, default retries: resumes
    for k, zq in kept.items(): assert torch.equal(run.load("keyframe", k)["zq"], zq), k                  # nothing finished was redone
    here = video(songs / "a.wav", load_models("cpu", untrained="tiny"), tmp_path / "here.mp4", preview=False, progress=False, **CHUNKED)
    assert probe_video(path, hashes=True)["video"]["hashes"] == probe_video(here, hashes=True)["video"]["hashes"]

def test_cli_video_on_the_cluster(ray, songs, tmp_path, one_thread):
    "`metamusic video SONG --chunks 2 --ray ADDRESS --run-root DIR` from another process: the video of `video(chunks=2)` here."
    from metamusic.musicvideo import video
    address = ray.get_runtime_context().gcs_address
    opts = dict(duration=2, fps=4, size=(32, 32), segments=dict(strategy="fixed", seconds=0.5), iterations_per_keyframe=2, cutn=2, seed=3)
    cmd = [sys.executable, "-c", "import sys; from metamusic.cli import main; sys.exit(main())", "video", str(songs / "b.wav"), "--untrained",
           "--duration", "2", "--fps", "4", "--size", "32", "32", "--segments", "fixed", "--every", "0.5", "--iterations-per-keyframe", "2",
           "--cutn", "2", "--seed", "3", "--chunks", "2", "--ray", address, "--workers", "2", "--threads", "1", "--poll", "1",
           "--run-root", str(tmp_path / "runs"), "-o", str(tmp_path / "b.mp4")]
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}   # as for `batch` above
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [f"video: {tmp_path / 'b.mp4'} (untrained models: the image is noise, not art)"], p.stdout
    assert "5 keyframes in 2 chunks on 2 workers" in p.stderr and "joining" in p.stderr, p.stderr   # chunks (0, 2), (2, 5)
    assert (tmp_path / "runs" / "b.run" / "params.json").is_file() and not (tmp_path / "b.run").exists()
    here = video(songs / "b.wav", load_models("cpu", untrained="tiny"), tmp_path / "here.mp4", chunks=2, preview=False, progress=False, **opts)
    a, b = probe_video(tmp_path / "b.mp4", hashes=True), probe_video(here, hashes=True)
    assert a["video"]["n_frames"] == 8 and a["video"]["hashes"] == b["video"]["hashes"]

# --- which sockets listen, from /proc (Linux)
def _descendants(pid):
    kids, todo = set(), [pid]
    while todo:
        p = todo.pop()
        try: found = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError: continue
        for c in map(int, found):
            if c not in kids: kids.add(c); todo.append(c)
    return kids

def _listening_sockets(pid):
    "(host, port) of each TCP socket process `pid` listens on."
    try: inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")
                   if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")}
    except OSError: return set()
    found = set()
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try: lines = Path(table).read_text().splitlines()[1:]
        except OSError: continue
        for line in lines:
            f = line.split()
            if f[3] != "0A" or f[9] not in inodes: continue      # 0A: LISTEN
            addr, port = f[1].split(":")
            found.add((_host(addr, v6), int(port, 16)))
    return found

def _host(hexaddr, v6):
    import ipaddress
    raw = bytes.fromhex(hexaddr)
    if not v6: return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    a = ipaddress.IPv6Address(words)
    return str(a.ipv4_mapped) if a.ipv4_mapped else str(a)
