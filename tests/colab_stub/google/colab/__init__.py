"""A stand-in for Colab's `google.colab` package, for tests only (tests/colab_stub on PYTHONPATH).

Each call is recorded as one JSON line in the file named by $COLAB_STUB_LOG, so a test can check what the notebook asked of
Colab. Nothing here talks to a browser: `drive.mount` only checks its argument, `files.upload` "uploads" the file named by
$COLAB_STUB_UPLOAD into the working folder (as Colab does), `files.download` checks that the file exists."""
import json, os

def _record(call, *args):
    path = os.environ.get("COLAB_STUB_LOG")
    if path:
        with open(path, "a") as f: f.write(json.dumps({"call": call, "args": [str(a) for a in args]}) + "\n")
