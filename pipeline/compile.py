"""Compiles a task's pipeline to KFP IR YAML for a Kubeflow Pipelines cluster."""

from __future__ import annotations

import re

import yaml
from kfp import compiler

from components.common.config import PipelineConfig
from pipeline.dag import create_pipeline
from pipeline.deployment import DeploymentOptions

# kfp's header comment lists each input as `name: int [Default: 32.0]`.
_INTEGER_DEFAULT_COMMENT = re.compile(r"(: int \[Default: -?\d+)\.0\]")


def _integer_defaults(node) -> None:
    """Integer parameters' defaults as integers: KFP writes every number as a float (32.0)."""
    if isinstance(node, dict):
        default = node.get("defaultValue")
        if node.get("parameterType") == "NUMBER_INTEGER" and isinstance(default, float):
            node["defaultValue"] = int(default)
        for value in node.values():
            _integer_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _integer_defaults(value)


def compile_pipeline(
    output_path: str,
    defaults: PipelineConfig,
    options: DeploymentOptions = DeploymentOptions(),  # noqa: B008 - frozen
) -> str:
    """Writes the IR YAML of the pipeline of the task `defaults` names, deployed as `options`
    say and its parameters defaulting to `defaults`, to `output_path`."""
    compiler.Compiler().compile(create_pipeline(defaults, options), package_path=output_path)
    with open(output_path, encoding="utf-8") as compiled:
        text = compiled.read()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    documents = list(yaml.safe_load_all(text))
    _integer_defaults(documents)
    with open(output_path, "w", encoding="utf-8") as compiled:
        # As kfp writes it: its header comment, then the documents with sorted keys.
        compiled.write(_INTEGER_DEFAULT_COMMENT.sub(r"\1]", header))
        yaml.dump_all(documents, compiled, sort_keys=True)
    return output_path
