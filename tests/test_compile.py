import dataclasses

import pytest
import yaml

from components.common.config import (
    STAGE_CONFIGS,
    IngestConfig,
    PretrainConfig,
    SeriesConfig,
    TrainConfig,
    TransformConfig,
    WindowConfig,
    task_defaults,
)
from components.common.provenance import code_version
from components.common.tasks import FORECAST, SENTIMENT, TASKS
from pipeline.cli import main
from pipeline.dag import pipeline_arguments, step_task_names
from pipeline.deployment import STEP_RESOURCES, DeploymentOptions, registry_host


def compiled(tmp_path, *args) -> dict:
    output = tmp_path / "pipeline.yaml"
    assert main(["compile", "--output", str(output), *args]) == 0
    # KFP writes the pipeline spec, then (with Kubernetes settings) a platform spec document.
    spec, *platform = yaml.safe_load_all(output.read_text())
    if platform:
        spec["platforms"] = platform[0]["platforms"]
    return spec


def test_dag_edges_follow_the_data(tmp_path):
    spec = compiled(tmp_path)
    assert spec["pipelineInfo"]["name"] == "lstm-sentiment"
    tasks = spec["root"]["dag"]["tasks"]
    dependencies = {name: set(task.get("dependentTasks", [])) for name, task in tasks.items()}
    ingest, transform = "ingest-sentiment", "transform-sentiment"
    evaluate, report = "evaluate-sentiment", "report-sentiment"
    assert dependencies == {
        ingest: set(),
        transform: {ingest},
        "for-loop-1": {transform},
        "compare": {"for-loop-1"},
        evaluate: {ingest, transform, "compare"},
        "condition-2": {evaluate, transform, "compare"},
        "baseline": {ingest},
        report: {transform, "compare", evaluate, "baseline"},
    }
    # One train task per model type, in parallel; compare gathers their models.
    loop = tasks["for-loop-1"]
    assert loop["parameterIterator"]["items"] == {"inputParameter": "pipelinechannel--model_types"}
    loop_tasks = spec["components"][loop["componentRef"]["name"]]["dag"]["tasks"]
    assert list(loop_tasks) == ["pretrain", "train-sentiment"]
    # Each model's classifier starts from its own pretrained encoder.
    train_inputs = loop_tasks["train-sentiment"]["inputs"]["artifacts"]
    assert train_inputs["pretrained_encoder"]["taskOutputArtifact"]["producerTask"] == "pretrain"
    # Export runs inside the condition, only when evaluate returned True.
    condition = tasks["condition-2"]
    assert "evaluate" in condition["triggerPolicy"]["condition"]
    assert "== true" in condition["triggerPolicy"]["condition"]
    inner = spec["components"][condition["componentRef"]["name"]]["dag"]["tasks"]
    assert list(inner) == ["export"]
    display_names = {name: task["taskInfo"]["name"] for name, task in tasks.items()}
    assert display_names[transform] == "Vectorize with tf.Transform"


# The options of each task's pipeline: the shared ones, and its own stages'.
SHARED = {"source", "max_quarantine_fraction", "max_regression", "export_dir"}
SENTIMENT_TRAIN = {"embedding_dim", "embedding_init", "embedding_text"}
SHARED |= {f.name for f in dataclasses.fields(TrainConfig)} - SENTIMENT_TRAIN
OWN = {
    SENTIMENT: {
        f.name
        for cls in (IngestConfig, TransformConfig, PretrainConfig)
        for f in dataclasses.fields(cls)
    }
    | SENTIMENT_TRAIN
    | {"accuracy_threshold"},
    FORECAST: {f.name for cls in (SeriesConfig, WindowConfig) for f in dataclasses.fields(cls)}
    | {"max_rmse_ratio"},
}


@pytest.mark.parametrize("task", [SENTIMENT, FORECAST])
def test_each_pipeline_has_only_its_tasks_options_as_parameters_with_their_defaults(tmp_path, task):
    parameters = compiled(tmp_path, "--task", task)["root"]["inputDefinitions"]["parameters"]
    arguments = pipeline_arguments(task_defaults(task))
    assert set(parameters) == set(arguments)
    # The DAG takes the model types as the list its ParallelFor runs over.
    expected = (SHARED | OWN[task]) - {"model_type"} | {"model_types", "beam_args", "cache_dir"}
    assert set(parameters) == expected
    other = FORECAST if task == SENTIMENT else SENTIMENT
    assert not (OWN[other] - SHARED) & set(parameters)
    for name, value in arguments.items():
        assert parameters[name].get("defaultValue", "") == value, name
    defaults = task_defaults(task)
    for stage in STAGE_CONFIGS:
        for field in dataclasses.fields(getattr(defaults, stage)):
            if field.name in parameters:
                assert parameters[field.name]["defaultValue"] == getattr(
                    getattr(defaults, stage), field.name
                )
    default_model = {SENTIMENT: "bigru", FORECAST: "lstm"}[task]
    assert parameters["model_types"]["defaultValue"] == [default_model]
    assert parameters["beam_args"]["parameterType"] == "LIST"
    assert "task" not in parameters


def test_every_step_uses_a_parameter_and_every_parameter_reaches_a_step(tmp_path):
    for task in (SENTIMENT, FORECAST):
        spec = compiled(tmp_path, "--task", task)
        used = {
            argument["componentInputParameter"]
            for step in step_tasks(spec).values()
            for argument in step["inputs"].get("parameters", {}).values()
            if "componentInputParameter" in argument
        }
        # Inside the loop and the condition, parameters arrive as pipelinechannel--NAME.
        used = {name.removeprefix("pipelinechannel--") for name in used}
        loop = spec["root"]["dag"]["tasks"]["for-loop-1"]
        used.add(loop["parameterIterator"]["items"]["inputParameter"].split("--")[1])
        parameters = set(spec["root"]["inputDefinitions"]["parameters"])
        assert parameters <= used, (task, parameters - used)


def test_image_and_resources_are_set_on_every_step(tmp_path):
    spec = compiled(tmp_path, "--image", "registry.example/lstm:1")
    executors = spec["deploymentSpec"]["executors"]
    platform = spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert len(executors) == len(TASKS[SENTIMENT].steps) == 9
    assert {e["container"]["image"] for e in executors.values()} == {"registry.example/lstm:1"}
    for step, task_name in step_task_names(SENTIMENT).items():
        container = executors[f"exec-{task_name}"]["container"]
        # Steps import the installed project; nothing is pip-installed when a step starts.
        assert "pip install" not in " ".join(container["command"])
        expected = STEP_RESOURCES[step]
        assert container["resources"]["resourceCpuRequest"] == expected.cpu
        assert "resourceCpuLimit" not in container["resources"]  # Idle cores may be used.
        assert container["resources"]["resourceMemoryRequest"] == expected.memory
        assert container["resources"]["resourceMemoryLimit"] == expected.memory
        # Every attempt of every step has a deadline.
        assert platform[f"exec-{task_name}"]["activeDeadlineSeconds"] == str(
            expected.timeout_seconds
        )
    assert "accelerator" not in executors["exec-train-sentiment"]["container"]["resources"]


def cores(cpu: str) -> float:
    return float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)


def test_default_requests_schedule_on_a_4_cpu_kind_cluster():
    # Kubernetes' and Kubeflow Pipelines' own pods on such a cluster request about 2 CPUs; the
    # steps that can run at once (transform beside baseline, a training beside baseline) must
    # fit in the other 2, and each in the memory of a laptop's node.
    assert all(cores(r.cpu) <= 1 for r in STEP_RESOURCES.values())
    assert all(int(r.memory.removesuffix("Gi")) <= 6 for r in STEP_RESOURCES.values())


def test_resources_and_timeouts_can_be_set_per_step(tmp_path, capsys):
    spec = compiled(
        tmp_path,
        "--step-resources",
        "train=3,12Gi",
        "--step-timeout",
        "train=60",
        "--step-timeout",
        "ingest=120",
    )
    train = spec["deploymentSpec"]["executors"]["exec-train-sentiment"]["container"]["resources"]
    assert (train["resourceCpuRequest"], train["resourceMemoryLimit"]) == ("3", "12Gi")
    platform = spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert platform["exec-train-sentiment"]["activeDeadlineSeconds"] == "60"
    assert platform["exec-ingest-sentiment"]["activeDeadlineSeconds"] == "120"
    evaluate = spec["deploymentSpec"]["executors"]["exec-evaluate-sentiment"]["container"]
    assert evaluate["resources"]["resourceCpuRequest"] == STEP_RESOURCES["evaluate"].cpu
    for option, value, message in [
        ("--step-resources", "train=3", "STEP=CPU,MEMORY such as train=2,8Gi"),
        ("--step-resources", "train=many,8Gi", "STEP=CPU,MEMORY such as train=2,8Gi"),
        ("--step-resources", "trainer=1,1Gi", "STEP=VALUE with STEP one of ["),
        ("--step-timeout", "train=0", "STEP=SECONDS, SECONDS > 0"),
    ]:
        assert main(["compile", "--output", str(tmp_path / "p.yaml"), option, value]) == 2
        assert f"{option}={value!r} is not allowed: {message}" in capsys.readouterr().err


def test_caching_is_off_for_steps_with_outside_effects_and_no_cache_turns_it_all_off(tmp_path):
    cached = step_tasks(compiled(tmp_path))
    uncached = {"evaluate-sentiment", "export"}  # They read and push the serving destination.
    for name, task in cached.items():
        assert task["cachingOptions"] == ({} if name in uncached else {"enableCache": True}), name
    tasks = step_tasks(compiled(tmp_path, "--no-cache"))
    assert set(tasks) == set(step_task_names(SENTIMENT).values())
    assert all(task["cachingOptions"] == {} for task in tasks.values())  # {} means off.
    assert tasks["ingest-sentiment"]["retryPolicy"]["maxRetryCount"] == 3
    assert tasks["ingest-sentiment"]["retryPolicy"]["backoffFactor"] == 2.0


def test_every_step_is_keyed_on_and_checks_the_code_it_was_compiled_from(tmp_path):
    # KFP's cache key holds a step's inputs and image string, not what the image contains.
    for task in step_tasks(compiled(tmp_path)).values():
        value = task["inputs"]["parameters"]["code_version"]["runtimeValue"]["constant"]
        assert value == code_version()


def test_the_train_step_runs_the_gpu_image_when_it_has_gpus(tmp_path, capsys):
    spec = compiled(
        tmp_path,
        "--image",
        "registry.example/lstm:1",
        "--train-gpus",
        "2",
        "--gpu-type",
        "NVIDIA_L4",
    )
    executors = spec["deploymentSpec"]["executors"]
    train = executors.pop("exec-train-sentiment")["container"]
    assert train["image"] == "registry.example/lstm:1-gpu"
    assert train["resources"]["accelerator"]["resourceType"] == "NVIDIA_L4"
    assert train["resources"]["accelerator"]["resourceCount"] == "2"
    assert {e["container"]["image"] for e in executors.values()} == {"registry.example/lstm:1"}
    digest = "registry.example/lstm@sha256:" + "0" * 64
    gpu_digest = "registry.example/lstm-gpu@sha256:" + "1" * 64
    spec = compiled(tmp_path, "--image", digest, "--train-gpus", "1", "--gpu-image", gpu_digest)
    assert (
        spec["deploymentSpec"]["executors"]["exec-train-sentiment"]["container"]["image"]
        == gpu_digest
    )
    assert (
        main(
            [
                "compile",
                "--output",
                str(tmp_path / "p.yaml"),
                "--image",
                digest,
                "--train-gpus",
                "1",
            ]
        )
        == 2
    )
    assert (
        "is a digest: with --train-gpus, name the GPU build with --gpu-image"
        in capsys.readouterr().err
    )


def test_a_cluster_image_must_name_its_registry_and_may_be_a_digest(tmp_path, capsys):
    assert registry_host(DeploymentOptions().image) == "localhost:5001"
    digest = "ghcr.io/example/lstm-pipeline@sha256:" + "ab" * 32
    images = {
        e["container"]["image"]
        for e in compiled(tmp_path, "--image", digest)["deploymentSpec"]["executors"].values()
    }
    assert images == {digest}
    for image, message in [
        ("lstm-pipeline:0.1.0", "a cluster pulls images from a registry, so name one"),
        ("example/lstm-pipeline:1", "a cluster pulls images from a registry, so name one"),
        ("ghcr.io/Example/lstm", "an image reference"),
        ("ghcr.io/example/lstm@sha256:123", "an image reference"),
    ]:
        for command in (
            ["compile", "--output", str(tmp_path / "p.yaml")],
            ["submit", "--host", "http://127.0.0.1:9"],
        ):
            assert main([*command, "--image", image]) == 2
            assert f"--image={image!r} is not allowed: {message}" in capsys.readouterr().err


def test_s3_paths_get_the_object_stores_endpoint_and_keys(tmp_path):
    spec = compiled(
        tmp_path,
        "--s3-endpoint",
        "http://seaweedfs.kubeflow:8333",
        "--s3-credentials-secret",
        "mlpipeline-minio-artifact",
    )
    platform = spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for name, executor in spec["deploymentSpec"]["executors"].items():
        assert {"name": "AWS_ENDPOINT_URL", "value": "http://seaweedfs.kubeflow:8333"} in executor[
            "container"
        ]["env"]
        (secret,) = platform[name]["secretAsEnv"]
        assert secret["secretName"] == "mlpipeline-minio-artifact"
        assert {(k["secretKey"], k["envVar"]) for k in secret["keyToEnv"]} == {
            ("accesskey", "AWS_ACCESS_KEY_ID"),
            ("secretkey", "AWS_SECRET_ACCESS_KEY"),
        }
    plain = compiled(tmp_path)
    assert not any("env" in e["container"] for e in plain["deploymentSpec"]["executors"].values())
    assert (
        main(["compile", "--output", str(tmp_path / "p.yaml"), "--s3-endpoint", "seaweedfs:8333"])
        == 2
    )


def step_tasks(spec: dict) -> dict:
    """Every step's task spec, the ones inside the dsl.If condition and ParallelFor too."""
    dags = [spec["root"]["dag"]] + [c["dag"] for c in spec["components"].values() if "dag" in c]
    return {
        name: task
        for dag in dags
        for name, task in dag["tasks"].items()
        if not name.startswith(("condition-", "for-loop-"))
    }


def test_bad_cluster_option_exits_2(tmp_path, capsys):
    assert main(["compile", "--output", str(tmp_path / "p.yaml"), "--train-gpus", "-1"]) == 2
    assert "--train-gpus=-1 is not allowed" in capsys.readouterr().err


def test_steps_run_as_the_images_non_root_user_and_ingest_can_mount_the_tfds_cache(tmp_path):
    spec = compiled(tmp_path, "--tfds-cache-pvc", "tfds-cache")
    executors = spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert len(executors) == len(TASKS[SENTIMENT].steps)
    for executor in executors.values():
        assert executor["securityContext"] == {
            "runAsUser": "10001",
            "runAsGroup": "10001",
            "runAsNonRoot": True,
        }
    (mount,) = executors["exec-ingest-sentiment"]["pvcMount"]
    assert (mount["constant"], mount["mountPath"]) == ("tfds-cache", "/data/tfds")
    ingest_env = spec["deploymentSpec"]["executors"]["exec-ingest-sentiment"]["container"]["env"]
    assert {"name": "TFDS_DATA_DIR", "value": "/data/tfds"} in ingest_env
    assert "pvcMount" not in executors["exec-train-sentiment"]


def test_forecast_is_its_own_pipeline_with_forecast_names_and_no_baseline(tmp_path):
    spec = compiled(tmp_path, "--task", "forecast")
    assert spec["pipelineInfo"]["name"] == "lstm-forecast"
    tasks = spec["root"]["dag"]["tasks"]
    display_names = {name: task["taskInfo"]["name"] for name, task in tasks.items()}
    assert display_names["ingest-forecast"] == "Ingest series"
    assert display_names["evaluate-forecast"] == "Evaluate on the test period"
    assert not any("review" in name.lower() for name in display_names.values())
    steps = step_tasks(spec)
    assert set(steps) == set(step_task_names(FORECAST).values())
    assert "baseline" not in steps and set(tasks["report-forecast"]["dependentTasks"]) == {
        "transform-forecast",
        "compare",
        "evaluate-forecast",
    }
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["source"]["defaultValue"] == "sine:"
    # The steps shared by both tasks are told the task as a constant, not a parameter.
    for name in ("compare", "export"):
        task_input = steps[name]["inputs"]["parameters"]["task"]
        assert task_input["runtimeValue"]["constant"] == "forecast", name
    # Evaluate of a forecast has no classification metrics to write.
    evaluate = spec["components"]["comp-evaluate-forecast"]["outputDefinitions"]["artifacts"]
    assert set(evaluate) == {"evaluation", "metrics"}


def test_unknown_task_exits_2(tmp_path, capsys):
    assert main(["compile", "--output", str(tmp_path / "p.yaml"), "--task", "weather"]) == 2
    assert "--task='weather' is not allowed: one of ('sentiment', 'forecast')" in (
        capsys.readouterr().err
    )


def test_parallel_trainings_can_be_capped(tmp_path):
    loop = compiled(tmp_path, "--max-parallel-trainings", "2")["root"]["dag"]["tasks"]["for-loop-1"]
    assert loop["iteratorPolicy"]["parallelismLimit"] == 2
    assert "iteratorPolicy" not in compiled(tmp_path)["root"]["dag"]["tasks"]["for-loop-1"]


def test_integer_parameters_have_integer_defaults_in_the_yaml(tmp_path):
    output = tmp_path / "sentiment.yaml"
    assert main(["compile", "--output", str(output)]) == 0
    text = output.read_text()
    pipeline_spec = next(yaml.safe_load_all(text))
    parameters = pipeline_spec["root"]["inputDefinitions"]["parameters"]
    integers = {n: p for n, p in parameters.items() if p["parameterType"] == "NUMBER_INTEGER"}
    assert integers["batch_size"]["defaultValue"] == 128
    assert all(type(p["defaultValue"]) is int for p in integers.values())
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    assert "#    batch_size: int [Default: 128]\n" in header
    assert "int [Default: 128.0]" not in header
