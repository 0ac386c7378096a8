"""KFP component: evaluate. A thin wrapper; the work is in components.evaluate.evaluate."""

from kfp import dsl
from kfp.dsl import Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from components.common.images import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def evaluate(
    accuracy_threshold: float,
    max_regression: float,
    export_dir: str,
    max_rmse_ratio: float,
    task: str,
    cache_dir: str,
    examples: Input[Dataset],
    transform_graph: Input[Artifact],
    model: Input[Model],
    evaluation: Output[Artifact],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
) -> bool:
    """Evaluates the serving model on raw test text (or the raw test period of a series);
    returns whether it is blessed for export.

    A plain return value (KFP's `Output`) rather than a named output: kfp.local resolves only
    that form in a dsl.If condition.
    """
    import time

    start = time.monotonic()
    from dataclasses import asdict

    from components.common import lifetime, logs
    from components.common.config import FORECAST, EvaluateConfig, TaskConfig
    from components.common.features import LABEL_NAMES
    from components.common.io import read_json
    from components.common.step_cache import (
        candidate_key,
        read_candidate_key,
        run_cached,
        step_key,
    )
    from components.evaluate.evaluate import EVALUATION_FILE, run_evaluate
    from components.export.export import newest_version

    logs.configure()
    lifetime.end_with_local_run()
    config = EvaluateConfig(
        accuracy_threshold=accuracy_threshold,
        max_regression=max_regression,
        export_dir=export_dir,
        max_rmse_ratio=max_rmse_ratio,
    )
    task = TaskConfig(task).task
    inputs = [examples.path, transform_graph.path, model.path]
    # The served model to beat is an input too: a new push there changes the verdict. When it
    # is this very candidate (an identical earlier run pushed it), there is nothing else to beat.
    served = newest_version(export_dir)
    if served and read_candidate_key(served) == candidate_key(transform_graph.path, model.path):
        served = None
    params = {**asdict(config), "served": served, "task": task}
    reused = run_cached(
        "evaluate",
        step_key("evaluate", params, inputs),
        {"evaluation": evaluation.path},
        cache_dir,
        lambda: run_evaluate(config, *inputs, evaluation.path, task),
    )
    result = read_json(f"{evaluation.path}/{EVALUATION_FILE}")
    evaluation.metadata.update(
        blessed=result["blessed"],
        blessing_reason=result["blessing_reason"],
        reused=reused,
        **logs.step_stats(start),
    )
    test_metrics = result["metrics"]
    if task == FORECAST:
        for name in ("rmse", "mae", "mape", "rmse_vs_persistence", "rmse_vs_noise"):
            if test_metrics[name] is not None:
                metrics.log_metric(name, test_metrics[name])
        for name, value in test_metrics["persistence"].items():
            if value is not None:
                metrics.log_metric(f"persistence {name}", value)
        return result["blessed"]
    for name in ("accuracy", "auc", "precision", "recall", "f1", "loss"):
        metrics.log_metric(name, test_metrics[name])
    for slice_name, slice_metrics in result["slices"].items():
        metrics.log_metric(f"accuracy [{slice_name}]", slice_metrics["accuracy"])
        metrics.log_metric(f"examples [{slice_name}]", slice_metrics["examples"])
    classification_metrics.log_confusion_matrix(list(LABEL_NAMES), test_metrics["confusion_matrix"])
    roc = result["roc_curve"]
    classification_metrics.log_roc_curve(roc["fpr"], roc["tpr"], roc["thresholds"])
    return result["blessed"]
