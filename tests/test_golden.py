"""The compiled pipeline against a checked-in copy, ignoring what changes per build.

After an intended change to the DAG or a component, regenerate the copy with
`UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py` and review its diff.
"""

import os
from pathlib import Path

import yaml

from pipeline.compile import compile_pipeline
from pipeline.deployment import DeploymentOptions

GOLDEN = Path(__file__).parent / "golden" / "pipeline.yaml"
GOLDEN_OPTIONS = DeploymentOptions(
    image="registry.example/lstm:1", train_gpus=1, tfds_cache_pvc="tfds-cache"
)


def normalized(path: Path) -> list[dict]:
    """The pipeline spec and the Kubernetes platform spec, the two documents KFP writes."""
    spec, platform = yaml.safe_load_all(path.read_text())
    spec.pop("sdkVersion")  # The kfp version that compiled it.
    return [spec, platform]


def test_compiled_pipeline_matches_the_golden_copy(tmp_path):
    compiled = tmp_path / "pipeline.yaml"
    compile_pipeline(str(compiled), GOLDEN_OPTIONS)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(compiled.read_text())
    assert normalized(compiled) == normalized(GOLDEN)
