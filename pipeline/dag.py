"""The one pipeline definition.

ingest -> transform -> train (one task per model type, in parallel) -> compare (champion by
eval accuracy) -> evaluate -> (if blessed) export; the n-gram baseline beside; report last.

Compiling, submitting and running locally all use `create_pipeline`; they only choose the image,
the pipeline root and the runner.
"""

from kfp import dsl, kubernetes

from components.baseline.component import baseline
from components.common.config import (
    EvaluateConfig,
    IngestConfig,
    PipelineConfig,
    TrainConfig,
    TransformConfig,
)
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

_INGEST = IngestConfig()
_TRANSFORM = TransformConfig()
_TRAIN = TrainConfig()
_EVALUATE = EvaluateConfig()


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


def create_pipeline(options: DeploymentOptions = DeploymentOptions()):  # noqa: B008 - frozen
    """The pipeline function, deployed on a cluster as `options` say."""

    @dsl.pipeline(
        name=PIPELINE_NAME,
        pipeline_root=options.pipeline_root or None,
        description="IMDB-style sentiment with an LSTM: ingest, tf.Transform, train, evaluate, "
        "export a SavedModel over raw text.",
    )
    def lstm_sentiment(
        source: str = _INGEST.source,
        data_dir: str = _INGEST.data_dir,
        text_field: str = _INGEST.text_field,
        label_field: str = _INGEST.label_field,
        split_field: str = _INGEST.split_field,
        eval_fraction: float = _INGEST.eval_fraction,
        max_examples: int = _INGEST.max_examples,
        max_text_bytes: int = _INGEST.max_text_bytes,
        max_quarantine_fraction: float = _INGEST.max_quarantine_fraction,
        vocab_size: int = _TRANSFORM.vocab_size,
        max_seq_len: int = _TRANSFORM.max_seq_len,
        punctuation: str = _TRANSFORM.punctuation,
        model_types: list = list(_TRAIN.model_types),  # noqa: B006 - as beam_args
        epochs: int = _TRAIN.epochs,
        batch_size: int = _TRAIN.batch_size,
        embedding_dim: int = _TRAIN.embedding_dim,
        units: int = _TRAIN.units,
        dense_units: int = _TRAIN.dense_units,
        pooling: str = _TRAIN.pooling,
        dropout: float = _TRAIN.dropout,
        learning_rate: float = _TRAIN.learning_rate,
        patience: int = _TRAIN.patience,
        seed: int = _TRAIN.seed,
        accuracy_threshold: float = _EVALUATE.accuracy_threshold,
        max_regression: float = _EVALUATE.max_regression,
        export_dir: str = _EVALUATE.export_dir,
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
            beam_args=beam_args,
            cache_dir=cache_dir,
        ).set_display_name("Ingest reviews")
        transform_task = transform(
            vocab_size=vocab_size,
            max_seq_len=max_seq_len,
            punctuation=punctuation,
            beam_args=beam_args,
            cache_dir=cache_dir,
            examples=ingest_task.outputs["examples"],
        ).set_display_name("Vectorize with tf.Transform")
        with dsl.ParallelFor(items=model_types, name="models") as model_type:
            train_task = train(
                model_type=model_type,
                epochs=epochs,
                batch_size=batch_size,
                embedding_dim=embedding_dim,
                units=units,
                dense_units=dense_units,
                pooling=pooling,
                dropout=dropout,
                learning_rate=learning_rate,
                patience=patience,
                seed=seed,
                cache_dir=cache_dir,
                transformed_examples=transform_task.outputs["transformed_examples"],
                transform_graph=transform_task.outputs["transform_graph"],
            ).set_display_name("Train model")
        compare_task = compare(
            cache_dir=cache_dir, models=dsl.Collected(train_task.outputs["model"])
        ).set_display_name("Pick the champion")
        evaluate_task = evaluate(
            accuracy_threshold=accuracy_threshold,
            max_regression=max_regression,
            export_dir=export_dir,
            cache_dir=cache_dir,
            examples=ingest_task.outputs["examples"],
            transform_graph=transform_task.outputs["transform_graph"],
            model=compare_task.outputs["champion"],
        ).set_display_name("Evaluate on test reviews")
        with dsl.If(evaluate_task.outputs["Output"] == True, name="blessed"):  # noqa: E712
            export_task = export(
                export_dir=export_dir,
                cache_dir=cache_dir,
                transform_graph=transform_task.outputs["transform_graph"],
                model=compare_task.outputs["champion"],
            ).set_display_name("Export serving model")
        baseline_task = baseline(
            seed=seed, cache_dir=cache_dir, examples=ingest_task.outputs["examples"]
        ).set_display_name("Train n-gram baseline")
        report_task = report(
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
        for step, task in zip(STEP_NAMES, tasks, strict=True):
            _deploy(task, step, options)

    return lstm_sentiment


def pipeline_arguments(config: PipelineConfig, cache_dir: str = "") -> dict:
    """The pipeline parameters that run `config`; `cache_dir` lets steps reuse earlier outputs."""
    arguments = {}
    for stage in (config.ingest, config.transform, config.train, config.evaluate):
        arguments.update(vars(stage))
    del arguments["model_type"]  # The DAG takes the expanded list, one train task per type.
    arguments["model_types"] = list(config.train.model_types)
    arguments["beam_args"] = list(config.beam_args)
    arguments["cache_dir"] = cache_dir
    return arguments
