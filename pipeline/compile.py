"""Compiles the pipeline to KFP IR YAML for a Kubeflow Pipelines cluster."""

from __future__ import annotations

from kfp import compiler

from components.common.images import DEFAULT_IMAGE
from pipeline.dag import create_pipeline


def compile_pipeline(output_path: str, image: str = DEFAULT_IMAGE) -> str:
    """Writes the IR YAML of the pipeline, every step running in `image`, to `output_path`."""
    compiler.Compiler().compile(create_pipeline(image), package_path=output_path)
    return output_path
