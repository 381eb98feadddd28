from . import _record

def mount(mountpoint, force_remount=False, timeout_ms=120000, readonly=False):
    "Record the mount; the stand-in mounts nothing (tests point the work folder elsewhere with $METAMUSIC_WORK)."
    if not str(mountpoint).startswith("/"): raise ValueError(f"Mountpoint must be an absolute path, got {mountpoint!r}")
    _record("drive.mount", mountpoint)
