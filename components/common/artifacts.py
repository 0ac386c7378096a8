"""What each step writes into its output artifacts, and the small readers of its JSON files.

A step that reads another's output finds it by these names, never by importing the step that
wrote it: the names are the contract between them.
"""

from __future__ import annotations

from components.common.config import TransformConfig, WindowConfig
from components.common.io import read_json

# ingest: examples/{train,eval,test}/ (see components/common/io.py), and beside them:
COUNTS_FILE = "counts.json"  # Records read, written per split, quarantined per reason.
QUARANTINE_DIR = "quarantine"  # records-*.jsonl: each set-aside record with its reason.
SERIES_FILE = "series.json"  # Forecast: the series' source, target, noise and periods.

# transform: the tf.Transform output, and beside it the settings it was made with.
TRANSFORM_CONFIG_FILE = "transform_config.json"
WINDOW_CONFIG_FILE = "window_config.json"  # Forecast: the windows' lookback and horizon.

# train (and compare's champion, a copy of one train output):
MODEL_FILE = "model.keras"  # The Keras model with the best eval epoch's weights.
HISTORY_FILE = "history.json"  # Per-epoch metrics on train and eval, and the best epoch.
MODEL_INFO_FILE = "model_info.json"  # Model type, parameters, eval metrics, configs.
MODEL_SUMMARY_FILE = "model_summary.txt"  # Keras' layer-by-layer summary.

LEADERBOARD_FILE = "leaderboard.json"  # compare: one row per model, best first.
EVALUATION_FILE = "evaluation.json"  # evaluate: test metrics and the blessing.
PLOT_FILE = "forecast.png"  # evaluate, forecast: actual and forecast test values.
BASELINE_FILE = "baseline.json"  # baseline: the n-gram baseline's test metrics.
REPORT_FILE = "report.html"  # report: the run's page.
DATA_STATS_FILE = "data_stats.json"  # report: the numbers behind its data section.


def read_counts(examples_dir: str) -> dict:
    return read_json(f"{examples_dir}/{COUNTS_FILE}")


def read_series_description(examples_dir: str) -> dict:
    return read_json(f"{examples_dir}/{SERIES_FILE}")


def read_transform_config(transform_graph_dir: str) -> TransformConfig:
    return TransformConfig(**read_json(f"{transform_graph_dir}/{TRANSFORM_CONFIG_FILE}"))


def read_window_config(transform_graph_dir: str) -> WindowConfig:
    return WindowConfig(**read_json(f"{transform_graph_dir}/{WINDOW_CONFIG_FILE}"))
