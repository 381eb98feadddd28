import os
from pathlib import Path
from . import _record

def upload(target_dir=""):
    "Copy the file named by $COLAB_STUB_UPLOAD into the working folder (Colab saves uploads there); {name: bytes} as Colab returns."
    src = Path(os.environ["COLAB_STUB_UPLOAD"])
    data = src.read_bytes()
    (Path(target_dir or ".") / src.name).write_bytes(data)
    _record("files.upload", src.name)
    return {src.name: data}

def download(filename):
    "Record the download; Colab raises FileNotFoundError for a missing file, and so does this."
    if not os.path.exists(filename): raise FileNotFoundError(f"Cannot find file: {filename}")
    _record("files.download", filename)
