"""The proto contract: buf's lint rules hold, and the committed stubs match what the generator makes."""

import filecmp
import subprocess
from pathlib import Path

from protos.generate import PROTO_ROOT, generate, proto_files
from tests.conftest import REPO_ROOT


def test_contract_passes_buf_lint() -> None:
    result = subprocess.run(
        [str(REPO_ROOT / "node_modules/.bin/buf"), "lint", "protos"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_committed_stubs_match_the_protos(tmp_path: Path) -> None:
    generate(tmp_path)
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*_pb2*"))
    assert len(fresh) == 3 * len(proto_files())
    drifted = [str(p) for p in fresh if not filecmp.cmp(tmp_path / p, PROTO_ROOT / p, shallow=False)]
    assert not drifted, f"stubs out of date, run `make proto`: {drifted}"
