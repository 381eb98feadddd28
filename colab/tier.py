"""The Colab tier of `make test`: metamusic on Google Colab's package stack (colab/constraints.txt, Python 3.13).

1. A virtual environment (.venv-colab) with Colab's versions, built once with uv and re-synced each run (cheap when nothing changed).
2. `pip install -e .[app]` into it, as a Colab user's install cell does (no constraints: pip is free to upgrade), then a check that
   none of the constrained packages changed version. Skipped while pyproject.toml and the constraints are unchanged since it passed.
3. The tests that need Colab's stack: the widget-kernel tests and the Colab tutorial run in a real kernel with a stand-in
   `google.colab` (tests/colab_stub).
Without Python 3.13 the tier is skipped, saying so.
"""
import argparse, hashlib, json, os, re, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS, TOOLS = ROOT / "colab" / "constraints.txt", ROOT / "colab" / "tools.txt"
TESTS = ["tests/test_widgets_kernel.py", "tests/test_colab_tutorial.py"]

def say(msg): print(f"colab tier: {msg}", flush=True)

def run(cmd, **kw):
    say("$ " + " ".join(map(str, cmd)))
    return subprocess.run([str(c) for c in cmd], **kw)

def canon(name): return re.sub(r"[-_.]+", "-", name).lower()

def pins() -> dict:
    "name -> version of each `name==version` line of the constraints file."
    out = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, ver = line.partition("==")
            out[canon(name)] = ver.strip()
    return out

def find_python313():
    "The path of a Python 3.13 interpreter, or None: python3.13 on PATH, else pyenv's 3.13."
    tries = [os.environ, dict(os.environ, PYENV_VERSION="3.13.0")]
    for env in tries:
        if not shutil.which("python3.13", path=env.get("PATH")): continue
        r = subprocess.run(["python3.13", "-c", "import sys; print(sys.version_info[:2] == (3, 13)); print(sys.executable)"],
                           env=env, capture_output=True, text=True)
        lines = r.stdout.split()
        if r.returncode == 0 and lines and lines[0] == "True": return lines[1]
    found = sorted(Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")).glob("versions/3.13*/bin/python3.13"))
    return str(found[-1]) if found else None

def installed(py) -> dict:
    r = subprocess.run([str(py), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"], capture_output=True, text=True, check=True)
    return {canon(p["name"]): p["version"] for p in json.loads(r.stdout)}

def digest(*paths) -> str:
    h = hashlib.sha256()
    for p in paths: h.update(Path(p).read_bytes())
    return h.hexdigest()

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", default=str(ROOT / ".venv-colab"))
    ap.add_argument("--uv", default=shutil.which("uv") or str(Path(sys.executable).parent / "uv"))
    ap.add_argument("--no-tests", action="store_true", help="only the install check")
    args = ap.parse_args()
    t0 = time.time()
    py313 = find_python313()
    if py313 is None:
        say("SKIPPED: Python 3.13 was not found (try `pyenv install 3.13`); Colab's stack was NOT checked")
        return 0
    if not (args.uv and Path(args.uv).exists()):
        say(f"FAILED: uv not found ({args.uv}); it comes with the dev extra: make install"); return 1
    venv = Path(args.venv); py = venv / "bin" / "python"
    if not py.exists():
        if run([args.uv, "venv", "--seed", "--python", py313, venv]).returncode: return 1
    # 1. Colab's stack: pins and test tools. uv re-installs any pin a failed earlier check left changed.
    if run([args.uv, "pip", "install", "--python", py, "-r", CONSTRAINTS, "-r", TOOLS, "-c", CONSTRAINTS]).returncode:
        say("FAILED: could not install Colab's stack"); return 1
    # 2. metamusic installed as on Colab, then: did it change any of Colab's packages?
    stamp, key = venv / ".colab-install-ok", digest(ROOT / "pyproject.toml", CONSTRAINTS, TOOLS)
    if stamp.exists() and stamp.read_text() == key:
        say("install check: passed before with this pyproject.toml and these constraints")
    else:
        stamp.unlink(missing_ok=True)
        before = installed(py)
        r = run([py, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off", "-e", f"{ROOT}[app]"], cwd=ROOT)
        if r.returncode: say("FAILED: `pip install metamusic[app]` failed on Colab's stack (output above)"); return 1
        after = installed(py)
        changed = [f"{n} {before.get(n)} -> {after.get(n)}" for n in pins() if before.get(n) != after.get(n)]
        wrong = [f"{n} {before.get(n)} (Colab has {v})" for n, v in pins().items() if before.get(n) != v]
        if changed or wrong:
            say("FAILED: installing metamusic changes Colab's preinstalled packages: " + "; ".join(changed + wrong))
            say("loosen the bounds in pyproject.toml so that Colab's versions (colab/constraints.txt) satisfy them")
            return 1
        say(f"install check: pip changed none of {', '.join(pins())}")
        stamp.write_text(key)
    if args.no_tests: return 0
    # 3. The tests that need Colab's stack, run in its environment.
    env = dict(os.environ, METAMUSIC_COLAB_TIER="1")
    r = run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS], cwd=ROOT, env=env)
    say(f"{'passed' if r.returncode == 0 else 'FAILED'} in {time.time() - t0:.0f} s")
    return r.returncode

if __name__ == "__main__":
    sys.exit(main())
