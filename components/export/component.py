"""KFP component: export. A thin wrapper; the work is in components.export.export."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Model, Output

from components.common.images import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def export(
    transform_graph: Input[Artifact],
    model: Input[Model],
    serving_model: Output[Model],
):
    """Writes the raw-text SavedModel in TF Serving's layout (`<dir>/<version>/`)."""
    import time

    start = time.monotonic()
    from components.common import logs
    from components.export.export import run_export

    logs.configure()
    path = run_export(transform_graph.path, model.path, serving_model.path)
    serving_model.metadata.update(version_path=path, seconds=time.monotonic() - start)
