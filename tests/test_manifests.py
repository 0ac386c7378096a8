"""Every kustomize overlay renders and validates offline: built-in kinds against the Kubernetes
schemas, the InferenceService against KServe's own API types."""

import copy
import importlib.metadata
import re
import shutil
import subprocess
from pathlib import Path

import kserve.models
import kubernetes.client.models
import kubernetes_validate
import pytest
import yaml

from pipeline.cli import build_parser
from pipeline.deployment import registry_host

MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"
OVERLAYS = sorted(p.name for p in (MANIFESTS / "overlays").iterdir())
KUBERNETES_VERSION = "1.32"
PRIMITIVES = {"str": str, "bool": bool, "int": int, "float": (int, float), "object": object}
# What pipeline steps do with the Kubernetes API (manifests/base/runner.yaml says why each).
RUNNER_RULES = [
    {
        "apiGroups": ["argoproj.io"],
        "resources": ["workflowtaskresults"],
        "verbs": ["create", "patch"],
    },
    {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "resourceNames": ["kfp-launcher"],
        "verbs": ["get"],
    },
    {
        "apiGroups": [""],
        "resources": ["secrets"],
        "resourceNames": ["mlpipeline-minio-artifact"],
        "verbs": ["get"],
    },
]


def render(overlay: str, scratch: Path, components: tuple[str, ...] = ()) -> list[dict]:
    """The overlay's objects, with the kustomize `components` (names under manifests/components)
    added, rendered from a copy whose credential env files (kept out of git, made from the
    cluster's Secret) hold placeholders."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl (with its built-in kustomize) is needed to render the manifests")
    copied = scratch / "manifests"
    shutil.copytree(MANIFESTS, copied)
    directory = copied / "overlays" / overlay
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    for generator in kustomization.get("secretGenerator", []):
        for env_file in generator.get("envs", []):
            (directory / env_file).write_text("awsAccessKeyID=placeholder\nawsSecretAccessKey=x\n")
    if components:
        # kustomize takes only relative paths to other kustomizations.
        combined = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [f"overlays/{overlay}"],
            "components": [f"components/{name}" for name in components],
        }
        directory = copied
        (directory / "kustomization.yaml").write_text(yaml.safe_dump(combined))
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=True
    )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def check_api_object(value, type_name: str, where: str = "") -> None:
    """Checks parsed YAML against KServe's published API types: the classes its SDK (the
    `kserve` package) generates from the OpenAPI schema of its CRDs, and the Kubernetes ones
    they embed. A field the type lacks is an error, as under `kubectl apply`'s default strict
    field validation; so is a value of the wrong type.

    Raises:
        ValueError: naming the first field that does not fit.
    """
    if match := re.fullmatch(r"list\[(.+)\]", type_name):
        if not isinstance(value, list):
            raise ValueError(f"{where}: a list, not {value!r}")
        for index, item in enumerate(value):
            check_api_object(item, match[1], f"{where}[{index}]")
    elif match := re.fullmatch(r"dict\(str, (.+)\)", type_name):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: a mapping, not {value!r}")
        for key, item in value.items():
            check_api_object(item, match[1], f"{where}.{key}")
    elif type_name in PRIMITIVES:
        if not isinstance(value, PRIMITIVES[type_name]):
            raise ValueError(f"{where}: a {type_name}, not {value!r}")
    else:
        api_type = getattr(kserve.models, type_name, None) or getattr(
            kubernetes.client.models, type_name
        )
        if not isinstance(value, dict):
            raise ValueError(f"{where}: a {type_name} object, not {value!r}")
        fields = {key: attribute for attribute, key in api_type.attribute_map.items()}
        for key, item in value.items():
            if key not in fields:
                raise ValueError(f"{where}.{key}: {type_name} has no such field")
            check_api_object(item, api_type.openapi_types[fields[key]], f"{where}.{key}")


def check_inference_service(resource: dict) -> None:
    assert (resource["apiVersion"], resource["kind"]) == (
        "serving.kserve.io/v1beta1",
        "InferenceService",
    )
    check_api_object(resource, "V1beta1InferenceService")


def by_kind(resources: list[dict], kind: str) -> list[dict]:
    return [r for r in resources if r["kind"] == kind]


@pytest.fixture(params=OVERLAYS)
def overlay(request, tmp_path):
    return request.param, render(request.param, tmp_path)


def test_overlay_validates_against_kubernetes_and_kserve_types(overlay):
    _, resources = overlay
    (service,) = by_kind(resources, "InferenceService")
    check_inference_service(service)
    (runtime,) = by_kind(resources, "ServingRuntime")
    check_api_object(runtime, "V1alpha1ServingRuntime")
    for resource in resources:
        if resource["kind"] not in ("InferenceService", "ServingRuntime"):
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_kserve_types_reject_what_the_api_server_would(tmp_path):
    (service,) = by_kind(render("single-user", tmp_path), "InferenceService")
    misplaced = copy.deepcopy(service)
    misplaced["spec"]["predictor"]["model"]["storageUrl"] = "s3://typo"
    with pytest.raises(ValueError, match="V1beta1ModelSpec has no such field"):
        check_inference_service(misplaced)
    wrong_type = copy.deepcopy(service)
    wrong_type["spec"]["predictor"]["model"]["resources"]["limits"] = ["1"]
    with pytest.raises(ValueError, match="a mapping"):
        check_inference_service(wrong_type)
    nested = copy.deepcopy(service)
    nested["spec"]["predictor"]["model"]["securityContext"]["capabilities"]["remove"] = ["ALL"]
    with pytest.raises(ValueError, match="V1Capabilities has no such field"):
        check_inference_service(nested)


def test_the_runner_role_grants_exactly_what_the_steps_need(overlay):
    _, resources = overlay
    (role,) = by_kind(resources, "Role")
    assert role["rules"] == RUNNER_RULES
    (binding,) = by_kind(resources, "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": "lstm-pipeline-runner",
            "namespace": role["metadata"]["namespace"],
        }
    ]
    assert not by_kind(resources, "ClusterRole") and not by_kind(resources, "ClusterRoleBinding")


def test_kfp_configuration_is_left_to_kfp(overlay):
    name, resources = overlay
    # No ConfigMap at all: kfp-launcher's pipeline root stays the namespace's own (a multi-user
    # profile's storage policy allows uploads only below it), and nothing reads anything else.
    assert not by_kind(resources, "ConfigMap") and not by_kind(resources, "Namespace")
    namespaces = {r["metadata"]["namespace"] for r in resources}
    assert namespaces == ({"kubeflow-user-example-com"} if name == "multi-user" else {"kubeflow"})


def test_serving_reads_the_store_with_its_own_tokenless_account(overlay):
    name, resources = overlay
    (service,) = by_kind(resources, "InferenceService")
    predictor = service["spec"]["predictor"]
    accounts = {a["metadata"]["name"]: a for a in by_kind(resources, "ServiceAccount")}
    serving = accounts[predictor["serviceAccountName"]]
    assert serving["automountServiceAccountToken"] is False
    storage_uri = predictor["model"]["storageUri"]
    if name == "gke":
        assert storage_uri.startswith("gs://")
        assert not by_kind(resources, "Secret") and "secrets" not in serving
        return
    namespace = service["metadata"]["namespace"]
    prefix = "s3://mlpipeline/" + (f"private/{namespace}/" if name == "multi-user" else "")
    assert storage_uri.startswith(prefix)
    (secret,) = by_kind(resources, "Secret")
    assert serving["secrets"] == [{"name": secret["metadata"]["name"]}]
    # KServe takes S3 settings from the Secret's annotations, and its keys by these names.
    assert set(secret["data"]) == {"awsAccessKeyID", "awsSecretAccessKey"}
    annotations = secret["metadata"]["annotations"]
    # KFP 2.16+ installs SeaweedFS as its object store; there is no minio-service any more.
    assert annotations["serving.kserve.io/s3-endpoint"] == "seaweedfs.kubeflow:8333"
    assert annotations["serving.kserve.io/s3-usehttps"] == "0"
    assert not service["metadata"].get("annotations")


def test_serving_is_pinned_to_a_tf_serving_release_for_our_tensorflow(overlay):
    _, resources = overlay
    (service,) = by_kind(resources, "InferenceService")
    model = service["spec"]["predictor"]["model"]
    assert model["runtime"] == "kserve-tensorflow-serving"
    serving = tuple(int(part) for part in model["runtimeVersion"].split(".")[:2])
    tensorflow = tuple(int(p) for p in importlib.metadata.version("tensorflow").split(".")[:2])
    # TF Serving's newest release, 2.20, is one minor version behind our TensorFlow.
    assert serving[0] == tensorflow[0] and tensorflow[1] - 1 <= serving[1] <= tensorflow[1]


def test_serving_runs_non_root_read_only_and_without_capabilities(overlay):
    _, resources = overlay
    (service,) = by_kind(resources, "InferenceService")
    predictor = service["spec"]["predictor"]
    assert predictor["securityContext"]["runAsNonRoot"] is True
    container_security = predictor["model"]["securityContext"]
    assert container_security["capabilities"]["drop"] == ["ALL"]
    assert container_security["readOnlyRootFilesystem"] is True
    assert container_security["allowPrivilegeEscalation"] is False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_server_component_makes_our_runtime_the_predictor(tmp_path, overlay):
    rendered = render(overlay, tmp_path, components=("lstm-pipeline-server",))
    resources = {(r["kind"], r["metadata"]["name"]): r for r in rendered}
    predictor = resources["InferenceService", "lstm-sentiment"]["spec"]["predictor"]
    assert predictor["model"]["runtime"] == "lstm-pipeline-server"
    # KServe would make a runtimeVersion the tag of the runtime's image.
    assert "runtimeVersion" not in predictor["model"]
    runtime = resources["ServingRuntime", "lstm-pipeline-server"]["spec"]
    assert runtime["supportedModelFormats"][0]["name"] == predictor["model"]["modelFormat"]["name"]
    (container,) = runtime["containers"]
    assert registry_host(container["image"]), "a cluster pulls images from a registry"
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
