"""The images the steps run in: the local build, and the default a cluster pulls."""

# The name a local build of components/Dockerfile is tagged with.
DEFAULT_IMAGE = "lstm-pipeline:0.1.0"
# The default of `compile --image` and `submit --image`: that build pushed to a kind cluster's
# local registry (kind's documented local registry serves localhost:5001 to its nodes). A
# cluster pulls images from a registry, so the default must name one.
CLUSTER_IMAGE = f"localhost:5001/{DEFAULT_IMAGE}"
