"""Ingest: fetch the DVC-versioned dataset (or a user's CSV) and produce the three inputs of the flow.

- training data: what Train fits on (the versioned dataset, or `--data`);
- reference data: the versioned dataset, the baseline Drift compares against;
- newest batch: what Drift checks (`--data` itself, or a batch simulated from the reference);
- evaluation set: the held-out DVC-versioned rows candidate and champion are scored on, read from the same
  repository, revision and remote as the reference, so one comparison uses one fixed version of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines import dataset
from pipelines.params import DriftParams


class IngestError(RuntimeError):
    """The dataset could not be fetched."""


@dataclass(frozen=True)
class DvcSource:
    """A file tracked by DVC: `path` inside `repo` (a local path or Git URL) at `rev`, via `remote`."""

    path: str
    repo: str | None = None
    rev: str | None = None
    remote: str | None = None

    def describe(self) -> str:
        where = self.repo or "."
        at = f"@{self.rev}" if self.rev else ""
        via = f" via remote {self.remote}" if self.remote else ""
        return f"dvc:{where}:{self.path}{at}{via}"


@dataclass(frozen=True)
class IngestResult:
    training_md5: str
    reference_md5: str
    training_source: str
    batch_source: str
    evaluation_md5: str
    evaluation_source: str


BATCH_SIMULATED = "simulated"
BATCH_DRIFTED = "drifted"


def read_dvc_file(source: DvcSource) -> bytes:
    import dvc.api
    from dvc.exceptions import DvcException

    try:
        data = dvc.api.read(source.path, repo=source.repo, rev=source.rev, remote=source.remote, mode="rb")
    except (DvcException, OSError) as exc:
        raise IngestError(f"cannot read {source.describe()}: {exc}") from exc
    if not isinstance(data, bytes):
        raise IngestError(f"{source.describe()} did not read as bytes")
    return data


def ingest(
    *,
    reference: DvcSource,
    evaluation: DvcSource,
    user_csv: Path | None,
    drifted: bool,
    drift_params: DriftParams,
    training_out: Path,
    reference_out: Path,
    batch_out: Path,
    evaluation_out: Path,
) -> IngestResult:
    """Write the four datasets; a user CSV is copied as is (Validate judges it)."""
    import pandas as pd

    reference_bytes = read_dvc_file(reference)
    evaluation_bytes = read_dvc_file(evaluation)
    for out in (training_out, reference_out, batch_out, evaluation_out):
        out.parent.mkdir(parents=True, exist_ok=True)
    reference_out.write_bytes(reference_bytes)
    evaluation_out.write_bytes(evaluation_bytes)
    held_out = {
        "evaluation_md5": dataset.md5_of_bytes(evaluation_bytes),
        "evaluation_source": evaluation.describe(),
    }

    if user_csv is not None:
        if drifted:
            raise IngestError(
                "a user batch (--data) and a simulated drifted batch (--drifted) exclude each other"
            )
        try:
            user_bytes = user_csv.read_bytes()
        except OSError as exc:
            raise IngestError(f"cannot read the batch {user_csv}: {exc.strerror}") from exc
        training_out.write_bytes(user_bytes)
        batch_out.write_bytes(user_bytes)
        return IngestResult(
            training_md5=dataset.md5_of_bytes(user_bytes),
            reference_md5=dataset.md5_of_bytes(reference_bytes),
            training_source=f"file:{user_csv.resolve()}",
            batch_source=f"file:{user_csv.resolve()}",
            **held_out,
        )

    training_out.write_bytes(reference_bytes)
    frame = pd.read_csv(reference_out)
    batch = dataset.simulate_batch(frame, drift_params.batch_rows, drift_params.seed, drifted=drifted)
    batch_out.write_bytes(dataset.frame_csv_bytes(batch))
    kind = BATCH_DRIFTED if drifted else BATCH_SIMULATED
    return IngestResult(
        training_md5=dataset.md5_of_bytes(reference_bytes),
        reference_md5=dataset.md5_of_bytes(reference_bytes),
        training_source=reference.describe(),
        batch_source=f"{kind} batch of {drift_params.batch_rows} rows (seed {drift_params.seed})",
        **held_out,
    )
