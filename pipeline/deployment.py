"""How the compiled pipeline runs on a cluster: image, resources, retries, GPU, caching, root.

None of this changes what a step computes, so local runs ignore it.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.common.config import ConfigError, require_plain_numbers
from components.common.images import DEFAULT_IMAGE


@dataclass(frozen=True)
class StepResources:
    """Kubernetes requests and limits of one step, and how often a failed attempt is retried."""

    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str
    retries: int


# Training holds the data and the model; Beam steps parallelize over their CPUs. Retries cover
# failures that a second attempt plausibly fixes: preempted nodes, object-store or download
# hiccups. Each retry waits RETRY_BACKOFF, doubling, for at most RETRY_MAX_DURATION in all.
STEP_RESOURCES = {
    "ingest": StepResources("1", "2", "2G", "4G", retries=3),
    "transform": StepResources("2", "4", "4G", "8G", retries=2),
    "pretrain": StepResources("4", "8", "8G", "16G", retries=1),
    "train": StepResources("4", "8", "8G", "16G", retries=1),
    "compare": StepResources("0.5", "1", "1G", "2G", retries=3),
    "evaluate": StepResources("2", "4", "4G", "8G", retries=2),
    "export": StepResources("1", "2", "2G", "4G", retries=3),
    "baseline": StepResources("2", "4", "4G", "8G", retries=2),
    "report": StepResources("1", "2", "2G", "4G", retries=3),
}
# The image's non-root user (components/Dockerfile); steps run as it, with no capabilities.
RUN_AS_USER = 10001
TFDS_CACHE_PATH = "/data/tfds"
RETRY_BACKOFF = "30s"
RETRY_BACKOFF_FACTOR = 2.0
RETRY_MAX_DURATION = "3600s"


@dataclass(frozen=True)
class DeploymentOptions:
    """Options of `compile` and `submit` that shape the compiled pipeline.

    Attributes:
        image: container image every step runs in; it must contain this project.
        train_gpus: GPUs for the training step (0: CPU only).
        gpu_type: accelerator type the training step asks for when train_gpus > 0.
        enable_caching: let KFP reuse a step's earlier outputs for identical inputs.
        pipeline_root: where KFP keeps artifacts (gs://, s3://, minio://); empty means the
            cluster's default.
        retries: retry failed steps with backoff (local runs turn this off: there a failure
            is a bug or bad data, and a retry only delays the error).
        tfds_cache_pvc: PersistentVolumeClaim mounted into the ingest step at TFDS_CACHE_PATH
            (and set as its TFDS_DATA_DIR), so tensorflow-datasets downloads once per cluster;
            the manifests create one named tfds-cache. Empty: no volume.
        max_parallel_trainings: train tasks (one per model type) running at once; 0: no limit.
            Local runs use 1: the machine's cores would be shared, making the leaderboard's
            training times meaningless, and kfp.local's parallel tasks race when they patch
            `print` (one leaves it indenting all later output of the process).
    """

    image: str = DEFAULT_IMAGE
    train_gpus: int = 0
    gpu_type: str = "nvidia.com/gpu"
    enable_caching: bool = True
    pipeline_root: str = ""
    retries: bool = True
    tfds_cache_pvc: str = ""
    max_parallel_trainings: int = 0

    def __post_init__(self) -> None:
        require_plain_numbers(self)
        if not self.image or any(c.isspace() for c in self.image):
            raise ConfigError(f"--image={self.image!r} is not allowed: an image reference")
        if self.train_gpus < 0:
            raise ConfigError(f"--train-gpus={self.train_gpus!r} is not allowed: 0 or more")
        if self.max_parallel_trainings < 0:
            raise ConfigError(
                f"--max-parallel-trainings={self.max_parallel_trainings!r} is not allowed: "
                "0 (no limit) or more"
            )
