"""Security properties: no credentials in the repository, no arbitrary code when loading models."""

import re
import subprocess
from pathlib import Path

import keras
import pytest

from components.common.artifacts import MODEL_FILE
from components.common.serving import load_trained_model

ROOT = Path(__file__).resolve().parents[1]
SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "assigned password or secret": re.compile(
        r"(?i)\b(password|passwd|secret_key|access_key|api_key)\b\s*[:=]\s*['\"]?[^\s'\"{<$]{6,}"
    ),
    "bearer token": re.compile(r"(?i)bearer\s+[a-z0-9._-]{20,}"),
}


def tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def test_no_credentials_in_the_repository_image_or_manifests():
    # The image is built from these files, so this covers what the image contains too.
    files = tracked_files()
    assert any(f.name == "Dockerfile" for f in files)
    for path in files:
        text = path.read_text(errors="ignore")
        for what, pattern in SECRET_PATTERNS.items():
            assert not pattern.search(text), f"{what} in {path.relative_to(ROOT)}"


def test_models_needing_arbitrary_python_are_refused(tmp_path):
    inputs = keras.Input(shape=(3,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    keras.Model(inputs, outputs).save(tmp_path / MODEL_FILE)
    with pytest.raises(ValueError, match="(?i)lambda|unsafe|deserializ"):
        load_trained_model(str(tmp_path))
