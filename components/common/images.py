"""The image every step runs in on a cluster; `lstm-pipeline compile --image` overrides it."""

DEFAULT_IMAGE = "lstm-pipeline:0.1.0"
