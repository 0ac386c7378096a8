"""Each task's compiled pipeline against a checked-in copy, ignoring what changes per build.

After an intended change to a pipeline or a component, regenerate the copies with
`UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py` (which fails, saying which copies it
rewrote, so a run that regenerates never passes as a check), review their diff, and rerun
without it.
"""

import os
from pathlib import Path

import pytest
import yaml

from components.common.config import task_defaults
from components.common.tasks import TASKS
from pipeline.compile import compile_pipeline
from pipeline.deployment import DeploymentOptions

GOLDEN_DIR = Path(__file__).parent / "golden"
GOLDEN_OPTIONS = DeploymentOptions(
    image="registry.example/lstm:1", train_gpus=1, tfds_cache_pvc="tfds-cache"
)


def normalized(path: Path) -> list[dict]:
    """The pipeline spec and the Kubernetes platform spec, the two documents KFP writes."""
    spec, platform = yaml.safe_load_all(path.read_text())
    spec.pop("sdkVersion")  # The kfp version that compiled it.
    return [spec, platform]


@pytest.mark.parametrize("task", list(TASKS))
def test_compiled_pipeline_matches_the_golden_copy(tmp_path, task):
    golden = GOLDEN_DIR / f"{task}.yaml"
    compiled = tmp_path / "pipeline.yaml"
    compile_pipeline(str(compiled), task_defaults(task), GOLDEN_OPTIONS)
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(compiled.read_text())
        pytest.fail(f"UPDATE_GOLDEN: rewrote {golden}; review its diff and rerun without it")
    assert normalized(compiled) == normalized(golden)
