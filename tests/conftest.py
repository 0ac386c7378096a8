import time

import pytest

# The generated-data fixtures shared with the component tests.
from components.conftest import (  # noqa: F401
    aclimdb_dir,
    ingested_dir,
    trained_model_dir,
    transformed,
)
from pipeline.image import ImageError, build_image, docker_client, image_exists, source_tag

_IMAGE_BUILD_REPORT = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def component_image(request) -> str:
    """The component image of this source: built once per session, reused while up to date.

    Its tag is a hash of the build inputs, so an image built earlier from the same sources is
    the same image. Skipped only where no Docker engine answers (CI starts one: .ci/run).
    """
    try:
        client = docker_client()
    except ImageError as error:
        pytest.skip(f"no Docker engine is reachable: {error}")
    tag = source_tag()
    if image_exists(client, tag):
        request.config.stash[_IMAGE_BUILD_REPORT] = f"component image {tag}: reused"
        return tag
    start = time.monotonic()
    built = build_image(quiet=True)
    request.config.stash[_IMAGE_BUILD_REPORT] = (
        f"component image {tag}: built from {built.base_image} in "
        f"{time.monotonic() - start:.0f} s (base included), {built.size_bytes / 1e9:.2f} GB"
    )
    return tag


def pytest_terminal_summary(terminalreporter, config):
    # The build's share of the suite's time, in CI's log.
    if _IMAGE_BUILD_REPORT in config.stash:
        terminalreporter.write_line(config.stash[_IMAGE_BUILD_REPORT])
