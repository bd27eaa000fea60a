"""`fetch-model` links models/default: a cached model when there is one, the tiny model when the Hub cannot
be reached or no download is asked for, and never a tiny model over real weights already linked."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.models.default_model import DEFAULT_LINK, default_model, fetch_default_model, is_tiny


@pytest.fixture
def project(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_model_dir, tmp_path / "models" / "tiny")  # as make_tiny_model leaves it, without the wait
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path


def fake_cached_model(hub: Path, model_id: str) -> Path:
    """A model in the Hugging Face cache's own layout: refs/main names the snapshot folder."""
    repo = hub / f"models--{model_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text('{"model_type": "qwen2_5_vl"}')
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    return snapshot


def test_an_unreachable_hub_links_the_tiny_model_and_says_so(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: refused at once
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", "http://127.0.0.1:9")
    found = fetch_default_model("Qwen/Qwen2.5-VL-7B-Instruct")
    said = capsys.readouterr().out
    assert "could not reach huggingface.co to fetch Qwen/Qwen2.5-VL-7B-Instruct" in said
    assert "models/default is now the tiny random-weight model" in said
    assert found == Path("models/tiny") and DEFAULT_LINK.is_symlink()
    assert str(DEFAULT_LINK.readlink()) == "tiny"  # relative: the project folder can move
    assert default_model() == (project / "models" / "tiny").resolve() and is_tiny(default_model())


def test_a_cached_model_is_linked_and_kept_when_offline(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    snapshot = fake_cached_model(project / "hub", "Org/Real-VL")
    assert fetch_default_model("Org/Real-VL", download=False) == snapshot
    assert default_model() == snapshot.resolve() and not is_tiny(snapshot)
    # Another id that is not cached, with no download: the real model stays, no tiny one replaces it.
    assert fetch_default_model("Org/Other-VL", download=False) == snapshot.resolve()
    assert "models/default stays" in capsys.readouterr().out


def test_the_cli_command_without_download_makes_the_tiny_model_the_default(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "agent", "fetch-model", "--no-download"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env={"PATH": "/usr/bin:/bin",
                          "HF_HUB_CACHE": str(tmp_path / "hub"), "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "no download was asked for" in done.stdout and "models/default is now the tiny" in done.stdout
    assert is_tiny((tmp_path / "models" / "default").resolve())
