"""Compiles a task's pipeline to KFP IR YAML for a Kubeflow Pipelines cluster."""

from __future__ import annotations

from kfp import compiler

from components.common.config import PipelineConfig
from pipeline.dag import create_pipeline
from pipeline.deployment import DeploymentOptions


def compile_pipeline(
    output_path: str,
    defaults: PipelineConfig,
    options: DeploymentOptions = DeploymentOptions(),  # noqa: B008 - frozen
) -> str:
    """Writes the IR YAML of the pipeline of the task `defaults` names, deployed as `options`
    say and its parameters defaulting to `defaults`, to `output_path`."""
    compiler.Compiler().compile(create_pipeline(defaults, options), package_path=output_path)
    return output_path
