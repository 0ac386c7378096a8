"""Which code a step runs, so that KFP's cache never returns the outputs of other code.

KFP keys a step's cache on its inputs, its command and the image *string*, while the steps' code
lives inside the image: after a fix is pushed under the same tag, a cached step would hand back
the old code's outputs. So every step takes the `code_version()` of the code the pipeline was
compiled from as an input, which puts it in the key, and refuses to run other code.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path

DISTRIBUTION = "lstm-pipeline"
# The components package: all the code a step runs (pipeline/ only defines and submits).
SOURCE_ROOT = Path(__file__).resolve().parents[1]


class CodeVersionMismatch(RuntimeError):
    """The image holds other code than the pipeline was compiled from."""


def _is_test(path: Path) -> bool:
    return path.name.startswith("test_") or path.name == "conftest.py"


def code_version() -> str:
    """The package version and a hash of the components' source, e.g. `0.1.0+3f2a9c1b7d4e`."""
    digest = hashlib.sha256()
    for path in sorted(SOURCE_ROOT.rglob("*.py")):
        if not _is_test(path):
            digest.update(path.relative_to(SOURCE_ROOT).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return f"{importlib.metadata.version(DISTRIBUTION)}+{digest.hexdigest()[:12]}"


def check_code_version(expected: str) -> None:
    """Raises CodeVersionMismatch unless this environment runs the code `expected` names."""
    running = code_version()
    if expected != running:
        raise CodeVersionMismatch(
            f"this image runs lstm-pipeline {running}, but the pipeline was compiled from "
            f"{expected}: build and push the image from the code you compile, or compile "
            "from the code in the image"
        )
