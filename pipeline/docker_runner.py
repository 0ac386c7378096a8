"""kfp.local's DockerRunner set up to run every step in the component image, as on a cluster.

Each step runs as the image's own non-root user (10001) with a read-only root filesystem and a
tmpfs at /tmp. What a step reads from this machine (the source, the tfds data folder) is mounted
read-only at the same path; what it writes (the pipeline root, which kfp mounts itself, the step
cache and a local export folder) is mounted read-write.

Ownership: the container's user is not the host's, so the output folders are shared through
their group. The runner adds the output folder's group to the container's user and makes the
writable folders group-writable with the setgid bit (what is made inside keeps that group); when
a step ends, its command makes what it wrote group-writable too (TensorFlow creates folders 0755
whatever the umask). So whoever owns the output folder can read and delete all a step wrote,
without root.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import stat

import docker.types
from kfp import local

from components.common.config import PipelineConfig

SHARED_FOLDER_MODE = stat.S_IRWXU | stat.S_IRWXG | stat.S_ISGID


def sharing_entrypoint(folders: list[str]) -> list[str]:
    """Runs KFP's command, then gives the group read and write on what it made in `folders`."""
    share = (
        f'find {" ".join(shlex.quote(f) for f in folders)} -user "$(id -u)" ! -perm -g=rw '
        "-exec chmod g+rwX {} +"
    )
    return ["/bin/sh", "-c", f'"$@"; status=$?; {share}; exit $status', "step"]


def with_absolute_paths(config: PipelineConfig) -> PipelineConfig:
    """`config` with its local paths absolute: a step's working folder is not the caller's."""
    ingest, evaluate = config.ingest, config.evaluate
    source = ingest.parsed_source
    if source.location and _is_local(source.location) and source.kind not in ("tfds", "sine"):
        ingest = dataclasses.replace(
            ingest, source=f"{source.kind}:{os.path.abspath(source.location)}"
        )
    if ingest.data_dir and _is_local(ingest.data_dir):
        ingest = dataclasses.replace(ingest, data_dir=os.path.abspath(ingest.data_dir))
    if evaluate.export_dir and _is_local(evaluate.export_dir):
        evaluate = dataclasses.replace(evaluate, export_dir=os.path.abspath(evaluate.export_dir))
    return dataclasses.replace(config, ingest=ingest, evaluate=evaluate)


def _is_local(path: str) -> bool:
    return "://" not in path


def share_with_group(folder: str, group: int) -> None:
    """Makes `folder` (created if missing) writable by `group`, new entries keeping the group."""
    os.makedirs(folder, exist_ok=True)
    if os.stat(folder).st_gid != group:
        os.chown(folder, -1, group)
    os.chmod(folder, os.stat(folder).st_mode | SHARED_FOLDER_MODE)


def docker_runner(
    config: PipelineConfig, output_dir: str, pipeline_root: str, cache_dir: str
) -> local.DockerRunner:
    """The runner for `config` (with absolute paths) writing under `output_dir`.

    The pipeline root (kfp mounts it), the step cache (`cache_dir`, if any) and a local export
    folder are shared with the output folder's group.
    """
    ingest = config.ingest
    source = ingest.parsed_source
    read_only, environment = [], {}
    if source.kind == "tfds":
        data_dir = ingest.data_dir or os.environ.get("TFDS_DATA_DIR", "")
        if data_dir and _is_local(data_dir):
            data_dir = os.path.abspath(data_dir)
            read_only.append(data_dir)
        if data_dir and not ingest.data_dir:
            environment["TFDS_DATA_DIR"] = data_dir
    elif source.kind != "sine" and _is_local(source.location):
        read_only.append(source.location)
    writable = [cache_dir] if cache_dir else []
    if config.evaluate.export_dir and _is_local(config.evaluate.export_dir):
        writable.append(config.evaluate.export_dir)
    group = os.stat(output_dir).st_gid
    for folder in (pipeline_root, *writable):
        share_with_group(folder, group)
    mounts = [docker.types.Mount(p, p, type="bind", read_only=True) for p in read_only]
    mounts += [docker.types.Mount(p, p, type="bind") for p in writable]
    return local.DockerRunner(
        entrypoint=sharing_entrypoint([pipeline_root, *writable]),
        group_add=[str(group)],
        mounts=mounts,
        environment=environment,
        read_only=True,
        tmpfs={"/tmp": ""},
    )
