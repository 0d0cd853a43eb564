"""DVC: `dvc repro` reproduces the stages in a fresh copy; the dataset round-trips through a local remote
and through S3 (moto_server on loopback), and Ingest reads it from a remote into an empty workspace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pipelines import dataset
from pipelines.params import REPO_ROOT
from tests.support.processes import moto_s3_server

VENV_BIN = Path(sys.executable).parent
DATA = Path("data/breast_cancer.csv")
EVAL_DATA = Path("data/breast_cancer_eval.csv")
COPIED_FILES = (
    "dvc.yaml",
    "dvc.lock",
    "params.yaml",
    ".dvcignore",
    ".dvc/config",
    ".dvc/.gitignore",
    "data/breast_cancer.csv.dvc",
    "data/breast_cancer_eval.csv.dvc",
    "data/.gitignore",
)


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}


def _dvc(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(VENV_BIN / "dvc"), *args],
        cwd=repo,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The committed DVC files and the code the stages run, as a fresh checkout would have them."""
    root = tmp_path / "clone"
    for name in COPIED_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / name, root / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("pipelines", "monitoring"):
        shutil.copytree(REPO_ROOT / package, root / package, ignore=ignore)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def _materialize(repo: Path) -> str:
    """Both tracked files; returns the dataset's md5."""
    dataset.materialize_sample_dataset(
        repo / EVAL_DATA, repo / (str(EVAL_DATA) + ".dvc"), dataset.evaluation_dataset_bytes
    )
    return dataset.materialize_sample_dataset(repo / DATA, repo / (str(DATA) + ".dvc"))


@pytest.mark.slow
def test_dvc_repro_reproduces_the_committed_stages(repo_copy: Path) -> None:
    _materialize(repo_copy)
    _dvc(repo_copy, "repro")
    committed = yaml.safe_load((REPO_ROOT / "dvc.lock").read_text(encoding="utf-8"))
    reproduced = yaml.safe_load((repo_copy / "dvc.lock").read_text(encoding="utf-8"))
    # The data split is written in a stable format: same data and params, same bytes.
    assert reproduced["stages"]["prepare"]["outs"] == committed["stages"]["prepare"]["outs"]
    metrics = yaml.safe_load((repo_copy / "build/training/metrics.json").read_text(encoding="utf-8"))
    assert metrics["passes_thresholds"] is True
    assert "up to date" in _dvc(repo_copy, "status").stdout


@pytest.mark.slow  # real DVC push and pull
def test_ingest_reads_the_dataset_from_the_local_remote_into_an_empty_workspace(
    repo_copy: Path, tmp_path: Path
) -> None:
    from pipelines.params import load_params
    from pipelines.steps.ingest import DvcSource, ingest

    md5 = _materialize(repo_copy)
    tracked = [str(DATA) + ".dvc", str(EVAL_DATA) + ".dvc"]
    _dvc(repo_copy, "commit", "-f", *tracked)
    _dvc(repo_copy, "push", "-r", "local", *tracked)
    (repo_copy / DATA).unlink()
    (repo_copy / EVAL_DATA).unlink()
    shutil.rmtree(repo_copy / ".dvc" / "cache")
    out = tmp_path / "out"
    result = ingest(
        reference=DvcSource(path=str(DATA), repo=str(repo_copy), remote="local"),
        evaluation=DvcSource(path=str(EVAL_DATA), repo=str(repo_copy), remote="local"),
        user_csv=None,
        drifted=False,
        drift_params=load_params().drift,
        training_out=out / "t.csv",
        reference_out=out / "r.csv",
        batch_out=out / "b.csv",
        evaluation_out=out / "e.csv",
    )
    assert (
        result.evaluation_md5
        == dataset.md5_of_file(out / "e.csv")
        == dataset.tracked_md5(REPO_ROOT / (str(EVAL_DATA) + ".dvc"))
    )
    assert result.training_md5 == md5 == dataset.tracked_md5(REPO_ROOT / (str(DATA) + ".dvc"))
    assert dataset.md5_of_file(out / "r.csv") == md5


@pytest.fixture
def moto_s3(tmp_path: Path) -> Iterator[str]:
    with moto_s3_server(tmp_path / "moto.log") as endpoint:
        yield endpoint


@pytest.mark.integration
def test_dataset_round_trips_through_an_s3_remote(
    repo_copy: Path, moto_s3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    boto3.client("s3", endpoint_url=moto_s3).create_bucket(Bucket="mlops-dvc")
    md5 = _materialize(repo_copy)
    _dvc(repo_copy, "commit", "-f", str(DATA) + ".dvc")
    # The way users point DVC at the stack's bucket (docs/training-flow.md).
    _dvc(repo_copy, "remote", "add", "stack", "s3://mlops-dvc/dvc")
    _dvc(repo_copy, "remote", "modify", "--local", "stack", "endpointurl", moto_s3)
    _dvc(repo_copy, "push", "-r", "stack", str(DATA) + ".dvc")
    stored = boto3.client("s3", endpoint_url=moto_s3).list_objects_v2(Bucket="mlops-dvc")["Contents"]
    assert [o["Key"] for o in stored] == [f"dvc/files/md5/{md5[:2]}/{md5[2:]}"]

    (repo_copy / DATA).unlink()
    shutil.rmtree(repo_copy / ".dvc" / "cache")
    _dvc(repo_copy, "pull", "-r", "stack", str(DATA) + ".dvc")
    assert dataset.md5_of_file(repo_copy / DATA) == md5
