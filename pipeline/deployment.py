"""How the compiled pipeline runs on a cluster: images, resources, timeouts, retries, GPU,
caching, the object store of `s3://` paths, the pipeline root.

None of this changes what a step computes, so local runs ignore it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from components.common.config import ConfigError, require_plain_numbers
from components.common.images import CLUSTER_IMAGE


@dataclass(frozen=True)
class StepResources:
    """What one step asks of the cluster.

    Attributes:
        cpu: CPU request. No limit: a step may use a node's idle cores.
        memory: memory request and limit (a step over it is stopped rather than the node).
        timeout_seconds: each attempt's deadline (the pod's activeDeadlineSeconds).
        retries: attempts after a failed one.
    """

    cpu: str
    memory: str
    timeout_seconds: int
    retries: int


# Sized so that every step schedules on a 4-CPU kind cluster running Kubeflow Pipelines (about
# 2 CPUs left for steps); memory from each step's peak RSS on the full IMDB data (docs/results.md's
# benchmark; train and evaluate: the best preset's two-model ensemble, 5.4 and 3.1 GiB), with
# headroom, and at most 6Gi, a laptop kind node's share. Retries cover failures a second attempt
# plausibly fixes: preempted nodes, object-store or download hiccups.
STEP_RESOURCES = {
    "ingest": StepResources("1", "3Gi", 3600, retries=3),
    "transform": StepResources("1", "3Gi", 3600, retries=2),
    "pretrain": StepResources("1", "6Gi", 6 * 3600, retries=1),
    "train": StepResources("1", "6Gi", 6 * 3600, retries=1),
    "compare": StepResources("500m", "2Gi", 900, retries=3),
    "evaluate": StepResources("1", "4Gi", 3600, retries=2),
    "export": StepResources("500m", "2Gi", 1800, retries=3),
    "baseline": StepResources("1", "3Gi", 3600, retries=2),
    "report": StepResources("500m", "2Gi", 1800, retries=3),
}
# Steps with effects outside their artifacts: evaluate reads the model served at --export-dir
# (a newer push there changes its verdict), export pushes there. A cache hit would reuse a stale
# blessing or skip the push, so they always run.
UNCACHED_STEPS = ("evaluate", "export")
# The image's non-root user (components/Dockerfile); steps run as it, with no capabilities.
RUN_AS_USER = 10001
TFDS_CACHE_PATH = "/data/tfds"
RETRY_BACKOFF = "30s"
RETRY_BACKOFF_FACTOR = 2.0
RETRY_MAX_DURATION = "3600s"
# The keys of the Secret KFP installs for its object store (mlpipeline-minio-artifact), and the
# variables boto3, s3fs and Beam's S3 filesystem read them from.
S3_SECRET_KEYS = {"accesskey": "AWS_ACCESS_KEY_ID", "secretkey": "AWS_SECRET_ACCESS_KEY"}
S3_ENDPOINT_ENV = "AWS_ENDPOINT_URL"
GPU_TAG_SUFFIX = "-gpu"

# Image references as the OCI distribution spec writes them: [HOST[:PORT]/]PATH[:TAG][@DIGEST].
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REFERENCE = re.compile(
    rf"(?P<name>(?:(?P<host>{_HOST})/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?"
)
_CPU = re.compile(r"([0-9]*[.])?[0-9]+m?")
_MEMORY = re.compile(r"[0-9]+(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki)?")


def registry_host(image: str) -> str | None:
    """The registry an image reference names, or None when it names none (Docker's rule: the
    first path component is a host when it has a dot or a port, or is localhost)."""
    match = IMAGE_REFERENCE.fullmatch(image)
    host = match and match["host"]
    if host and ("." in host or ":" in host or host == "localhost"):
        return host
    return None


@dataclass(frozen=True)
class DeploymentOptions:
    """Options of `compile` and `submit` that shape the compiled pipeline.

    Attributes:
        image: container image every step runs in, REGISTRY/NAME:TAG or REGISTRY/NAME@sha256:...
            (a digest pins the exact build); it must contain this project.
        gpu_image: image of the train step when --train-gpus is set (TensorFlow's CUDA build);
            empty: --image with -gpu after its tag. Required when --image is a digest.
        train_gpus: GPUs for the training step (0: CPU only).
        gpu_type: accelerator type the training step asks for when train_gpus > 0.
        cache: let KFP reuse a step's earlier outputs when its inputs, image and code are the
            same; evaluate and export, which read and write the serving destination, always run.
        pipeline_root: where KFP keeps artifacts (gs://, s3://, minio://); empty means the
            namespace's default (kfp-launcher).
        retries: retry failed steps with backoff (local runs turn this off: there a failure
            is a bug or bad data, and a retry only delays the error).
        tfds_cache_pvc: PersistentVolumeClaim mounted into the ingest step at TFDS_CACHE_PATH
            (and set as its TFDS_DATA_DIR), so tensorflow-datasets downloads once per cluster;
            the manifests create one named tfds-cache. Empty: no volume.
        max_parallel_trainings: train tasks (one per model type) running at once; 0: no limit.
            Local runs use 1: the machine's cores would be shared, making the leaderboard's
            training times meaningless, and kfp.local's parallel tasks race when they patch
            `print` (one leaves it indenting all later output of the process).
        s3_endpoint: endpoint of the object store behind s3:// source, export and cache paths,
            e.g. http://seaweedfs.kubeflow:8333 (KFP's SeaweedFS); empty: AWS S3.
        s3_credentials_secret: Secret in the run's namespace whose accesskey and secretkey
            (the layout of KFP's mlpipeline-minio-artifact) the steps use for s3:// paths;
            empty: none (e.g. IAM roles for service accounts).
    """

    image: str = CLUSTER_IMAGE
    gpu_image: str = ""
    train_gpus: int = 0
    gpu_type: str = "nvidia.com/gpu"
    cache: bool = True
    pipeline_root: str = ""
    retries: bool = True
    tfds_cache_pvc: str = ""
    max_parallel_trainings: int = 0
    s3_endpoint: str = ""
    s3_credentials_secret: str = ""
    # STEP=CPU,MEMORY and STEP=SECONDS overrides of STEP_RESOURCES (repeatable options).
    step_resources: tuple[str, ...] = field(default_factory=tuple)
    step_timeouts: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        require_plain_numbers(self)
        for option, image in (("--image", self.image), ("--gpu-image", self.gpu_image)):
            if image and not IMAGE_REFERENCE.fullmatch(image):
                raise ConfigError(
                    f"{option}={image!r} is not allowed: an image reference, "
                    "REGISTRY/NAME:TAG or REGISTRY/NAME@sha256:DIGEST"
                )
        if self.train_gpus < 0:
            raise ConfigError(f"--train-gpus={self.train_gpus!r} is not allowed: 0 or more")
        if self.max_parallel_trainings < 0:
            raise ConfigError(
                f"--max-parallel-trainings={self.max_parallel_trainings!r} is not allowed: "
                "0 (no limit) or more"
            )
        if self.s3_endpoint and not self.s3_endpoint.startswith(("http://", "https://")):
            raise ConfigError(
                f"--s3-endpoint={self.s3_endpoint!r} is not allowed: an http(s):// URL"
            )
        self.resources("train")  # Checks every override.

    def resources(self, step: str) -> StepResources:
        """What `step` asks of the cluster: STEP_RESOURCES with the options' overrides."""
        resources = STEP_RESOURCES[step]
        for option, overrides in (
            ("--step-resources", self.step_resources),
            ("--step-timeout", self.step_timeouts),
        ):
            for override in overrides:
                name, value = _step_override(option, override)
                if name != step:
                    continue
                if option == "--step-timeout":
                    resources = _with_timeout(resources, option, override, value)
                else:
                    resources = _with_resources(resources, option, override, value)
        return resources

    @property
    def train_image(self) -> str:
        """The image of the train step: the GPU variant when it has GPUs."""
        if not self.train_gpus:
            return self.image
        if self.gpu_image:
            return self.gpu_image
        match = IMAGE_REFERENCE.fullmatch(self.image)
        if match["digest"]:
            raise ConfigError(
                f"--image={self.image!r} is a digest: with --train-gpus, name the GPU build "
                "with --gpu-image"
            )
        return f"{match['name']}:{match['tag'] or 'latest'}{GPU_TAG_SUFFIX}"

    def check_for_cluster(self) -> None:
        """Refuses what only a local run can use: an image no registry serves."""
        for option, image in (("--image", self.image), ("--gpu-image", self.train_image)):
            if registry_host(image) is None:
                raise ConfigError(
                    f"{option}={image!r} is not allowed: a cluster pulls images from a "
                    "registry, so name one (REGISTRY/NAME:TAG or REGISTRY/NAME@sha256:DIGEST)"
                )


def _step_override(option: str, override: str) -> tuple[str, str]:
    name, sep, value = override.partition("=")
    if not sep or name not in STEP_RESOURCES:
        raise ConfigError(
            f"{option}={override!r} is not allowed: STEP=VALUE with STEP one of "
            f"{sorted(STEP_RESOURCES)}"
        )
    return name, value


def _with_timeout(resources, option, override, value) -> StepResources:
    if not value.isdigit() or int(value) <= 0:
        raise ConfigError(f"{option}={override!r} is not allowed: STEP=SECONDS, SECONDS > 0")
    return dataclasses.replace(resources, timeout_seconds=int(value))


def _with_resources(resources, option, override, value) -> StepResources:
    cpu, sep, memory = value.partition(",")
    if not (sep and _CPU.fullmatch(cpu) and _MEMORY.fullmatch(memory)):
        raise ConfigError(
            f"{option}={override!r} is not allowed: STEP=CPU,MEMORY such as train=2,8Gi"
        )
    return dataclasses.replace(resources, cpu=cpu, memory=memory)
