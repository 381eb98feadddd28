"Every notebook in nbs/ is one pytest item, executed with nbdev's own test machinery."
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook

CFG = get_config()
NBS = sorted(p for p in Path(CFG.nbs_path).rglob("*.ipynb")
             if ".ipynb_checkpoints" not in p.parts and not p.name.startswith("_"))

@pytest.mark.parametrize("nb", NBS, ids=[str(p.relative_to(CFG.nbs_path)) for p in NBS])
def test_notebook(nb):
    flags = CFG.tst_flags.split() if isinstance(CFG.tst_flags, str) else list(CFG.tst_flags)
    ok, secs = run_notebook(nb, skip_flags=flags, basepath=CFG.config_path)
    assert ok, f"{nb.name} failed (its traceback is printed above)"
