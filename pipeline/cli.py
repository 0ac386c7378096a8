"""`lstm-pipeline`: run the pipeline locally, list runs, compile or submit it, build its image,
predict with or serve an exported model.

Options of `run` are the stage configs' fields (defaults and help come from there; `--task
forecast` changes a few defaults, such as `--source sine:`, and `--preset` names a set of them;
options given explicitly override both). Arguments after `--` go unchanged to
every Beam step, e.g. `-- --runner=DataflowRunner --project=P`.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import itertools
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence

from components.common import features as F
from components.common.config import (
    STAGE_CONFIGS,
    ConfigError,
    PipelineConfig,
    ServeConfig,
    TaskConfig,
    task_defaults,
)
from pipeline.compile import compile_pipeline
from pipeline.deployment import STEP_RESOURCES, DeploymentOptions
from pipeline.image import ImageError
from pipeline.submit import (
    COOKIES_ENV,
    TOKEN_ENV,
    SubmitError,
    SubmitOptions,
    parse_params,
    submit,
)

# Command-line names that differ from the config field they set.
_OPTION_NAMES = {"model_type": "model"}
PREDICT_BATCH_SIZE = 256
# How `run` executes steps: subprocesses of this environment, or containers of the image.
RUNNERS = ("subprocess", "docker")


def _spelled_out(text: str, module) -> str:
    """`text` with the names of `module`'s constants (MODEL_TYPES) replaced by their values."""

    def value_of(match: re.Match) -> str:
        value = getattr(module, match.group(0), None)
        if isinstance(value, tuple) and all(isinstance(item, str) for item in value):
            return ", ".join(value)
        return value if isinstance(value, str) else match.group(0)

    return re.sub(r"\b[A-Z][A-Z0-9_]{2,}\b", value_of, text)


def _attribute_help(cls) -> dict[str, str]:
    """Field descriptions from the `Attributes:` section of a config class docstring, with the
    constants they name spelled out, so help lists the allowed values."""
    doc = _spelled_out(inspect.getdoc(cls) or "", sys.modules[cls.__module__])
    section = doc.split("Attributes:", 1)[1] if "Attributes:" in doc else ""
    help_by_name, name = {}, None
    for line in section.splitlines():
        indent = len(line) - len(line.lstrip())
        match = re.match(r"(\w+): (.*)", line.strip())
        if match and indent <= 4:
            name, text = match.groups()
            help_by_name[name] = text
        elif name and line.strip():
            help_by_name[name] += " " + line.strip()
    return help_by_name


def _add_dataclass_options(
    parser: argparse.ArgumentParser, cls, title: str, defaults: object = None
) -> None:
    """One option per plain field of a config dataclass, with its default and docstring help.

    The defaults are the fields' own, or those of the instance `defaults` where one is given.
    """
    group = parser.add_argument_group(title)
    descriptions = _attribute_help(cls)
    for field in _plain_fields(cls):
        option = "--" + _OPTION_NAMES.get(field.name, field.name).replace("_", "-")
        description = descriptions.get(field.name, "")
        if field.default is dataclasses.MISSING:
            group.add_argument(option, dest=field.name, required=True, help=description)
            continue
        default = field.default if defaults is None else getattr(defaults, field.name)
        kind = type(field.default)
        group.add_argument(
            option,
            dest=field.name,
            default=default,
            help=f"{description} (default: {default!r})",
            **({"action": argparse.BooleanOptionalAction} if kind is bool else {"type": kind}),
        )


def _plain_fields(cls) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.default_factory is dataclasses.MISSING]


def _from_args(cls, args: argparse.Namespace, **extra):
    return cls(**{field.name: getattr(args, field.name) for field in _plain_fields(cls)}, **extra)


def _add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """The options of `compile` and `submit` that shape the compiled pipeline."""
    _add_dataclass_options(parser, DeploymentOptions, "cluster options")
    defaults = ", ".join(
        f"{step}={r.cpu},{r.memory} {r.timeout_seconds}s" for step, r in STEP_RESOURCES.items()
    )
    parser.add_argument(
        "--step-resources",
        action="append",
        default=[],
        metavar="STEP=CPU,MEMORY",
        help="a step's CPU request and memory request and limit, e.g. train=2,8Gi "
        f"(repeatable; defaults: {defaults})",
    )
    parser.add_argument(
        "--step-timeout",
        action="append",
        default=[],
        metavar="STEP=SECONDS",
        help="how long one attempt of a step may run, e.g. train=43200 (repeatable)",
    )


def _deployment_from_args(args: argparse.Namespace) -> DeploymentOptions:
    return _from_args(
        DeploymentOptions,
        args,
        step_resources=tuple(args.step_resources),
        step_timeouts=tuple(args.step_timeout),
    )


def config_from_args(args: argparse.Namespace, beam_args: Sequence[str]) -> PipelineConfig:
    stages = {stage: _from_args(cls, args) for stage, cls in STAGE_CONFIGS.items()}
    return PipelineConfig(**stages, beam_args=tuple(beam_args))


def build_parser(defaults: PipelineConfig | None = None) -> argparse.ArgumentParser:
    """The command line, its run options defaulting to `defaults` (see `defaults_for`;
    the default task's without it)."""
    defaults = defaults or task_defaults(TaskConfig().task)
    parser = argparse.ArgumentParser(
        prog="lstm-pipeline",
        description=__doc__,
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    compile_parser = commands.add_parser(
        "compile", help="write the pipeline as KFP IR YAML", allow_abbrev=False
    )
    compile_parser.add_argument("--output", required=True, help="YAML file to write")
    _add_dataclass_options(compile_parser, TaskConfig, "task options")
    _add_cluster_options(compile_parser)

    run_parser = commands.add_parser(
        "run",
        help="run the pipeline locally (kfp.local, Beam on the local runner)",
        description="Runs the DAG locally. Arguments after `--` go to every Beam step.",
        allow_abbrev=False,
    )
    run_parser.add_argument(
        "--output-dir", default="out", help="where artifacts and run_summary.json go (default: out)"
    )
    run_parser.add_argument(
        "--verbose",
        action="store_true",
        help="stream every line the steps print (they always go to the step logs too)",
    )
    run_parser.add_argument(
        "--reuse",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="reuse outputs of earlier runs in --output-dir whose inputs and parameters are "
        "unchanged, and resume interrupted training (default: on)",
    )
    run_parser.add_argument(
        "--runner",
        choices=RUNNERS,
        default=RUNNERS[0],
        help="subprocess: each step is a process of this Python environment; docker: each step "
        "runs in the component image as its non-root user (default: subprocess)",
    )
    run_parser.add_argument(
        "--image",
        default="",
        help="with --runner docker, the image the steps run in (default: this source's image, "
        "built first when missing)",
    )
    for stage, cls in STAGE_CONFIGS.items():
        _add_dataclass_options(run_parser, cls, f"{stage} options", getattr(defaults, stage))

    runs_parser = commands.add_parser(
        "runs",
        help="list the runs under an output folder, newest first",
        description="Lists the runs under --output-dir, newest first: task, model, test and "
        "baseline scores, blessing, duration, status and report.",
        allow_abbrev=False,
    )
    runs_parser.add_argument(
        "--output-dir", default="out", help="the folder `run` wrote to (default: out)"
    )

    submit_parser = commands.add_parser(
        "submit",
        help="upload the pipeline to Kubeflow Pipelines and start a run",
        description="Uploads the pipeline (a new version only when it changed), creates a run "
        "or a recurring run, and prints its id and link. It first refuses a Kubeflow Pipelines "
        f"backend too old for the DAG. Credentials: an API token (${TOKEN_ENV} or --token-file) "
        f"or a login's session cookie (${COOKIES_ENV} or --cookie-file); never a command-line "
        "value, never printed.",
        allow_abbrev=False,
    )
    _add_dataclass_options(submit_parser, SubmitOptions, "submit options")
    _add_dataclass_options(submit_parser, TaskConfig, "task options")
    submit_parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a pipeline parameter for the run, e.g. epochs=3 (repeatable)",
    )
    _add_cluster_options(submit_parser)

    image_parser = commands.add_parser(
        "image", help="build the component image every step runs in", allow_abbrev=False
    )
    image_commands = image_parser.add_subparsers(dest="image_command", required=True)
    build_image_parser = image_commands.add_parser(
        "build",
        help="build components/Dockerfile (and, where no registry is reachable, a local base)",
        description="Builds the image as lstm-pipeline:<version>-<hash of its build inputs> and "
        "prints it; `run --runner docker` uses that tag.",
        allow_abbrev=False,
    )
    build_image_parser.add_argument(
        "--tag",
        action="append",
        default=[],
        help="a further tag, e.g. REGISTRY/lstm-pipeline:0.1.0 (repeatable)",
    )
    build_image_parser.add_argument(
        "--gpu",
        action="store_true",
        help="build the GPU variant (TensorFlow with NVIDIA's CUDA libraries, about 3 GB more) "
        "tagged lstm-pipeline:<version>-<hash>-gpu, the train step's image with --train-gpus",
    )
    build_image_parser.add_argument(
        "--base-image",
        default="",
        help="the image to build on (default: the Dockerfile's official Python 3.11 slim image, "
        "pinned by digest; when it cannot be pulled, a Debian 12 base made with debootstrap)",
    )

    predict_parser = commands.add_parser(
        "predict", help="classify texts with an exported model", allow_abbrev=False
    )
    predict_parser.add_argument(
        "--model-dir",
        required=True,
        help="an exported SavedModel, or its parent folder (the newest version is used)",
    )
    predict_parser.add_argument("texts", nargs="*", help="texts to classify (default: stdin lines)")

    serve_parser = commands.add_parser(
        "serve",
        help="serve an exported model over HTTP (KServe v1 and v2 protocols)",
        description="Serves an exported model with KServe's model server until SIGTERM or "
        "Ctrl-C, which let requests in flight finish.",
        allow_abbrev=False,
    )
    _add_dataclass_options(serve_parser, ServeConfig, "serve options")
    return parser


def defaults_for(argv: Sequence[str]) -> PipelineConfig:
    """The defaults of the task and preset that `--task` and `--preset` in `argv` name
    (sentiment's own defaults without them).

    An unknown task or preset gets sentiment's defaults here; building TaskConfig from the
    parsed arguments then reports it like any bad value.
    """
    pre_parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre_parser.add_argument("--task", default=TaskConfig().task)
    pre_parser.add_argument("--preset", default=TaskConfig().preset)
    known = pre_parser.parse_known_args(argv)[0]
    try:
        return task_defaults(known.task, known.preset)
    except ConfigError:
        return task_defaults(TaskConfig().task)


def _split_beam_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    argv = list(argv)
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], argv[at + 1 :]
    return argv, []


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def stdin_texts(lines: Iterable[bytes]) -> Iterator[tuple[dict, str | None]]:
    """(where, the text or None) per line of bytes: a text is what precedes a line feed (and a
    carriage return before it), decoded as UTF-8; `where` names the line for an error."""
    for number, line in enumerate(lines, 1):
        line = line.removesuffix(b"\n").removesuffix(b"\r")
        try:
            yield {"line": number}, line.decode("utf-8")
        except UnicodeDecodeError as error:
            yield (
                {
                    "line": number,
                    "error": f"not UTF-8: byte {line[error.start]:#04x} at byte {error.start + 1}",
                },
                None,
            )


def argument_texts(texts: Sequence[str]) -> Iterator[tuple[dict, str | None]]:
    """(where, the text or None) per command-line text; bytes the locale could not decode
    reach Python as lone surrogates, which no model input can hold."""
    for number, text in enumerate(texts, 1):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            yield {"argument": number, "error": f"not UTF-8 at character {error.start + 1}"}, None
        else:
            yield {"argument": number}, text


def load_text_classifier(model_dir: str):
    """The serving signature of the text classifier exported under `model_dir`.

    Raises ConfigError naming the problem when `model_dir` holds no loadable text classifier.
    """
    # Imported here, not at the top: TensorFlow takes seconds to import, which every other
    # command (and --help) would pay.
    import tensorflow as tf

    from components.common.serving import resolve_version_dir

    if not tf.io.gfile.isdir(model_dir):
        problem = "a file, not a folder" if tf.io.gfile.exists(model_dir) else "no such folder"
        raise ConfigError(f"--model-dir={model_dir!r} is not allowed: {problem}")
    try:
        model = tf.saved_model.load(resolve_version_dir(model_dir))
        serve = model.signatures[F.SERVING_SIGNATURE]
    except Exception as error:  # Whatever a broken model raises, the folder is the cause.
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ConfigError(
            f"--model-dir={model_dir!r} is not allowed: no loadable SavedModel ({reason})"
        ) from error
    inputs = serve.structured_input_signature[1]
    if F.SERVING_INPUT_KEY not in inputs:
        raise ConfigError(
            f"--model-dir={model_dir!r} is not allowed: its model takes {sorted(inputs)}, not "
            f"{F.SERVING_INPUT_KEY!r}; predict classifies text (a forecaster serves through "
            "saved_model_cli or TF Serving)"
        )
    return serve


def predict(model_dir: str, inputs: Iterable[tuple[dict, str | None]], out=sys.stdout) -> int:
    """Prints one JSON line per input, streaming in batches so memory stays flat.

    `inputs` are (where, text) pairs as `stdin_texts` and `argument_texts` make them; an input
    without a text prints its `where` (with an `error`) in its place and the rest go on.
    Returns how many inputs failed.
    """
    # Imported here, not at the top: see load_text_classifier.
    import tensorflow as tf

    serve = load_text_classifier(model_dir)
    failed = 0
    for batch in _batches(inputs, PREDICT_BATCH_SIZE):
        texts = [text for _, text in batch if text is not None]
        if texts:
            outputs = serve(**{F.SERVING_INPUT_KEY: tf.constant(texts)})
            results = iter(
                zip(
                    outputs[F.SERVING_PROBABILITY_KEY].numpy(),
                    outputs[F.SERVING_LABEL_KEY].numpy(),
                    strict=True,
                )
            )
        for where, text in batch:
            if text is None:
                failed += 1
                record = where
            else:
                probability, label = next(results)
                record = {"text": text, "probability": float(probability), "label": label.decode()}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return failed


def _run(args: argparse.Namespace, config: PipelineConfig) -> int:
    """Runs the pipeline locally, showing it as it goes; 1 when a step failed."""
    # Imported here, not at the top: they import TensorFlow, which takes seconds that compile,
    # submit, --help and a bad option need not pay.
    from rich.console import Console

    from components.common import logs

    logs.start_tensorflow_quietly()
    from components.common.artifacts import REPORT_FILE
    from pipeline.console import (
        LiveDisplay,
        PlainDisplay,
        failure_line,
        log_tail,
        print_rows,
        result_rows,
    )
    from pipeline.local import check_before_running, run_local

    image = ""
    if args.runner == "docker":
        from pipeline.image import ensure_image

        # Before a build that may take minutes: the source and output folder are usable.
        check_before_running(config, os.path.abspath(args.output_dir))
        image = ensure_image(args.image)
    elif args.image:
        raise ConfigError(f"--image={args.image!r} is not allowed: it is for --runner docker only")
    console = Console(stderr=True)
    live = console.is_terminal and not console.is_dumb_terminal and not os.environ.get("CI")
    display = (PlainDisplay if args.verbose or not live else LiveDisplay)(console, args.verbose)
    summary = run_local(config, args.output_dir, args.reuse, display, image)
    if summary["status"] == "failed":
        failure = summary["failure"]
        if not args.verbose:  # Verbose has streamed the whole log already.
            for line in log_tail(failure["log"]):
                console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
        console.print(failure_line(failure), markup=False, highlight=False, soft_wrap=True)
        return 1
    report = os.path.join(os.path.abspath(args.output_dir), REPORT_FILE)
    print_rows(Console(), result_rows(summary, report, summary["logs"]))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    own_args, beam_args = _split_beam_args(sys.argv[1:] if argv is None else argv)
    parser = build_parser(defaults_for(own_args))
    args = parser.parse_args(own_args)
    if beam_args and args.command != "run":
        parser.error("arguments after `--` (Beam arguments) are only for `run`")
    # force: progress goes to stderr even when a library configured the root logger before
    # (kfp.local installs a stdout handler), so stdout carries only the command's result.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", force=True)
    # TensorFlow's C++ start-up notices (CPU features, no CUDA) would bury the progress lines.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if args.command == "compile":
            task_config = _from_args(TaskConfig, args)
            defaults = task_defaults(task_config.task, task_config.preset)
            compile_pipeline(args.output, defaults, _deployment_from_args(args))
            print(f"wrote {args.output}")
        elif args.command == "submit":
            task_config = _from_args(TaskConfig, args)
            defaults = task_defaults(task_config.task, task_config.preset)
            params = parse_params(args.param, defaults)
            options = _from_args(SubmitOptions, args, params=params)
            result = submit(options, _deployment_from_args(args), defaults)
            print(json.dumps(result))
            if result.get("state", "SUCCEEDED") != "SUCCEEDED":
                return 1
        elif args.command == "image":
            from pipeline.image import build_image

            built = build_image(args.tag, args.base_image or None, gpu=args.gpu)
            print(json.dumps({"image": built.tags[0], **dataclasses.asdict(built)}))
        elif args.command == "run":
            return _run(args, config_from_args(args, beam_args))
        elif args.command == "runs":
            from pipeline.runs import print_runs

            print_runs(args.output_dir)
        elif args.command == "serve":
            config = _from_args(ServeConfig, args)
            # Imported here, after the options are checked: KServe and TensorFlow take seconds
            # to import.
            from components.common import logs

            logs.start_tensorflow_quietly()
            from components.serve.server import run_server

            run_server(config)
        else:
            from components.common import logs

            logs.start_tensorflow_quietly()
            texts = argument_texts(args.texts) if args.texts else stdin_texts(sys.stdin.buffer)
            failed = predict(args.model_dir, texts)
            if failed:
                print(f"lstm-pipeline: {failed} input(s) could not be read", file=sys.stderr)
                return 1
    except ConfigError as error:
        print(f"lstm-pipeline: error: {error}", file=sys.stderr)
        return 2
    except (SubmitError, ImageError) as error:
        print(f"lstm-pipeline: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
