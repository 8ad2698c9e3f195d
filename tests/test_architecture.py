"""The import layers of pyproject.toml ([tool.importlinter]) hold, and the check can fail.

`common` <- `streams` <- `expectations`, `infra` <- `continuum` <- `dags`: a module imports only from
layers below its own (docs/architecture.md).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("common", "streams", "expectations", "infra", "continuum", "dags")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--config", str(root / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_layers_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_import_that_goes_up_fails(tmp_path: Path):
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copy(ROOT / "pyproject.toml", copy)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    names = copy / "common" / "names.py"
    names.write_text(names.read_text() + "\nfrom streams import contract  # noqa: E402 (goes up a layer)\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    assert "common.names -> streams.contract" in result.stdout
