"""Every kustomize overlay renders and validates against Kubernetes schemas, offline."""

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"
OVERLAYS = sorted(p.name for p in (MANIFESTS / "overlays").iterdir())
KUBERNETES_VERSION = "1.32"
STORAGE_SCHEMES = {"local-minio": "s3://", "cloud": "gs://"}


def render(overlay: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl (with its built-in kustomize) is needed to render the manifests")
    result = subprocess.run(
        [kubectl, "kustomize", str(MANIFESTS / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def predictor_pod(inference_service: dict) -> dict:
    """The pod KServe runs for the predictor, to validate its fields with the Pod schema."""
    predictor = inference_service["spec"]["predictor"]
    model = dict(predictor["model"])
    model.pop("modelFormat")
    model.pop("storageUri")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "predictor"},
        "spec": {
            "serviceAccountName": predictor["serviceAccountName"],
            "securityContext": predictor["securityContext"],
            "containers": [{"name": "kserve-container", "image": "tensorflow/serving", **model}],
        },
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates(overlay):
    resources = render(overlay)
    kinds = {r["kind"] for r in resources}
    assert {
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "PersistentVolumeClaim",
        "ConfigMap",
        "InferenceService",
    } <= kinds
    for resource in resources:
        if resource["kind"] == "InferenceService":
            resource = predictor_pod(resource)
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    assert all(
        r["metadata"].get("namespace") == "lstm-pipeline"
        for r in resources
        if r["kind"] != "Namespace"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_points_serving_and_artifacts_at_its_store(overlay):
    resources = {(r["kind"], r["metadata"]["name"]): r for r in render(overlay)}
    scheme = STORAGE_SCHEMES[overlay]
    storage_uri = resources["InferenceService", "lstm-sentiment"]["spec"]["predictor"]["model"][
        "storageUri"
    ]
    assert storage_uri.startswith(scheme)
    root = resources["ConfigMap", "kfp-launcher"]["data"]["defaultPipelineRoot"]
    assert root.startswith({"s3://": "minio://", "gs://": "gs://"}[scheme])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_least_privilege_non_root_and_no_credentials(overlay):
    resources = render(overlay)
    assert not [r for r in resources if r["kind"] == "Secret"]
    (role,) = [r for r in resources if r["kind"] == "Role"]
    for rule in role["rules"]:
        assert rule["verbs"] == ["get"] and rule["resourceNames"]
    assert not [r for r in resources if r["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    (service,) = [r for r in resources if r["kind"] == "InferenceService"]
    predictor = service["spec"]["predictor"]
    assert predictor["securityContext"]["runAsNonRoot"] is True
    container_security = predictor["model"]["securityContext"]
    assert container_security["capabilities"]["drop"] == ["ALL"]
    assert container_security["readOnlyRootFilesystem"] is True
    assert container_security["allowPrivilegeEscalation"] is False
