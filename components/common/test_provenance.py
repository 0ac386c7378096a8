import shutil

import pytest

from components.common import provenance, step_cache
from components.common.provenance import CodeVersionMismatch, check_code_version, code_version
from components.common.step_cache import step_key
from components.compare.component import compare


def test_the_code_version_follows_the_components_source_and_not_their_tests(tmp_path, monkeypatch):
    source = tmp_path / "components"
    shutil.copytree(provenance.SOURCE_ROOT, source, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "SOURCE_ROOT", source)
    original = code_version()
    assert original == code_version() and original.startswith("0.1.0+")
    (source / "compare" / "test_compare.py").write_text("# tests change no step's outputs\n")
    (source / "README.md").write_text("docs neither\n")
    assert code_version() == original
    compare_code = source / "compare" / "compare.py"
    compare_code.write_text(compare_code.read_text() + "\n# a fix\n")
    assert code_version() != original


def test_a_step_refuses_to_run_other_code_than_it_was_compiled_from(tmp_path):
    check_code_version(code_version())
    with pytest.raises(CodeVersionMismatch, match=r"compiled from 0\.0\.1\+0123456789ab: build"):
        check_code_version("0.0.1+0123456789ab")
    # Each component checks before any work: this one would fail on its missing models later.
    with pytest.raises(CodeVersionMismatch):
        compare.python_func(
            code_version="0.0.1+0123456789ab",
            task="sentiment",
            cache_dir="",
            models=[],
            champion=None,
            leaderboard=None,
            leaderboard_metrics=None,
        )


def test_the_step_cache_keys_on_the_code_version(tmp_path, monkeypatch):
    key = step_key("compare", {"task": "sentiment"}, [str(tmp_path)])
    assert step_key("compare", {"task": "sentiment"}, [str(tmp_path)]) == key
    monkeypatch.setattr(step_cache, "code_version", lambda: "0.1.0+0123456789ab")
    assert step_key("compare", {"task": "sentiment"}, [str(tmp_path)]) != key
