"""A step process starts TensorFlow without GPU probing noise and still passes other output on."""

import os
import subprocess
import sys

import pytest

PROBING = ("Could not find cuda drivers", "failed call to cuInit", "absl::InitializeLog")


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)


def test_tensorflow_starts_without_probing_lines_and_other_stderr_passes():
    quiet = run_python(
        "import os, sys\n"
        "from components.common import logs\n"
        "logs.start_tensorflow_quietly()\n"
        "import tensorflow as tf\n"
        "print(len(tf.config.list_physical_devices('CPU')), 'cpu')\n"
        "print('still mine', file=sys.stderr)\n"
    )
    assert quiet.stdout.strip() == "1 cpu"
    assert "still mine" in quiet.stderr
    assert not [line for line in quiet.stderr.splitlines() if any(p in line for p in PROBING)]


@pytest.mark.skipif(os.path.exists("/proc/driver/nvidia/version"), reason="a GPU machine")
def test_the_probing_lines_are_there_without_it():
    # Guards the test above: on a CPU machine plain TensorFlow does print them.
    plain = run_python("import tensorflow as tf\ntf.config.list_physical_devices()\n")
    assert any(p in plain.stderr for p in PROBING)
