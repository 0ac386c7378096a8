"""KFP components: report, one per task. Thin wrappers; the work is in
components.report.report.

Each writes the run's HTML report; the Kubeflow UI shows `report_page` as a page.
"""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Model, Output

from components.common.images import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def report_sentiment(
    cache_dir: str,
    transformed_examples: Input[Dataset],
    transform_graph: Input[Artifact],
    model: Input[Model],
    evaluation: Input[Artifact],
    leaderboard: Input[Artifact],
    baseline_result: Input[Artifact],
    report_files: Output[Artifact],
    report_page: Output[HTML],
):
    """Writes the sentiment run's report: the champion against the n-gram baseline."""
    import time

    start = time.monotonic()
    from components.common import lifetime, logs

    logs.configure()  # Before any import of TensorFlow: it starts TensorFlow quietly.
    lifetime.end_with_local_run()
    from components.common.tasks import SENTIMENT
    from components.report.report import run_report_step

    run_report_step(
        SENTIMENT,
        transformed_examples,
        transform_graph,
        model,
        evaluation,
        leaderboard,
        report_files,
        report_page,
        cache_dir,
        start,
        baseline_dir=baseline_result,
    )


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def report_forecast(
    cache_dir: str,
    transformed_examples: Input[Dataset],
    transform_graph: Input[Artifact],
    model: Input[Model],
    evaluation: Input[Artifact],
    leaderboard: Input[Artifact],
    report_files: Output[Artifact],
    report_page: Output[HTML],
):
    """Writes the forecast run's report: the champion against persistence."""
    import time

    start = time.monotonic()
    from components.common import lifetime, logs

    logs.configure()  # Before any import of TensorFlow: it starts TensorFlow quietly.
    lifetime.end_with_local_run()
    from components.common.tasks import FORECAST
    from components.report.report import run_report_step

    run_report_step(
        FORECAST,
        transformed_examples,
        transform_graph,
        model,
        evaluation,
        leaderboard,
        report_files,
        report_page,
        cache_dir,
        start,
    )
