"""KFP components: evaluate, one per task. Thin wrappers; the work is in
components.evaluate.evaluate.

Each returns whether the model is blessed for export as a plain return value (KFP's `Output`)
rather than a named output: kfp.local resolves only that form in a dsl.If condition.
"""

from kfp import dsl
from kfp.dsl import Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from components.common.images import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def evaluate_sentiment(
    accuracy_threshold: float,
    max_regression: float,
    export_dir: str,
    cache_dir: str,
    examples: Input[Dataset],
    transform_graph: Input[Artifact],
    model: Input[Model],
    evaluation: Output[Artifact],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
) -> bool:
    """Evaluates the serving model on the raw test reviews; returns whether it is blessed."""
    import time

    start = time.monotonic()
    from components.common import lifetime, logs

    logs.configure()  # Before any import of TensorFlow: it starts TensorFlow quietly.
    lifetime.end_with_local_run()
    from components.common.config import EvaluateConfig
    from components.common.features import LABEL_NAMES
    from components.common.tasks import SENTIMENT, TASKS
    from components.evaluate.evaluate import run_evaluate_step

    config = EvaluateConfig(
        accuracy_threshold=accuracy_threshold,
        max_regression=max_regression,
        export_dir=export_dir,
    )
    result = run_evaluate_step(
        SENTIMENT, config, examples, transform_graph, model, evaluation, cache_dir, start
    )
    test_metrics = result["metrics"]
    for name in TASKS[SENTIMENT].test_metrics:
        metrics.log_metric(name, test_metrics[name])
    for slice_name, slice_metrics in result["slices"].items():
        metrics.log_metric(f"accuracy [{slice_name}]", slice_metrics["accuracy"])
        metrics.log_metric(f"examples [{slice_name}]", slice_metrics["examples"])
    classification_metrics.log_confusion_matrix(list(LABEL_NAMES), test_metrics["confusion_matrix"])
    roc = result["roc_curve"]
    classification_metrics.log_roc_curve(roc["fpr"], roc["tpr"], roc["thresholds"])
    return result["blessed"]


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def evaluate_forecast(
    max_rmse_ratio: float,
    max_regression: float,
    export_dir: str,
    cache_dir: str,
    examples: Input[Dataset],
    transform_graph: Input[Artifact],
    model: Input[Model],
    evaluation: Output[Artifact],
    metrics: Output[Metrics],
) -> bool:
    """Evaluates the serving forecaster on the raw test period against persistence; returns
    whether it is blessed."""
    import time

    start = time.monotonic()
    from components.common import lifetime, logs

    logs.configure()  # Before any import of TensorFlow: it starts TensorFlow quietly.
    lifetime.end_with_local_run()
    from components.common.config import EvaluateConfig
    from components.common.tasks import FORECAST, TASKS
    from components.evaluate.evaluate import run_evaluate_step

    config = EvaluateConfig(
        max_rmse_ratio=max_rmse_ratio, max_regression=max_regression, export_dir=export_dir
    )
    result = run_evaluate_step(
        FORECAST, config, examples, transform_graph, model, evaluation, cache_dir, start
    )
    test_metrics = result["metrics"]
    for name in TASKS[FORECAST].test_metrics:
        if test_metrics[name] is not None:
            metrics.log_metric(name, test_metrics[name])
    for name, value in test_metrics["persistence"].items():
        if value is not None:
            metrics.log_metric(f"persistence {name}", value)
    return result["blessed"]
