"""Every kustomize overlay renders and validates against Kubernetes schemas, offline."""

import os
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from pipeline.cli import build_parser

MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"
OVERLAYS = sorted(p.name for p in (MANIFESTS / "overlays").iterdir())
KUBERNETES_VERSION = "1.32"
STORAGE_SCHEMES = {"local-minio": "s3://", "cloud": "gs://"}


def render(overlay: str | Path) -> list[dict]:
    """The resources of an overlay (by name) or of any kustomization folder (by path)."""
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
    model.pop("runtime", None)
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


def runtime_pod(serving_runtime: dict) -> dict:
    """The pod a ServingRuntime's containers run in, to validate them with the Pod schema."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "runtime"},
        "spec": {"containers": serving_runtime["spec"]["containers"]},
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
        elif resource["kind"] == "ServingRuntime":
            resource = runtime_pod(resource)
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


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_server_component_makes_our_runtime_the_predictor(tmp_path, overlay):
    # kustomize takes only relative paths to other kustomizations.
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(MANIFESTS / "overlays" / overlay, tmp_path)],
                "components": [
                    os.path.relpath(MANIFESTS / "components" / "lstm-pipeline-server", tmp_path)
                ],
            }
        )
    )
    resources = {(r["kind"], r["metadata"]["name"]): r for r in render(tmp_path)}
    predictor = resources["InferenceService", "lstm-sentiment"]["spec"]["predictor"]
    assert predictor["model"]["runtime"] == "lstm-pipeline-server"
    runtime = resources["ServingRuntime", "lstm-pipeline-server"]["spec"]
    assert runtime["supportedModelFormats"][0]["name"] == predictor["model"]["modelFormat"]["name"]
    (container,) = runtime["containers"]
    # KServe puts the InferenceService's name where the runtime says {{.Name}}.
    args = [arg.replace("{{.Name}}", "lstm-sentiment") for arg in container["args"]]
    options = build_parser().parse_args(container["command"][1:] + args)
    assert options.command == "serve" and options.model_dir == "/mnt/models"
    assert options.model_name == "lstm-sentiment" and options.host == "0.0.0.0"
    assert options.port == container["ports"][0]["containerPort"]
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/v2/health/ready",
        "port": options.port,
    }
    assert container["livenessProbe"]["httpGet"] == {
        "path": "/v2/health/live",
        "port": options.port,
    }
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
