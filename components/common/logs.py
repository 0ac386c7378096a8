"""Logging for component processes: timestamped lines a person watching a run can follow."""

import logging
import resource
import time


def configure() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", force=True)
    # Beam, absl and TensorFlow log plenty at INFO that no user of the pipeline acts on.
    for noisy in ("apache_beam", "absl", "tensorflow", "tfx_bsl", "tensorflow_transform"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def step_stats(start: float) -> dict:
    """Wall seconds since `start` (time.monotonic()) and this process's peak memory so far."""
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux.
    return {"seconds": time.monotonic() - start, "peak_rss_mb": round(peak_kib / 1024, 1)}
