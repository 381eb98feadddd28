"""The mutation suite (`make mutate`) is well formed: every snippet is found exactly once in its module and its notebook,
and every test meant to catch it exists. Cheap: nothing is run. When this fails after a code change, refresh the
snippet in mutate/mutations.py."""
import ast, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "mutate"))
from mutations import MUTATIONS, apply, SnippetError  # noqa: E402

def test_enough_mutations_in_every_area():
    assert len(MUTATIONS) >= 25 and len({m.name for m in MUTATIONS}) == len(MUTATIONS)
    assert {"audio", "engine", "impression", "musicvideo", "cli", "widgets", "weights", "models"} <= {m.module for m in MUTATIONS}

@pytest.mark.parametrize("m", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_mutation_applies_and_names_real_tests(m):
    try: apply(m, ROOT, dry_run=True)
    except SnippetError as e: pytest.fail(f"{m.name}: {e} (refresh it in mutate/mutations.py)")
    assert m.tests, m.name
    for node in m.tests:
        path, _, name = node.partition("::")
        assert (ROOT / path).is_file(), node
        defs = {n.name for n in ast.walk(ast.parse((ROOT / path).read_text())) if isinstance(n, ast.FunctionDef)}
        assert name.split("[")[0] in defs, node
