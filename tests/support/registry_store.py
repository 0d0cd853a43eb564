"""Write a model registry the way the training flow leaves one, and read it back as comparable data.

Standalone (the standard library and mlflow's public client only), because the upgrade rehearsal runs it
with the *previous* MLflow release in its own venv to write the store, and with ours to read it:
  python registry_store.py write URI OUT.json      write runs, a registered model, aliases; snapshot to OUT
  python registry_store.py snapshot URI OUT.json   only the snapshot
URI is a database URI (the SQL store directly) or an http:// tracking server.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

EXPERIMENT = "registry-rehearsal"
MODEL = "registry-rehearsal"
RUNS: tuple[dict[str, Any], ...] = (
    {"C": "0.1", "max_iter": "200", "roc_auc": [0.91, 0.93], "accuracy": [0.88]},
    {"C": "1.0", "max_iter": "300", "roc_auc": [0.94, 0.95, 0.96], "accuracy": [0.9]},
    {"C": "10.0", "max_iter": "400", "roc_auc": [0.89], "accuracy": [0.86]},
)


def write(uri: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment(EXPERIMENT, tags={"team": "ml-platform"})
    run_ids = []
    for index, spec in enumerate(RUNS):
        run = client.create_run(experiment, run_name=f"train-{index}", tags={"mlops.stage": "train"})
        for key in ("C", "max_iter"):
            client.log_param(run.info.run_id, key, spec[key])
        for key in ("roc_auc", "accuracy"):
            for step, value in enumerate(spec[key]):
                client.log_metric(run.info.run_id, key, value, step=step, timestamp=1_700_000_000_000 + step)
        client.set_terminated(run.info.run_id, "FINISHED")
        run_ids.append(run.info.run_id)
    client.create_registered_model(MODEL, tags={"owner": "ml-platform"}, description="rehearsal model")
    versions = []
    for run_id in run_ids[:2]:
        version = client.create_model_version(
            MODEL, source=f"runs:/{run_id}/model", run_id=run_id, tags={"mlops.decision": "promote"}
        )
        versions.append(str(version.version))
    client.set_model_version_tag(MODEL, versions[0], "mlops.decision", "superseded")
    client.set_registered_model_alias(MODEL, "champion", versions[1])
    client.set_registered_model_alias(MODEL, "previous-champion", versions[0])


def snapshot(uri: str) -> dict[str, Any]:
    """Everything a user relies on, in plain JSON types: runs, params, metric histories, versions, aliases."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        raise SystemExit(f"{uri}: no experiment {EXPERIMENT!r}")
    runs = {}
    for run in client.search_runs([experiment.experiment_id], order_by=["attributes.run_name ASC"]):
        run_id = run.info.run_id
        runs[run_id] = {
            "name": run.info.run_name,
            "status": run.info.status,
            "params": dict(run.data.params),
            "metrics": dict(run.data.metrics),
            "history": {
                key: [(m.step, m.value) for m in client.get_metric_history(run_id, key)]
                for key in sorted(run.data.metrics)
            },
            "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
        }
    model = client.get_registered_model(MODEL)
    versions = {
        str(v.version): {"run_id": v.run_id, "source": v.source, "tags": dict(v.tags)}
        for v in client.search_model_versions(f"name = '{MODEL}'")
    }
    return {
        "experiment": {"name": experiment.name, "tags": dict(experiment.tags)},
        "runs": runs,
        "model": {
            "description": model.description,
            "tags": dict(model.tags),
            "aliases": {alias: str(version) for alias, version in model.aliases.items()},
            "champion": str(client.get_model_version_by_alias(MODEL, "champion").version),
            "versions": versions,
        },
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("write", "snapshot"):
        print(__doc__, file=sys.stderr)
        return 2
    command, uri, out = argv
    if command == "write":
        write(uri)
    Path(out).write_text(json.dumps(snapshot(uri), sort_keys=True), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
