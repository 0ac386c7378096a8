"""Logging for component processes: timestamped lines a person watching a run can follow."""

import logging


def configure() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", force=True)
    # Beam, absl and TensorFlow log plenty at INFO that no user of the pipeline acts on.
    for noisy in ("apache_beam", "absl", "tensorflow", "tfx_bsl", "tensorflow_transform"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
