"""Compiles the pipeline to KFP IR YAML for a Kubeflow Pipelines cluster."""

from __future__ import annotations

from kfp import compiler

from pipeline.dag import create_pipeline
from pipeline.deployment import DeploymentOptions


def compile_pipeline(output_path: str, options: DeploymentOptions = DeploymentOptions()) -> str:  # noqa: B008
    """Writes the IR YAML of the pipeline, deployed as `options` say, to `output_path`."""
    compiler.Compiler().compile(create_pipeline(options), package_path=output_path)
    return output_path
