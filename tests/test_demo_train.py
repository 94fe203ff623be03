"""``python -m nbsaliency.demo.train`` writes where the user says (default: the working directory) and never into
the installed package."""

from __future__ import annotations

import hashlib

import pytest
import torch

from nbsaliency import demo
from nbsaliency.demo import train as training
from nbsaliency.demo.model import WEIGHTS


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def shipped_weights_untouched():
    before = (_digest(WEIGHTS), WEIGHTS.stat().st_mtime_ns)
    yield
    assert (_digest(WEIGHTS), WEIGHTS.stat().st_mtime_ns) == before, "the shipped weights file was touched"


def test_default_output_is_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert training.output_path(None) == tmp_path.resolve() / training.DEFAULT_NAME


def test_a_folder_gets_the_default_name_and_a_file_is_used_as_named(tmp_path):
    assert training.output_path(tmp_path) == tmp_path.resolve() / training.DEFAULT_NAME
    assert training.output_path(tmp_path / "mine.pt") == tmp_path.resolve() / "mine.pt"


def test_a_path_inside_the_package_is_refused_before_training(monkeypatch, capsys, shipped_weights_untouched):
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("trained before checking --out"))
    for out in (WEIGHTS, WEIGHTS.parent, WEIGHTS.parent.parent / "elsewhere.pt"):
        with pytest.raises(ValueError, match="inside the installed nbsaliency package"):
            training.output_path(out)
        with pytest.raises(SystemExit):
            training.main(["--out", str(out)])
        assert "inside the installed nbsaliency package" in capsys.readouterr().err


def test_a_missing_folder_is_refused_before_training(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        training.output_path(tmp_path / "no" / "such" / "weights.pt")


def test_maintainers_may_replace_the_shipped_weights_explicitly():
    assert training.output_path(WEIGHTS, replace_shipped=True) == WEIGHTS.resolve()


def test_a_tiny_training_run_writes_loadable_weights_to_the_working_directory(tmp_path, monkeypatch,
                                                                             shipped_weights_untouched):
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    try:
        training.main(["--n-train", "16", "--n-val", "8", "--epochs", "1", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    written = tmp_path / training.DEFAULT_NAME
    assert written.is_file() and [p.name for p in tmp_path.iterdir()] == [training.DEFAULT_NAME]
    model = demo.load_model(written)
    assert model(demo.images(2, seed=0).images).shape == (2, len(demo.CLASS_NAMES))
