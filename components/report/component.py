"""KFP component: report. A thin wrapper; the work is in components.report.report."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Model, Output

from components.common.images import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def report(
    task: str,
    cache_dir: str,
    transformed_examples: Input[Dataset],
    model: Input[Model],
    evaluation: Input[Artifact],
    baseline_result: Input[Artifact],
    leaderboard: Input[Artifact],
    report_files: Output[Artifact],
    report_page: Output[HTML],
):
    """Writes the run's HTML report; the Kubeflow UI shows `report_page` as a page."""
    import time

    start = time.monotonic()
    import shutil

    from components.common import lifetime, logs
    from components.common.config import TaskConfig
    from components.common.step_cache import run_cached, step_key
    from components.report.report import REPORT_FILE, run_report

    logs.configure()
    lifetime.end_with_local_run()
    task = TaskConfig(task).task
    inputs = [
        transformed_examples.path,
        model.path,
        evaluation.path,
        baseline_result.path,
        leaderboard.path,
    ]
    reused = run_cached(
        "report",
        step_key("report", {"task": task}, inputs),
        {"report_files": report_files.path},
        cache_dir,
        lambda: run_report(*inputs, report_files.path, task),
    )
    # An HTML artifact is a single file: the page itself.
    shutil.copyfile(f"{report_files.path}/{REPORT_FILE}", report_page.path)
    report_files.metadata.update(reused=reused, **logs.step_stats(start))
