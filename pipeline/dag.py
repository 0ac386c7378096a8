"""The one pipeline definition.

ingest -> transform -> train (one task per model type, in parallel) -> compare (champion by
eval accuracy, or eval loss for a forecast) -> evaluate -> (if blessed) export; the n-gram
baseline beside; report last.

Compiling, submitting and running locally all use `create_pipeline`; they only choose the image,
the pipeline root, the runner and the parameters' defaults. The `task` parameter (sentiment or
forecast) reaches every step, and each step does that task's work: the DAG is the same.
"""

from kfp import dsl, kubernetes

from components.baseline.component import baseline
from components.common.config import STAGE_CONFIGS, PipelineConfig
from components.compare.component import compare
from components.evaluate.component import evaluate
from components.export.component import export
from components.ingest.component import ingest
from components.report.component import report
from components.train.component import train
from components.transform.component import transform
from pipeline.deployment import (
    RETRY_BACKOFF,
    RETRY_BACKOFF_FACTOR,
    RETRY_MAX_DURATION,
    RUN_AS_USER,
    STEP_RESOURCES,
    TFDS_CACHE_PATH,
    DeploymentOptions,
)

PIPELINE_NAME = "lstm-sentiment"
STEP_NAMES = (
    "ingest",
    "transform",
    "train",
    "compare",
    "evaluate",
    "export",
    "baseline",
    "report",
)


def _deploy(task, step: str, options: DeploymentOptions):
    resources = STEP_RESOURCES[step]
    task.set_container_image(options.image)
    task.set_cpu_request(resources.cpu_request).set_cpu_limit(resources.cpu_limit)
    task.set_memory_request(resources.memory_request).set_memory_limit(resources.memory_limit)
    if options.retries:
        task.set_retry(
            resources.retries,
            backoff_duration=RETRY_BACKOFF,
            backoff_factor=RETRY_BACKOFF_FACTOR,
            backoff_max_duration=RETRY_MAX_DURATION,
        )
    task.set_caching_options(options.enable_caching)
    kubernetes.set_security_context(
        task, run_as_user=RUN_AS_USER, run_as_group=RUN_AS_USER, run_as_non_root=True
    )
    if step == "ingest" and options.tfds_cache_pvc:
        kubernetes.mount_pvc(task, pvc_name=options.tfds_cache_pvc, mount_path=TFDS_CACHE_PATH)
        task.set_env_variable("TFDS_DATA_DIR", TFDS_CACHE_PATH)
    if step == "train" and options.train_gpus:
        task.set_accelerator_type(options.gpu_type).set_accelerator_limit(options.train_gpus)


def create_pipeline(
    options: DeploymentOptions = DeploymentOptions(),  # noqa: B008 - frozen
    defaults: PipelineConfig = PipelineConfig(),  # noqa: B008 - frozen
):
    """The pipeline function, deployed on a cluster as `options` say, its parameters defaulting
    to `defaults` (e.g. `task_defaults("forecast")`)."""
    ingest_defaults, series_defaults = defaults.ingest, defaults.series
    transform_defaults, window_defaults = defaults.transform, defaults.window
    train_defaults, evaluate_defaults = defaults.train, defaults.evaluate

    @dsl.pipeline(
        name=PIPELINE_NAME,
        pipeline_root=options.pipeline_root or None,
        description="IMDB-style sentiment or time series forecasting with an LSTM: ingest, "
        "tf.Transform, train, evaluate, export a SavedModel over raw text or raw values.",
    )
    def lstm_sentiment(
        source: str = ingest_defaults.source,
        data_dir: str = ingest_defaults.data_dir,
        text_field: str = ingest_defaults.text_field,
        label_field: str = ingest_defaults.label_field,
        split_field: str = ingest_defaults.split_field,
        eval_fraction: float = ingest_defaults.eval_fraction,
        max_examples: int = ingest_defaults.max_examples,
        max_text_bytes: int = ingest_defaults.max_text_bytes,
        max_quarantine_fraction: float = ingest_defaults.max_quarantine_fraction,
        vocab_size: int = transform_defaults.vocab_size,
        max_seq_len: int = transform_defaults.max_seq_len,
        punctuation: str = transform_defaults.punctuation,
        model_types: list = list(train_defaults.model_types),  # noqa: B006 - as beam_args
        epochs: int = train_defaults.epochs,
        batch_size: int = train_defaults.batch_size,
        embedding_dim: int = train_defaults.embedding_dim,
        embedding_init: str = train_defaults.embedding_init,
        units: int = train_defaults.units,
        dense_units: int = train_defaults.dense_units,
        pooling: str = train_defaults.pooling,
        dropout: float = train_defaults.dropout,
        learning_rate: float = train_defaults.learning_rate,
        learning_rate_decay: float = train_defaults.learning_rate_decay,
        patience: int = train_defaults.patience,
        seed: int = train_defaults.seed,
        accuracy_threshold: float = evaluate_defaults.accuracy_threshold,
        max_regression: float = evaluate_defaults.max_regression,
        export_dir: str = evaluate_defaults.export_dir,
        task: str = defaults.task.task,
        date_field: str = series_defaults.date_field,
        target: str = series_defaults.target,
        sine_length: int = series_defaults.sine_length,
        sine_period: float = series_defaults.sine_period,
        sine_amplitude: float = series_defaults.sine_amplitude,
        sine_noise: float = series_defaults.sine_noise,
        sine_seed: int = series_defaults.sine_seed,
        series_train_fraction: float = series_defaults.series_train_fraction,
        series_eval_fraction: float = series_defaults.series_eval_fraction,
        lookback: int = window_defaults.lookback,
        horizon: int = window_defaults.horizon,
        scaling: str = window_defaults.scaling,
        max_rmse_ratio: float = evaluate_defaults.max_rmse_ratio,
        beam_args: list = [],  # noqa: B006 - KFP reads the literal default into the pipeline spec.
        cache_dir: str = "",
    ):
        ingest_task = ingest(
            source=source,
            data_dir=data_dir,
            text_field=text_field,
            label_field=label_field,
            split_field=split_field,
            eval_fraction=eval_fraction,
            max_examples=max_examples,
            max_text_bytes=max_text_bytes,
            max_quarantine_fraction=max_quarantine_fraction,
            task=task,
            date_field=date_field,
            target=target,
            sine_length=sine_length,
            sine_period=sine_period,
            sine_amplitude=sine_amplitude,
            sine_noise=sine_noise,
            sine_seed=sine_seed,
            series_train_fraction=series_train_fraction,
            series_eval_fraction=series_eval_fraction,
            beam_args=beam_args,
            cache_dir=cache_dir,
        ).set_display_name("Ingest reviews")
        transform_task = transform(
            vocab_size=vocab_size,
            max_seq_len=max_seq_len,
            punctuation=punctuation,
            task=task,
            lookback=lookback,
            horizon=horizon,
            scaling=scaling,
            beam_args=beam_args,
            cache_dir=cache_dir,
            examples=ingest_task.outputs["examples"],
        ).set_display_name("Vectorize with tf.Transform")
        with dsl.ParallelFor(
            items=model_types, name="models", parallelism=options.max_parallel_trainings
        ) as model_type:
            train_task = train(
                model_type=model_type,
                epochs=epochs,
                batch_size=batch_size,
                embedding_dim=embedding_dim,
                embedding_init=embedding_init,
                units=units,
                dense_units=dense_units,
                pooling=pooling,
                dropout=dropout,
                learning_rate=learning_rate,
                learning_rate_decay=learning_rate_decay,
                patience=patience,
                seed=seed,
                task=task,
                cache_dir=cache_dir,
                transformed_examples=transform_task.outputs["transformed_examples"],
                transform_graph=transform_task.outputs["transform_graph"],
            ).set_display_name("Train model")
        compare_task = compare(
            task=task, cache_dir=cache_dir, models=dsl.Collected(train_task.outputs["model"])
        ).set_display_name("Pick the champion")
        evaluate_task = evaluate(
            accuracy_threshold=accuracy_threshold,
            max_regression=max_regression,
            export_dir=export_dir,
            max_rmse_ratio=max_rmse_ratio,
            task=task,
            cache_dir=cache_dir,
            examples=ingest_task.outputs["examples"],
            transform_graph=transform_task.outputs["transform_graph"],
            model=compare_task.outputs["champion"],
        ).set_display_name("Evaluate on test reviews")
        with dsl.If(evaluate_task.outputs["Output"] == True, name="blessed"):  # noqa: E712
            export_task = export(
                export_dir=export_dir,
                task=task,
                cache_dir=cache_dir,
                transform_graph=transform_task.outputs["transform_graph"],
                model=compare_task.outputs["champion"],
            ).set_display_name("Export serving model")
        baseline_task = baseline(
            seed=seed, task=task, cache_dir=cache_dir, examples=ingest_task.outputs["examples"]
        ).set_display_name("Train n-gram baseline")
        report_task = report(
            task=task,
            cache_dir=cache_dir,
            transformed_examples=transform_task.outputs["transformed_examples"],
            model=compare_task.outputs["champion"],
            evaluation=evaluate_task.outputs["evaluation"],
            baseline_result=baseline_task.outputs["baseline_result"],
            leaderboard=compare_task.outputs["leaderboard"],
        ).set_display_name("Write the report")
        tasks = (
            ingest_task,
            transform_task,
            train_task,
            compare_task,
            evaluate_task,
            export_task,
            baseline_task,
            report_task,
        )
        for step, step_task in zip(STEP_NAMES, tasks, strict=True):
            _deploy(step_task, step, options)

    return lstm_sentiment


def pipeline_arguments(config: PipelineConfig, cache_dir: str = "") -> dict:
    """The pipeline parameters that run `config`; `cache_dir` lets steps reuse earlier outputs."""
    arguments = {}
    for stage in STAGE_CONFIGS:
        arguments.update(vars(getattr(config, stage)))
    del arguments["model_type"]  # The DAG takes the expanded list, one train task per type.
    arguments["model_types"] = list(config.train.model_types)
    arguments["beam_args"] = list(config.beam_args)
    arguments["cache_dir"] = cache_dir
    return arguments
