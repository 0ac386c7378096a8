"""KFP component: export. A thin wrapper; the work is in components.export.export."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Model, Output

from components.common.images import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def export(
    export_dir: str,
    task: str,
    cache_dir: str,
    transform_graph: Input[Artifact],
    model: Input[Model],
    serving_model: Output[Model],
):
    """Writes the raw-text (or raw-values) SavedModel in TF Serving's layout
    (`<dir>/<version>/`), and pushes it to `export_dir` when one is given."""
    import time

    start = time.monotonic()
    from components.common import lifetime, logs

    logs.configure()  # Before any import of TensorFlow: it starts TensorFlow quietly.
    lifetime.end_with_local_run()
    from components.common.config import TaskConfig
    from components.common.serving import resolve_version_dir
    from components.common.step_cache import run_cached, step_key
    from components.export.export import push_version, run_export

    task = TaskConfig(task).task
    inputs = [transform_graph.path, model.path]
    reused = run_cached(
        "export",
        step_key("export", {"task": task}, inputs),
        {"serving_model": serving_model.path},
        cache_dir,
        lambda: run_export(task, *inputs, serving_model.path),
    )
    version_path = resolve_version_dir(serving_model.path)
    # Outside the cache: pushes unless the destination's newest version is this very model.
    pushed = push_version(version_path, export_dir) if export_dir else None
    serving_model.metadata.update(
        version_path=version_path,
        pushed=pushed,
        reused=reused,
        **logs.step_stats(start),
    )
