"""Builds the component image (components/Dockerfile) with BuildKit, and the base it starts from
where no container registry is reachable.

The image's default tag names its build inputs: `lstm-pipeline:<version>-<hash>`, the hash over
the build context (components/Dockerfile.dockerignore is its allow-list), the Dockerfile and the
base image asked for. An image with that tag is up to date with the source, so a run or a test
session can reuse it instead of building again.
"""

from __future__ import annotations

import configparser
import hashlib
import importlib.metadata
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
from docker.utils.build import exclude_paths

from components.common.config import ConfigError
from pipeline.deployment import GPU_TAG_SUFFIX

logger = logging.getLogger(__name__)

# The source checkout: building needs the Dockerfile and the sources beside it.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = Path("components") / "Dockerfile"
IMAGE_REPOSITORY = "lstm-pipeline"
# Made by debootstrap where no registry is reachable: Debian 12 with its Python 3.11.
LOCAL_BASE_IMAGE = "lstm-pipeline-base:debian12"
LOCAL_BASE_SUITE = "bookworm"
LOCAL_BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
# The pip settings that let a build reach the index this machine uses; they reach the build
# as secrets (components/Dockerfile mounts them), so no layer keeps them. Local paths (find-links,
# file:// indexes, constraints) mean nothing inside the build and are left out.
FORWARDED_PIP_SETTINGS = ("index-url", "extra-index-url", "trusted-host", "cert")
# pip's own precedence: a later source overrides an earlier one.
PIP_CONFIG_SOURCES = ("global", "user", "site", ":env:")
PIP_CERT_SECRET_PATH = "/run/secrets/pip_cert"


class ImageError(RuntimeError):
    """The image could not be built or found; the message says why and what to do."""


@dataclass(frozen=True)
class BuiltImage:
    """An image this module built: its tags, the base it started from, its size and build time."""

    tags: tuple[str, ...]
    base_image: str
    size_bytes: int
    seconds: float


def docker_client() -> docker.DockerClient:
    """A client of the Docker engine that DOCKER_HOST (or the default socket) names."""
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as error:
        raise ImageError(
            f"no Docker engine is reachable ({error}); start dockerd (README: Build the "
            "component image) or set DOCKER_HOST"
        ) from error
    return client


def image_exists(client: docker.DockerClient, image: str) -> bool:
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return False
    return True


def default_base_image(root: Path = PROJECT_ROOT) -> str:
    """The Dockerfile's own default BASE_IMAGE, the one place that names it."""
    match = re.search(r"^ARG BASE_IMAGE=(\S+)$", (root / DOCKERFILE).read_text(), re.MULTILINE)
    if match is None:
        raise ImageError(f"{root / DOCKERFILE} declares no default BASE_IMAGE")
    return match.group(1)


def context_files(root: Path = PROJECT_ROOT) -> list[str]:
    """The files of the build context, relative to `root`, as Docker selects them."""
    ignore_file = root / f"{DOCKERFILE}.dockerignore"
    patterns = [
        line.strip()
        for line in ignore_file.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    selected = exclude_paths(str(root), patterns, dockerfile=str(DOCKERFILE))
    return sorted(path for path in selected if (root / path).is_file())


def source_tag(base_image: str | None = None, root: Path = PROJECT_ROOT) -> str:
    """`lstm-pipeline:<version>-<hash of the build inputs and the base image asked for>`."""
    digest = hashlib.sha256((base_image or default_base_image(root)).encode())
    for path in context_files(root):
        digest.update(path.encode() + b"\0" + (root / path).read_bytes() + b"\0")
    return f"{IMAGE_REPOSITORY}:{_version()}-{digest.hexdigest()[:12]}"


def _version() -> str:
    return importlib.metadata.version("lstm-pipeline")


def source_revision(root: Path = PROJECT_ROOT) -> str:
    """The commit the build inputs come from, `-dirty` when they differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        revision = git("rev-parse", "HEAD")
        changed = git("status", "--porcelain", "--", *context_files(root))
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{revision}-dirty" if changed else revision


def pip_settings() -> dict[str, str]:
    """This machine's pip settings that a build needs to reach the same index (see pip config)."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    ).stdout
    found: dict[str, tuple[int, str]] = {}
    for line in listed.splitlines():
        match = re.match(r"^(:env:|[\w-]+)\.([\w-]+)='(.*)'$", line)
        if not match or match.group(2) not in FORWARDED_PIP_SETTINGS:
            continue
        source, name, value = match.groups()
        rank = PIP_CONFIG_SOURCES.index(source) if source in PIP_CONFIG_SOURCES else 0
        if name not in found or rank >= found[name][0]:
            found[name] = (rank, value)
    settings = {name: value for name, (_, value) in found.items()}
    for name in ("index-url", "extra-index-url"):
        urls = [u for u in settings.get(name, "").split() if u.startswith(("http:", "https:"))]
        settings.pop(name, None)
        if urls:
            settings[name] = " ".join(urls)
    if "cert" not in settings and os.environ.get("REQUESTS_CA_BUNDLE"):
        settings["cert"] = os.environ["REQUESTS_CA_BUNDLE"]
    return settings


def _pip_secret_args(settings: dict[str, str], scratch: str) -> list[str]:
    """`--secret` arguments carrying `settings` as a pip.conf (and the CA bundle beside it)."""
    if not settings:
        return []
    args = []
    config = configparser.ConfigParser()
    config["global"] = dict(settings)
    if "cert" in settings:
        args += ["--secret", f"id=pip_cert,src={settings['cert']}"]
        config["global"]["cert"] = PIP_CERT_SECRET_PATH
    pip_conf = os.path.join(scratch, "pip.conf")
    with open(pip_conf, "w") as f:
        config.write(f)
    return args + ["--secret", f"id=pip_conf,src={pip_conf}"]


def ensure_base_image(client: docker.DockerClient, base_image: str) -> str:
    """`base_image` when present or pullable; otherwise the local Debian 12 base, made if needed."""
    if image_exists(client, base_image):
        return base_image
    try:
        logger.info("pulling %s", base_image)
        client.images.pull(base_image)
        return base_image
    except docker.errors.APIError as error:
        logger.info("cannot pull %s (%s)", base_image, error.explanation)
    if not image_exists(client, LOCAL_BASE_IMAGE):
        build_local_base()
    logger.info("building on the local base %s instead", LOCAL_BASE_IMAGE)
    return LOCAL_BASE_IMAGE


def build_local_base(name: str = LOCAL_BASE_IMAGE) -> None:
    """Makes a minimal Debian 12 with Python 3.11 (debootstrap) and imports it as `name`."""
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        raise ImageError(
            f"no registry is reachable for the base image, and making {name} needs root and "
            "debootstrap (apt-get install debootstrap); or pass --base-image with a local image"
        )
    start = time.monotonic()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as scratch:
        rootfs = os.path.join(scratch, "rootfs")
        include = ",".join(LOCAL_BASE_PACKAGES)
        logger.info("making %s with debootstrap (a few minutes)", name)
        _run(["debootstrap", "--variant=minbase", f"--include={include}", LOCAL_BASE_SUITE, rootfs])
        # Package lists and downloaded .debs: no step installs packages.
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in Path(rootfs, cache).glob("*"):
                if entry.is_file():
                    entry.unlink()
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        _run(["docker", "import", "-", name], stdin=tar.stdout)
        if tar.wait() != 0:
            raise ImageError(f"tar of {rootfs} failed with exit status {tar.returncode}")
    logger.info("made %s in %.0f s", name, time.monotonic() - start)


def _run(command: Sequence[str], **kwargs) -> None:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise ImageError(f"{command[0]} failed with exit status {result.returncode}:\n{tail}")


def build_image(
    tags: Sequence[str] = (),
    base_image: str | None = None,
    root: Path = PROJECT_ROOT,
    quiet: bool = False,
    gpu: bool = False,
) -> BuiltImage:
    """Builds components/Dockerfile as `source_tag(base_image)` and every tag in `tags`.

    The build runs on the host's network, with this machine's pip settings as build secrets, so
    pip inside it reaches what pip here reaches. `quiet` keeps Docker's progress out of the
    terminal (it is shown on failure). `gpu` builds the variant with TensorFlow's CUDA
    libraries, its source tag ending in GPU_TAG_SUFFIX as --train-gpus expects by default;
    `tags` are used as given.
    """
    if not (root / DOCKERFILE).exists():
        raise ImageError(f"{root / DOCKERFILE} is missing: building needs the source checkout")
    client = docker_client()
    wanted_base = base_image or default_base_image(root)
    base = ensure_base_image(client, wanted_base)
    all_tags = (source_tag(base_image, root) + (GPU_TAG_SUFFIX if gpu else ""), *tags)
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        command = ["docker", "build", "--file", str(root / DOCKERFILE), "--network", "host"]
        command += ["--build-arg", f"BASE_IMAGE={base}"]
        command += ["--build-arg", f"REVISION={source_revision(root)}"]
        command += ["--build-arg", f"VERSION={_version()}"]
        if gpu:
            command += ["--build-arg", "TENSORFLOW_EXTRAS=and-cuda"]
        command += _pip_secret_args(pip_settings(), scratch)
        for tag in all_tags:
            command += ["--tag", tag]
        logger.info("building %s from %s", ", ".join(all_tags), base)
        # BuildKit: the Dockerfile's secret mounts need it (the legacy builder has none).
        env = {**os.environ, "DOCKER_BUILDKIT": "1"}
        # Docker's progress goes to stderr: stdout carries only the command's result.
        result = subprocess.run(
            [*command, str(root)],
            env=env,
            stdout=subprocess.PIPE if quiet else sys.stderr,
            stderr=subprocess.STDOUT if quiet else sys.stderr,
            text=True,
        )
    if result.returncode != 0:
        tail = "\n".join((result.stdout or "").splitlines()[-40:])
        raise ImageError(
            f"docker build failed with exit status {result.returncode}{_buildkit_hint()}\n{tail}"
        )
    seconds = time.monotonic() - start
    size = client.images.get(all_tags[0]).attrs["Size"]
    logger.info("built %s: %.2f GB in %.0f s", all_tags[0], size / 1e9, seconds)
    return BuiltImage(tags=all_tags, base_image=base, size_bytes=size, seconds=seconds)


def _buildkit_hint() -> str:
    version = subprocess.run(
        ["docker", "version", "--format", "{{.Client.Version}}"], capture_output=True, text=True
    ).stdout.strip()
    buildx = subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode == 0
    if buildx or not version or int(version.split(".")[0]) < 23:
        return ""
    return (
        f" (the docker client on PATH, {version}, builds with BuildKit only through the buildx "
        "plugin: install it, or put a client with BuildKit built in first on PATH, as "
        "`. .ci/docker-engine` does)"
    )


def ensure_image(image: str | None = None) -> str:
    """`image` when given and present; else the image of this source, built when missing."""
    client = docker_client()
    if image:
        if not image_exists(client, image):
            try:
                client.images.pull(image)
            except docker.errors.APIError as error:
                raise ConfigError(
                    f"--image={image!r} is not allowed: no such image here, and pulling it "
                    f"failed ({error.explanation})"
                ) from error
        return image
    tag = source_tag()
    if image_exists(client, tag):
        logger.info("using %s, the image of this source", tag)
        return tag
    return build_image().tags[0]
