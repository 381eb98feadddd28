"""Run the mutation suite: apply each break in `mutations.py` to a copy of the repository (module and notebook),
run the tests that should catch it, and print a table. Exit 0 only when every mutation is caught.

    python mutate/run.py                 # all of them (what `make mutate` runs)
    python mutate/run.py drift seed      # only mutations whose name contains one of these words
    python mutate/run.py --check         # only check that every snippet is found exactly once (no tests run)

First the named tests run once on the unmutated copy (a test failing there would "catch" everything). Each mutation
then runs pytest -x over its tests in a child forked from one warm process (torch, librosa, open_clip imported once;
the package itself is imported fresh from the copy in every child), one at a time; `--no-fork` starts a fresh
interpreter per mutation instead.
"""
from __future__ import annotations
import argparse, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from mutations import MUTATIONS, apply, SnippetError  # noqa: E402


def copy_repo(dest: Path) -> Path:
    "The files git knows about (as they are on disk now, edits included), copied to `dest`; no .venv, no caches."
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if not src.is_file() or f.startswith(".venv/"): continue
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / f)
    return dest


def environment(copy: Path) -> dict:
    "The copy's package first on the path; no bytecode (a restored file of equal size and mtime must not reuse a stale .pyc)."
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"))
    return env


def check_import(copy: Path, env: dict):
    "Fail loudly unless `import metamusic` in the copy imports the copy (the venv has an editable install of the original)."
    r = subprocess.run([sys.executable, "-c", "import metamusic; print(metamusic.__file__)"], cwd=copy, env=env,
                       capture_output=True, text=True)
    got = r.stdout.strip()
    if r.returncode != 0 or not Path(got).resolve().is_relative_to(copy.resolve()):
        sys.exit(f"mutate: the copy's package is not what gets imported (got {got!r}; {r.stderr.strip()[-500:]})")


def run_tests(copy: Path, env: dict, tests: list[str], timeout: int) -> tuple[bool, str, float]:
    "(caught, by which test, seconds): pytest -x over `tests`; caught when one of them fails."
    t0 = time.monotonic()
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "--no-header", "-rfE",
           "--tb=line", *tests]
    try: r = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired: return True, f"(timed out after {timeout} s: counts as caught, but make it faster)", time.monotonic() - t0
    secs = time.monotonic() - t0
    out = r.stdout + r.stderr
    if r.returncode == 0: return False, "", secs
    if r.returncode in (1,):
        failed = [l.split(" ")[1] for l in out.splitlines() if l.startswith(("FAILED ", "ERROR ")) and len(l.split(" ")) > 1]
        return True, failed[0] if failed else "(a test failed)", secs
    # 2: interrupted/collection error, 3: internal error, 4: usage error, 5: no tests collected
    return None, f"pytest exit {r.returncode}: {out.strip().splitlines()[-1] if out.strip() else ''}", secs


def warm_up():
    """Import the heavy dependencies once in this process (torch, librosa's lazy submodules, open_clip, kornia ...) by
    running a little of the ORIGINAL package, then forget the package itself: forked children import the copy's."""
    import torch  # noqa: F401
    sys.path.insert(0, str(ROOT))
    import metamusic, metamusic.audio, metamusic.models, metamusic.musicvideo, metamusic.widgets, metamusic.cli  # noqa: F401
    from metamusic.audio import demo_song
    from metamusic.models import load_models
    from metamusic.engine import MakeCutouts, AUGMENTS
    song = demo_song().excerpt(0, 2)
    song.segments(); song.embed(load_models("cpu", untrained="tiny"), "whole")
    MakeCutouts(16, 2, augments=tuple(AUGMENTS))(torch.rand(1, 3, 32, 32))
    import pytest, hypothesis, soundfile, yaml, matplotlib.pyplot  # noqa: F401
    for name in [n for n in sys.modules if n == "metamusic" or n.startswith("metamusic.")]: del sys.modules[name]
    sys.path.remove(str(ROOT))


def run_tests_forked(copy: Path, env: dict, tests: list[str], timeout: int) -> tuple[bool, str, float]:
    "As `run_tests`, in a forked child of this warm process: no interpreter start, no imports of torch & co. per mutation."
    t0 = time.monotonic()
    log = copy.parent / "pytest.log"
    pid = os.fork()
    if pid == 0:   # child: the copy's package, pytest in-process, output to the log
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1); os.dup2(fd, 2)
            os.chdir(copy); os.environ.clear(); os.environ.update(env)
            sys.path.insert(0, str(copy))
            import importlib; importlib.invalidate_caches()
            import metamusic
            if not Path(metamusic.__file__).resolve().is_relative_to(copy.resolve()):
                print(f"mutate: imported {metamusic.__file__}, not the copy"); os._exit(4)
            import pytest
            rc = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "--no-header", "-rfE", "--tb=line", *tests])
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(int(rc))
        except BaseException as e:
            print(f"mutate: child failed: {e!r}", flush=True); os._exit(4)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done: break
        if time.monotonic() > deadline:
            os.kill(pid, 9); os.waitpid(pid, 0)
            return True, f"(timed out after {timeout} s: counts as caught, but make it faster)", time.monotonic() - t0
        time.sleep(0.2)
    rc = os.waitstatus_to_exitcode(status)
    out = log.read_text(errors="replace")
    secs = time.monotonic() - t0
    if rc == 0: return False, "", secs
    if rc == 1:
        failed = [l.split(" ")[1] for l in out.splitlines() if l.startswith(("FAILED ", "ERROR ")) and len(l.split(" ")) > 1]
        return True, failed[0] if failed else "(a test failed)", secs
    return None, f"pytest exit {rc}: {out.strip().splitlines()[-1] if out.strip() else ''}", secs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("only", nargs="*", help="run only mutations whose name contains one of these words")
    ap.add_argument("--check", action="store_true", help="only check that every snippet is found exactly once")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per mutation (default: %(default)s)")
    ap.add_argument("--keep", action="store_true", help="keep the copy (its path is printed)")
    ap.add_argument("--no-fork", action="store_true", help="a fresh interpreter per mutation (slower; default: forks of a warm process)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the first run of all the named tests without any mutation")
    args = ap.parse_args(argv)
    # one thread per process: the machine's cores are shared, and a forked child must not inherit a busy OpenMP pool
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"): os.environ.setdefault(k, "1")
    muts = [m for m in MUTATIONS if not args.only or any(w in m.name for w in args.only)]
    if not muts: sys.exit(f"mutate: no mutation matches {args.only}")

    stale = []
    for m in muts:
        try: apply(m, ROOT, dry_run=True)
        except SnippetError as e: stale.append(f"  {m.name}: {e}")
    if stale:
        print("mutate: SNIPPET NOT FOUND (the code changed since the mutation was written; refresh its snippet in "
              "mutate/mutations.py):\n" + "\n".join(stale), file=sys.stderr)
        return 2
    if args.check:
        print(f"mutate: all {len(muts)} snippets found exactly once in their module and notebook"); return 0

    tmp = Path(tempfile.mkdtemp(prefix="metamusic-mutate-"))
    copy = copy_repo(tmp / "repo")
    env = environment(copy)
    check_import(copy, env)
    runner = run_tests
    if not args.no_fork and hasattr(os, "fork"):
        t = time.monotonic(); warm_up(); runner = run_tests_forked
        print(f"mutate: warm process ready in {time.monotonic() - t:.0f} s", flush=True)
    print(f"mutate: {len(muts)} mutations, tests run in {copy}", flush=True)
    rows, t_all = [], time.monotonic()
    try:
        if not args.no_baseline:   # a test that fails without any mutation would "catch" everything
            tests = list(dict.fromkeys(t for m in muts for t in m.tests))
            ok, by, secs = runner(copy, env, tests, args.timeout * 2)
            print(f"baseline: {len(tests)} tests without mutation: {'FAILED ' + by if ok or ok is None else 'pass'} ({secs:.0f} s)", flush=True)
            if ok is not False:
                print("mutate: the tests must pass on the unmutated copy first; fix that before reading any table", file=sys.stderr)
                return 2
        for i, m in enumerate(muts, 1):
            originals = apply(m, copy)
            for d in copy.rglob("__pycache__"): shutil.rmtree(d, ignore_errors=True)
            try: caught, by, secs = runner(copy, env, m.tests, args.timeout)
            finally:
                for path, text in originals.items(): path.write_text(text)
            mark = {True: "caught", False: "SURVIVED", None: "ERROR"}[caught]
            print(f"[{i}/{len(muts)}] {m.name}: {mark} {by} ({secs:.0f} s)", flush=True)
            rows.append((m, caught, by, secs))
    finally:
        if not args.keep: shutil.rmtree(tmp, ignore_errors=True)
        else: print(f"mutate: copy kept at {copy}")

    w = max(len(m.name) for m, *_ in rows)
    print(f"\n| {'mutation':{w}} | caught | by | s |\n|{'-' * (w + 2)}|--------|----|---|")
    for m, caught, by, secs in rows:
        print(f"| {m.name:{w}} | {'yes' if caught else 'NO' if caught is False else 'error'} | {by} | {secs:.0f} |")
    survived = [m.name for m, c, *_ in rows if c is False]
    errors = [m.name for m, c, *_ in rows if c is None]
    print(f"\n{sum(c is True for _, c, *_ in rows)}/{len(rows)} caught in {time.monotonic() - t_all:.0f} s"
          + (f"; SURVIVED: {', '.join(survived)}" if survived else "") + (f"; ERRORS: {', '.join(errors)}" if errors else ""))
    return 0 if not survived and not errors else 1


if __name__ == "__main__": sys.exit(main())
