"""The pipeline of each task, built from the same components.

ingest -> transform -> train (one task per model type, in parallel) -> compare (the champion by
the task's eval metric) -> evaluate -> (if blessed) export; for sentiment the n-gram baseline
beside; report last.

Compiling, submitting and running locally all use `create_pipeline`; they only choose the task
(with its parameters' defaults), the image, the pipeline root and the runner. Each task's
pipeline takes only its own parameters, and its name and step names are the task's
(components/common/tasks.py). One function wires the steps of both from the components in
STEP_COMPONENTS, each given the pipeline parameters named like its inputs.
"""

from kfp import dsl, kubernetes

from components.baseline.component import baseline
from components.common.config import STAGE_CONFIGS, PipelineConfig, task_defaults
from components.common.provenance import code_version
from components.common.tasks import FORECAST, SENTIMENT, TASKS
from components.compare.component import compare
from components.evaluate.component import evaluate_forecast, evaluate_sentiment
from components.export.component import export
from components.ingest.component import ingest_forecast, ingest_sentiment
from components.pretrain.component import pretrain
from components.report.component import report_forecast, report_sentiment
from components.train.component import train_forecast, train_sentiment
from components.transform.component import transform_forecast, transform_sentiment
from pipeline.deployment import (
    RETRY_BACKOFF,
    RETRY_BACKOFF_FACTOR,
    RETRY_MAX_DURATION,
    RUN_AS_USER,
    S3_ENDPOINT_ENV,
    S3_SECRET_KEYS,
    TFDS_CACHE_PATH,
    UNCACHED_STEPS,
    DeploymentOptions,
)

# Task -> step -> the KFP component that runs it. Steps share a component where its inputs
# are the same for every task (it is then told the task).
STEP_COMPONENTS = {
    SENTIMENT: {
        "ingest": ingest_sentiment,
        "transform": transform_sentiment,
        "pretrain": pretrain,
        "train": train_sentiment,
        "compare": compare,
        "evaluate": evaluate_sentiment,
        "export": export,
        "baseline": baseline,
        "report": report_sentiment,
    },
    FORECAST: {
        "ingest": ingest_forecast,
        "transform": transform_forecast,
        "train": train_forecast,
        "compare": compare,
        "evaluate": evaluate_forecast,
        "export": export,
        "report": report_forecast,
    },
}


def step_task_names(task: str) -> dict[str, str]:
    """Step -> the name of its task in the task's compiled pipeline (and its folder locally)."""
    return {step: component.name for step, component in STEP_COMPONENTS[task].items()}


def _deploy(task, step: str, options: DeploymentOptions):
    resources = options.resources(step)
    task.set_container_image(options.train_image if step == "train" else options.image)
    task.set_cpu_request(resources.cpu)
    task.set_memory_request(resources.memory).set_memory_limit(resources.memory)
    kubernetes.set_timeout(task, resources.timeout_seconds)
    if options.retries:
        task.set_retry(
            resources.retries,
            backoff_duration=RETRY_BACKOFF,
            backoff_factor=RETRY_BACKOFF_FACTOR,
            backoff_max_duration=RETRY_MAX_DURATION,
        )
    task.set_caching_options(options.cache and step not in UNCACHED_STEPS)
    kubernetes.set_security_context(
        task, run_as_user=RUN_AS_USER, run_as_group=RUN_AS_USER, run_as_non_root=True
    )
    if options.s3_endpoint:
        task.set_env_variable(S3_ENDPOINT_ENV, options.s3_endpoint)
    if options.s3_credentials_secret:
        kubernetes.use_secret_as_env(task, options.s3_credentials_secret, S3_SECRET_KEYS)
    if step == "ingest" and options.tfds_cache_pvc:
        kubernetes.mount_pvc(task, pvc_name=options.tfds_cache_pvc, mount_path=TFDS_CACHE_PATH)
        task.set_env_variable("TFDS_DATA_DIR", TFDS_CACHE_PATH)
    if step == "train" and options.train_gpus:
        task.set_accelerator_type(options.gpu_type).set_accelerator_limit(options.train_gpus)


def _add_steps(task: str, options: DeploymentOptions, parameters: dict, local: bool) -> None:
    """Adds the task's steps to the pipeline being defined; each step's component gets the
    pipeline `parameters` named like its inputs, and the task where it takes one.

    For a `local` run (kfp.local) the steps get only the image (the one the docker runner
    starts; the subprocess runner ignores it): no display names, resources, retries or security
    context, which kfp.local has no use for and warns about.
    """
    spec = TASKS[task]
    # The code every step must run, fixed at compile time and part of each step's cache key.
    values = {**parameters, "task": task, "code_version": code_version()}

    def step(name: str, **artifacts) -> dsl.PipelineTask:
        component = STEP_COMPONENTS[task][name]
        taken = {
            key: value for key, value in values.items() if key in component.component_spec.inputs
        }
        step_task = component(**taken, **artifacts)
        if local:
            step_task.set_container_image(options.image)
        else:
            step_task.set_display_name(spec.display_names[name])
            _deploy(step_task, name, options)
        return step_task

    examples = step("ingest").outputs["examples"]
    transform = step("transform", examples=examples)
    graph = transform.outputs["transform_graph"]
    transformed = transform.outputs["transformed_examples"]
    with dsl.ParallelFor(
        items=parameters["model_types"], name="models", parallelism=options.max_parallel_trainings
    ) as model_type:
        data = {"transformed_examples": transformed, "transform_graph": graph}
        if "pretrain" in spec.steps:
            encoder = step("pretrain", model_type=model_type, **data).outputs["encoder"]
            data["pretrained_encoder"] = encoder
        train = step("train", model_type=model_type, **data)
    compare_task = step("compare", models=dsl.Collected(train.outputs["model"]))
    champion = compare_task.outputs["champion"]
    evaluate = step("evaluate", examples=examples, transform_graph=graph, model=champion)
    with dsl.If(evaluate.outputs["Output"] == True, name="blessed"):  # noqa: E712
        step("export", transform_graph=graph, model=champion)
    report_inputs = {
        "transformed_examples": transformed,
        "transform_graph": graph,
        "model": champion,
        "evaluation": evaluate.outputs["evaluation"],
        "leaderboard": compare_task.outputs["leaderboard"],
    }
    if spec.baseline:
        report_inputs["baseline_result"] = step("baseline", examples=examples).outputs[
            "baseline_result"
        ]
    step("report", **report_inputs)


def _sentiment_pipeline(options: DeploymentOptions, defaults: PipelineConfig, local: bool):
    ingest, transform, pretraining = defaults.ingest, defaults.transform, defaults.pretrain
    train, evaluate = defaults.train, defaults.evaluate
    spec = TASKS[SENTIMENT]

    @dsl.pipeline(
        name=spec.pipeline_name,
        pipeline_root=options.pipeline_root or None,
        description=spec.description,
    )
    def lstm_sentiment(
        source: str = ingest.source,
        data_dir: str = ingest.data_dir,
        text_field: str = ingest.text_field,
        label_field: str = ingest.label_field,
        split_field: str = ingest.split_field,
        eval_fraction: float = ingest.eval_fraction,
        max_examples: int = ingest.max_examples,
        max_text_bytes: int = ingest.max_text_bytes,
        max_quarantine_fraction: float = ingest.max_quarantine_fraction,
        unlabeled: bool = ingest.unlabeled,
        vocab_size: int = transform.vocab_size,
        max_seq_len: int = transform.max_seq_len,
        punctuation: str = transform.punctuation,
        vocabulary_text: str = transform.vocabulary_text,
        model_types: list = list(train.model_types),  # noqa: B006 - as beam_args
        epochs: int = train.epochs,
        batch_size: int = train.batch_size,
        embedding_dim: int = train.embedding_dim,
        embedding_init: str = train.embedding_init,
        embedding_text: str = train.embedding_text,
        pretrain_tokens: int = pretraining.pretrain_tokens,
        pretrain_sampled_words: int = pretraining.pretrain_sampled_words,
        pretrain_window: int = pretraining.pretrain_window,
        pretrain_batch_size: int = pretraining.pretrain_batch_size,
        pretrain_learning_rate: float = pretraining.pretrain_learning_rate,
        pretrain_held_out: float = pretraining.pretrain_held_out,
        pretrain_seed: int = pretraining.pretrain_seed,
        units: int = train.units,
        dense_units: int = train.dense_units,
        pooling: str = train.pooling,
        dropout: float = train.dropout,
        learning_rate: float = train.learning_rate,
        learning_rate_decay: float = train.learning_rate_decay,
        patience: int = train.patience,
        seed: int = train.seed,
        members: int = train.members,
        memory_budget_mb: int = train.memory_budget_mb,
        accuracy_threshold: float = evaluate.accuracy_threshold,
        max_regression: float = evaluate.max_regression,
        export_dir: str = evaluate.export_dir,
        beam_args: list = [],  # noqa: B006 - KFP reads the literal default into the pipeline spec.
        cache_dir: str = "",
    ):
        # locals() here is exactly the parameters, as the pipeline's channels.
        _add_steps(SENTIMENT, options, locals(), local)

    return lstm_sentiment


def _forecast_pipeline(options: DeploymentOptions, defaults: PipelineConfig, local: bool):
    ingest, series, window = defaults.ingest, defaults.series, defaults.window
    train, evaluate = defaults.train, defaults.evaluate
    spec = TASKS[FORECAST]

    @dsl.pipeline(
        name=spec.pipeline_name,
        pipeline_root=options.pipeline_root or None,
        description=spec.description,
    )
    def lstm_forecast(
        source: str = ingest.source,
        max_quarantine_fraction: float = ingest.max_quarantine_fraction,
        date_field: str = series.date_field,
        target: str = series.target,
        sine_length: int = series.sine_length,
        sine_period: float = series.sine_period,
        sine_amplitude: float = series.sine_amplitude,
        sine_noise: float = series.sine_noise,
        sine_seed: int = series.sine_seed,
        series_train_fraction: float = series.series_train_fraction,
        series_eval_fraction: float = series.series_eval_fraction,
        lookback: int = window.lookback,
        horizon: int = window.horizon,
        scaling: str = window.scaling,
        forecast_target: str = window.forecast_target,
        model_types: list = list(train.model_types),  # noqa: B006 - as beam_args
        epochs: int = train.epochs,
        batch_size: int = train.batch_size,
        units: int = train.units,
        dense_units: int = train.dense_units,
        pooling: str = train.pooling,
        dropout: float = train.dropout,
        learning_rate: float = train.learning_rate,
        learning_rate_decay: float = train.learning_rate_decay,
        patience: int = train.patience,
        seed: int = train.seed,
        members: int = train.members,
        memory_budget_mb: int = train.memory_budget_mb,
        max_rmse_ratio: float = evaluate.max_rmse_ratio,
        max_regression: float = evaluate.max_regression,
        export_dir: str = evaluate.export_dir,
        beam_args: list = [],  # noqa: B006 - KFP reads the literal default into the pipeline spec.
        cache_dir: str = "",
    ):
        # locals() here is exactly the parameters, as the pipeline's channels.
        _add_steps(FORECAST, options, locals(), local)

    return lstm_forecast


# Task -> the function that defines its pipeline, given the deployment, the defaults and
# whether it runs locally.
PIPELINES = {SENTIMENT: _sentiment_pipeline, FORECAST: _forecast_pipeline}


def create_pipeline(
    defaults: PipelineConfig,
    options: DeploymentOptions = DeploymentOptions(),  # noqa: B008 - frozen
    local: bool = False,
):
    """The pipeline of the task `defaults` names, deployed on a cluster as `options` say (or,
    `local`, for kfp.local), its parameters defaulting to `defaults` (e.g.
    `task_defaults("forecast")`)."""
    return PIPELINES[defaults.task.task](options, defaults, local)


def pipeline_parameters(task: str) -> tuple[str, ...]:
    """The names of the task's pipeline parameters."""
    return tuple(create_pipeline(task_defaults(task)).component_spec.inputs)


def pipeline_arguments(config: PipelineConfig, cache_dir: str = "") -> dict:
    """The parameters of `config`'s task pipeline that run `config`; `cache_dir` lets steps
    reuse earlier outputs."""
    values = {}
    for stage in STAGE_CONFIGS:
        values.update(vars(getattr(config, stage)))
    # The DAG takes the expanded list, one train task per type.
    values["model_types"] = list(config.train.model_types)
    values["beam_args"] = list(config.beam_args)
    values["cache_dir"] = cache_dir
    return {name: values[name] for name in pipeline_parameters(config.task.task)}
