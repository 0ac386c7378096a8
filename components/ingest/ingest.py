"""Ingest: read a task's source and write train/eval/test tf.Examples with Beam.

The entry point. Each task's reading is its own module (sentiment.py: labeled reviews;
forecast.py: a series); the layout, quarantine and counts they share are in shared.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict

import apache_beam as beam

from components.common import features as F
from components.common import logs
from components.common.artifacts import read_counts
from components.common.beam import pipeline_options
from components.common.config import IngestConfig, check_ingest_for_task
from components.common.io import atomic_directory
from components.common.step_cache import run_cached, step_key
from components.common.tasks import FORECAST, SENTIMENT, TASKS
from components.ingest import forecast, sentiment
from components.ingest.shared import check_counts, source_fingerprint

logger = logging.getLogger(__name__)

# Task -> the function that adds its ingest graph to a Beam pipeline:
# build(root, config, output_dir, **task_options).
BUILDERS = {SENTIMENT: sentiment.build_ingest_pipeline, FORECAST: forecast.build_ingest_pipeline}


def run_ingest(
    task: str,
    config: IngestConfig,
    output_dir: str,
    beam_args: Sequence[str] = (),
    **task_options,
) -> dict:
    """Reads `config.source` and writes the splits under `output_dir`; returns the counts.

    `task_options` are what the task's reading takes besides `config`: for forecast,
    `series` (a SeriesConfig).
    """
    check_ingest_for_task(config, task)
    logger.info("ingest: reading %s", config.source)
    with atomic_directory(output_dir) as staging:
        with beam.Pipeline(options=pipeline_options(beam_args)) as root:
            BUILDERS[task](root, config, staging, **task_options)
    required_splits = TASKS[task].splits
    if config.unlabeled:
        # Asked for: without this check an empty split fails only at train, two steps later.
        required_splits = (*required_splits, F.UNLABELED_SPLIT)
    counts = check_counts(config, output_dir, required_splits)
    logger.info("ingest: %s", json.dumps(counts))
    return counts


def run_ingest_step(
    task: str,
    config: IngestConfig,
    examples,
    beam_args: Sequence[str],
    cache_dir: str,
    start: float,
    **task_options,
) -> None:
    """The pipeline step: runs ingest into the `examples` artifact (or reuses an earlier run of
    the same inputs from `cache_dir`) and records the counts in its metadata."""
    logs.configure()
    params = {"config": asdict(config), "task": task}
    params.update({name: asdict(options) for name, options in task_options.items()})
    key = step_key("ingest", {**params, "source": source_fingerprint(config)}, [])
    reused = run_cached(
        "ingest",
        key,
        {"examples": examples.path},
        cache_dir,
        lambda: run_ingest(task, config, examples.path, beam_args, **task_options),
    )
    examples.metadata.update(
        counts=read_counts(examples.path), reused=reused, **logs.step_stats(start)
    )
