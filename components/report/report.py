"""Report: one self-contained HTML page that says how good the model is, and where it fails.

The entry point. Each task's page is its own module (sentiment.py: against the n-gram
baseline, slices, mistakes; forecast.py: against persistence, the test period's plot); what
the pages share (the results read, style, tables, training curves, writing) is in page.py.
Plots are matplotlib PNGs embedded in the page, so the one file is the whole report.

Output under `output_dir`: report.html and data_stats.json.
"""

from __future__ import annotations

import logging
import shutil

from components.common import logs
from components.common.artifacts import REPORT_FILE
from components.common.step_cache import run_cached, step_key
from components.common.tasks import FORECAST, SENTIMENT
from components.report.forecast import forecast_report
from components.report.page import write_report
from components.report.sentiment import sentiment_report

logger = logging.getLogger(__name__)

# Task -> report(transformed_dir, transform_graph_dir, model_dir, evaluation_dir,
# leaderboard_dir, **task_inputs) -> (data statistics, page).
REPORTS = {SENTIMENT: sentiment_report, FORECAST: forecast_report}


def run_report(
    task: str,
    transformed_dir: str,
    transform_graph_dir: str,
    model_dir: str,
    evaluation_dir: str,
    leaderboard_dir: str,
    output_dir: str,
    **task_inputs: str,
) -> str:
    """Writes report.html and data_stats.json under `output_dir`; returns the report's path.

    `task_inputs` are the folders the task's page reads besides the shared ones: for
    sentiment, `baseline_dir` (the n-gram baseline's result).
    """
    stats, page = REPORTS[task](
        transformed_dir,
        transform_graph_dir,
        model_dir,
        evaluation_dir,
        leaderboard_dir,
        **task_inputs,
    )
    path = write_report(output_dir, stats, page)
    logger.info("report: %s/%s", output_dir, REPORT_FILE)
    return path


def run_report_step(
    task: str,
    transformed_examples,
    transform_graph,
    model,
    evaluation,
    leaderboard,
    report_files,
    report_page,
    cache_dir: str,
    start: float,
    **task_inputs,
) -> None:
    """The pipeline step: writes the report into `report_files` (or reuses an earlier report of
    the same inputs from `cache_dir`) and copies the page to the HTML artifact `report_page`.

    `task_inputs` are the task's own input artifacts, by core argument name (sentiment:
    `baseline_dir`, the baseline's result).
    """
    logs.configure()
    inputs = [transformed_examples, transform_graph, model, evaluation, leaderboard]
    paths = [artifact.path for artifact in inputs]
    task_paths = {name: artifact.path for name, artifact in task_inputs.items()}
    reused = run_cached(
        "report",
        step_key("report", {"task": task}, [*paths, *task_paths.values()]),
        {"report_files": report_files.path},
        cache_dir,
        lambda: run_report(task, *paths, report_files.path, **task_paths),
    )
    # An HTML artifact is a single file: the page itself.
    shutil.copyfile(f"{report_files.path}/{REPORT_FILE}", report_page.path)
    report_files.metadata.update(reused=reused, **logs.step_stats(start))
