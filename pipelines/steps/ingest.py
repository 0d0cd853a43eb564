"""Ingest: fetch the DVC-versioned dataset (or a user's CSV) and produce the three inputs of the flow.

- training data: what Train fits on (the versioned dataset, or `--data`);
- reference data: the versioned dataset, the baseline Drift compares against;
- newest batch: what Drift checks (`--data` itself, or a batch simulated from the reference);
- evaluation set: the held-out DVC-versioned rows candidate and champion are scored on, read from the same
  repository, revision and remote as the reference, so one comparison uses one fixed version of it.

A retraining run (started by the relay on confirmed live drift) also names the model server's capture: the
captured requests whose ground-truth labels have arrived (pipelines/labels.py) are added to the training
data, and they are the newest batch Drift checks when there are at least `min_batch_rows` of them. The
evaluation set stays the held-out one, so the champion gate judges the retrained model like any other.
"""

from __future__ import annotations

import datetime as dt
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
class CaptureSource:
    """The model server's capture a retraining run adds labelled traffic from."""

    uri: str
    model_name: str
    window_days: int
    end: dt.datetime


@dataclass(frozen=True)
class IngestResult:
    training_md5: str
    reference_md5: str
    training_source: str
    batch_source: str
    evaluation_md5: str
    evaluation_source: str
    labelled_rows: int = 0
    """Captured requests with ground-truth labels added to the training data (retraining runs)."""


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
    capture: CaptureSource | None = None,
    min_batch_rows: int = 1,
) -> IngestResult:
    """Write the four datasets; a user CSV is copied as is (Validate judges it)."""
    import pandas as pd

    reference_bytes = read_dvc_file(reference)
    evaluation_bytes = read_dvc_file(evaluation)
    for out in (training_out, reference_out, batch_out, evaluation_out):
        out.parent.mkdir(parents=True, exist_ok=True)
    reference_out.write_bytes(reference_bytes)
    evaluation_out.write_bytes(evaluation_bytes)
    held_out: dict[str, str] = {
        "evaluation_md5": dataset.md5_of_bytes(evaluation_bytes),
        "evaluation_source": evaluation.describe(),
    }

    if user_csv is not None and capture is not None:
        raise IngestError("a user batch (--data) and captured traffic (capture_uri) exclude each other")
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
            evaluation_md5=held_out["evaluation_md5"],
            evaluation_source=held_out["evaluation_source"],
        )

    frame = pd.read_csv(reference_out)
    batch = dataset.simulate_batch(frame, drift_params.batch_rows, drift_params.seed, drifted=drifted)
    kind = BATCH_DRIFTED if drifted else BATCH_SIMULATED
    batch_source = f"{kind} batch of {drift_params.batch_rows} rows (seed {drift_params.seed})"
    training_bytes, training_source, labelled = reference_bytes, reference.describe(), 0
    if capture is not None:
        from pipelines.labels import labelled_capture

        try:
            found = labelled_capture(capture.uri, capture.model_name, capture.window_days, capture.end)
        except (OSError, ValueError) as exc:
            raise IngestError(f"cannot read the capture {capture.uri}: {exc}") from exc
        labelled = len(found.frame)
        if labelled:
            combined = pd.concat([frame, found.frame], ignore_index=True)
            training_bytes = dataset.frame_csv_bytes(combined)
            training_source = f"{reference.describe()} + {labelled} labelled rows of {found.source}"
        if labelled >= min_batch_rows:
            batch, batch_source = found.frame, f"{labelled} labelled captured rows of {found.source}"
    training_out.write_bytes(training_bytes)
    batch_out.write_bytes(dataset.frame_csv_bytes(batch))
    return IngestResult(
        training_md5=dataset.md5_of_bytes(training_bytes),
        reference_md5=dataset.md5_of_bytes(reference_bytes),
        training_source=training_source,
        batch_source=batch_source,
        evaluation_md5=held_out["evaluation_md5"],
        evaluation_source=held_out["evaluation_source"],
        labelled_rows=labelled,
    )
