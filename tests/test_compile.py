import dataclasses

import yaml

from components.common.config import STAGE_CONFIGS, PipelineConfig, task_defaults
from pipeline.cli import main
from pipeline.dag import PIPELINE_NAME, STEP_NAMES, pipeline_arguments


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
    assert spec["pipelineInfo"]["name"] == PIPELINE_NAME
    tasks = spec["root"]["dag"]["tasks"]
    dependencies = {name: set(task.get("dependentTasks", [])) for name, task in tasks.items()}
    assert dependencies == {
        "ingest": set(),
        "transform": {"ingest"},
        "for-loop-1": {"transform"},
        "compare": {"for-loop-1"},
        "evaluate": {"ingest", "transform", "compare"},
        "condition-2": {"evaluate", "transform", "compare"},
        "baseline": {"ingest"},
        "report": {"transform", "compare", "evaluate", "baseline"},
    }
    # One train task per model type, in parallel; compare gathers their models.
    loop = tasks["for-loop-1"]
    assert loop["parameterIterator"]["items"] == {"inputParameter": "pipelinechannel--model_types"}
    assert list(spec["components"][loop["componentRef"]["name"]]["dag"]["tasks"]) == ["train"]
    # Export runs inside the condition, only when evaluate returned True.
    condition = tasks["condition-2"]
    assert "evaluate" in condition["triggerPolicy"]["condition"]
    assert "== true" in condition["triggerPolicy"]["condition"]
    inner = spec["components"][condition["componentRef"]["name"]]["dag"]["tasks"]
    assert list(inner) == ["export"]
    display_names = {name: task["taskInfo"]["name"] for name, task in tasks.items()}
    assert display_names["transform"] == "Vectorize with tf.Transform"


def test_every_option_is_a_parameter_with_the_config_default(tmp_path):
    parameters = compiled(tmp_path)["root"]["inputDefinitions"]["parameters"]
    assert set(parameters) == set(pipeline_arguments(PipelineConfig()))
    for cls in STAGE_CONFIGS.values():
        for field in dataclasses.fields(cls):
            if field.name != "model_type":
                assert parameters[field.name]["defaultValue"] == field.default, field.name
    # The DAG takes the model types as the list its ParallelFor runs over.
    assert parameters["model_types"]["defaultValue"] == ["lstm"]
    assert parameters["beam_args"]["parameterType"] == "LIST"


def test_image_and_resources_are_set_on_every_step(tmp_path):
    spec = compiled(tmp_path, "--image", "registry.example/lstm:1")
    executors = spec["deploymentSpec"]["executors"]
    assert len(executors) == 8
    assert {e["container"]["image"] for e in executors.values()} == {"registry.example/lstm:1"}
    for executor in executors.values():
        # Steps import the installed project; nothing is pip-installed when a step starts.
        assert "pip install" not in " ".join(executor["container"]["command"])
        assert {"resourceCpuRequest", "resourceMemoryLimit"} <= set(
            executor["container"]["resources"]
        )
    train = executors["exec-train"]["container"]["resources"]
    evaluate = executors["exec-evaluate"]["container"]["resources"]
    assert float(train["resourceCpuRequest"]) > float(evaluate["resourceCpuRequest"])
    assert "accelerator" not in train


def test_gpu_caching_and_retries(tmp_path):
    spec = compiled(tmp_path, "--train-gpus", "2", "--gpu-type", "NVIDIA_L4", "--no-enable-caching")
    train = spec["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]
    assert train["accelerator"]["resourceType"] == "NVIDIA_L4"
    assert train["accelerator"]["resourceCount"] == "2"
    tasks = step_tasks(spec)
    assert set(tasks) == set(STEP_NAMES)
    assert all(task["cachingOptions"] == {} for task in tasks.values())  # {} means off.
    assert tasks["ingest"]["retryPolicy"]["maxRetryCount"] == 3
    assert tasks["ingest"]["retryPolicy"]["backoffFactor"] == 2.0
    cached = step_tasks(compiled(tmp_path))
    assert all(task["cachingOptions"] == {"enableCache": True} for task in cached.values())


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
    assert len(executors) == 8
    for executor in executors.values():
        assert executor["securityContext"] == {
            "runAsUser": "10001",
            "runAsGroup": "10001",
            "runAsNonRoot": True,
        }
    (mount,) = executors["exec-ingest"]["pvcMount"]
    assert (mount["constant"], mount["mountPath"]) == ("tfds-cache", "/data/tfds")
    ingest_env = spec["deploymentSpec"]["executors"]["exec-ingest"]["container"]["env"]
    assert {"name": "TFDS_DATA_DIR", "value": "/data/tfds"} in ingest_env
    assert "pvcMount" not in executors["exec-train"]


def test_forecast_is_the_same_dag_with_the_forecast_defaults(tmp_path):
    sentiment, forecast = compiled(tmp_path), compiled(tmp_path, "--task", "forecast")

    def edges(spec: dict) -> dict:
        return {
            name: task.get("dependentTasks") for name, task in spec["root"]["dag"]["tasks"].items()
        }

    assert edges(forecast) == edges(sentiment)
    assert forecast["deploymentSpec"] == sentiment["deploymentSpec"]
    parameters = forecast["root"]["inputDefinitions"]["parameters"]
    arguments = pipeline_arguments(task_defaults("forecast"))
    assert set(parameters) == set(arguments)
    for name, value in arguments.items():
        assert parameters[name].get("defaultValue", "") == value, name
    assert parameters["task"]["defaultValue"] == "forecast"
    assert parameters["source"]["defaultValue"] == "sine:"
    # Every step is told the task, export inside the blessing condition too.
    for name, task in step_tasks(forecast).items():
        parameter = task["inputs"]["parameters"]["task"]["componentInputParameter"]
        assert parameter.endswith("task"), name


def test_unknown_task_exits_2(tmp_path, capsys):
    assert main(["compile", "--output", str(tmp_path / "p.yaml"), "--task", "weather"]) == 2
    assert "--task='weather' is not allowed: one of ('sentiment', 'forecast')" in (
        capsys.readouterr().err
    )


def test_parallel_trainings_can_be_capped(tmp_path):
    loop = compiled(tmp_path, "--max-parallel-trainings", "2")["root"]["dag"]["tasks"]["for-loop-1"]
    assert loop["iteratorPolicy"]["parallelismLimit"] == 2
    assert "iteratorPolicy" not in compiled(tmp_path)["root"]["dag"]["tasks"]["for-loop-1"]
