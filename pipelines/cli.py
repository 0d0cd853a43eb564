"""`python -m pipelines`: prepare the data, compile, run locally, or submit to a Kubeflow Pipelines endpoint.

prepare-data                          regenerate the DVC-tracked dataset, check its hash, push it locally
compile [--output F] [--steps-image-digest sha256:... | --steps-image REF]
run --local [--data CSV | --drifted | --capture-uri URI] [--state DIR] [--verbose] [--in-process]
upload --host URL --steps-image REF --version V [--name N]
schedule --host URL --steps-image REF --version V (--cron "M H DOM MON DOW" | --disable) [--name N]
submit --host URL (--steps-image REF | --package F) [--experiment NAME] [--run-name N]
       [--mlflow-uri U] [--pushgateway-url U] [--dvc-repo R] [--dvc-rev REV] [--dvc-remote NAME]
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipelines import images
from pipelines.env import PUSHGATEWAY_URL
from pipelines.stage import PIPELINE_NAME

DEFAULT_KFP_EXPERIMENT = "mlops-training"
PINNED_IMAGE = re.compile(r"^[a-z0-9.-]+(:\d+)?/[a-z0-9._/-]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description="The MLOps training flow.")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser(
        "prepare-data", help="materialize the DVC-tracked dataset and push it to the local remote"
    )

    compile_cmd = commands.add_parser("compile", help="compile the pipeline to YAML")
    compile_cmd.add_argument(
        "--output", type=Path, default=None, help="default: pipelines/training_pipeline.yaml"
    )
    pin = compile_cmd.add_mutually_exclusive_group()
    pin.add_argument(
        "--steps-image-digest",
        default=None,
        help="pin the default steps image to this digest (sha256:<64 hex>)",
    )
    pin.add_argument(
        "--steps-image",
        default=None,
        help="the full steps image reference to run, e.g. the `training_steps_image` stack output",
    )

    _gpu_flag(compile_cmd)

    run = commands.add_parser("run", help="run the whole pipeline")
    run.add_argument("--local", action="store_true", required=True, help="through kfp.local (the only mode)")
    batch = run.add_mutually_exclusive_group()
    batch.add_argument(
        "--data", type=Path, default=None, help="train on and check this CSV of the declared schema"
    )
    batch.add_argument("--drifted", action="store_true", help="check a simulated drifted batch")
    batch.add_argument(
        "--capture-uri",
        default="",
        help="retrain: add the model server's labelled captured traffic (a folder, file:// or s3://)",
    )
    run.add_argument("--state", default=None, help="local state folder (default: .state at the repo root)")
    run.add_argument(
        "--no-serve",
        action="store_true",
        help="stop after training: do not serve the champion, send it the batch and check live drift",
    )
    run.add_argument(
        "--verbose", action="store_true", help="show every task's full kfp.local output (inputs, outputs)"
    )
    run.add_argument(
        "--in-process",
        action="store_true",
        help="run the same tasks in this process instead of through kfp.local (seconds instead of a minute)",
    )

    upload = commands.add_parser(
        "upload", help="compile for a built steps image and upload it as a new pipeline version"
    )
    upload.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8888")
    upload.add_argument(
        "--steps-image", required=True, help="pinned steps image (`training_steps_image` stack output)"
    )
    upload.add_argument("--version", required=True, help="pipeline version name, e.g. the git commit")
    upload.add_argument("--name", default=PIPELINE_NAME, help="pipeline name in the KFP UI")
    _gpu_flag(upload)

    schedule = commands.add_parser(
        "schedule", help="reconcile the recurring training run on Kubeflow Pipelines (idempotent)"
    )
    schedule.add_argument("--host", required=True, help="KFP API endpoint")
    schedule.add_argument("--steps-image", required=True, help="pinned steps image the runs use")
    schedule.add_argument("--version", required=True, help="pipeline version name (the reconcile's hash)")
    schedule.add_argument("--name", default=PIPELINE_NAME, help="pipeline name in the KFP UI")
    when = schedule.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", default=None, help="5-field cron (training.schedule.cron)")
    when.add_argument("--disable", action="store_true", help="remove the recurring run")

    submit = commands.add_parser(
        "submit", help="submit the compiled pipeline to a Kubeflow Pipelines endpoint"
    )
    submit.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8080")
    submit.add_argument("--experiment", default=DEFAULT_KFP_EXPERIMENT, help="KFP experiment name")
    submit.add_argument("--run-name", default=None)
    source = submit.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--steps-image", default=None, help="pinned steps image: the `training_steps_image` stack output"
    )
    source.add_argument("--package", type=Path, default=None, help="an already compiled pipeline YAML")
    submit.add_argument("--mlflow-uri", default=os.environ.get("MLFLOW_TRACKING_URI", ""))
    submit.add_argument("--pushgateway-url", default=PUSHGATEWAY_URL.get() or "")
    submit.add_argument(
        "--dvc-repo", default="", help="Git URL of this repository (default: the image's copy)"
    )
    submit.add_argument("--dvc-rev", default="", help="Git revision whose data to train on")
    submit.add_argument(
        "--dvc-remote", default="", help="DVC remote to read from (default: the repo's default)"
    )
    submit.add_argument("--drifted", action="store_true")
    return parser


def _gpu_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--train-gpus",
        type=int,
        default=0,
        help="GPUs for the Train step: it then runs on the tainted gpu node group (needs nodeGroups.gpu)",
    )


def _compile(args: argparse.Namespace) -> int:
    from pipelines.pipeline import COMPILED_PIPELINE, compile_pipeline

    if args.steps_image:
        reference = _pinned(args.steps_image)
    elif args.steps_image_digest:
        reference = images.STEPS.with_digest(args.steps_image_digest).reference
    else:
        reference = images.STEPS.reference
    output = compile_pipeline(args.output or COMPILED_PIPELINE, reference, args.train_gpus)
    print(f"compiled {output} (steps image {reference})")
    return 0


def _pinned(reference: str) -> str:
    if not PINNED_IMAGE.match(reference):
        raise SystemExit(
            f"--steps-image {reference!r}: expected a reference pinned by digest, "
            "registry/repository[:tag]@sha256:<64 hex>"
        )
    return reference


def _upload(args: argparse.Namespace) -> int:
    """Compile for the image `pulumi up` built and add it to the pipeline as a new version."""
    import kfp

    from pipelines.pipeline import compile_pipeline

    reference = _pinned(args.steps_image)
    with tempfile.TemporaryDirectory() as folder:
        package = compile_pipeline(Path(folder) / "pipeline.yaml", reference, args.train_gpus)
        try:
            client = kfp.Client(host=args.host)
            pipeline_id = client.get_pipeline_id(args.name)
            if pipeline_id is None:
                # The first upload creates the pipeline together with its first version.
                client.upload_pipeline(str(package), pipeline_name=args.name, description=args.version)
            else:
                client.upload_pipeline_version(
                    str(package), pipeline_version_name=args.version, pipeline_id=pipeline_id
                )
        except Exception as exc:
            print(f"upload: could not upload to Kubeflow Pipelines at {args.host}: {exc}", file=sys.stderr)
            return 1
    print(f"uploaded {args.name} version {args.version} (steps image {reference}) to {args.host}")
    return 0


def _schedule(args: argparse.Namespace) -> int:
    import kfp

    from monitoring.cadence import CronError
    from pipelines.pipeline import compile_pipeline
    from pipelines.recurring import Schedule, reconcile

    reference = _pinned(args.steps_image)
    schedule = Schedule(
        host=args.host,
        pipeline_name=args.name,
        version=args.version,
        cron=None if args.disable else args.cron,
    )
    with tempfile.TemporaryDirectory() as folder:
        try:
            outcome = reconcile(
                schedule,
                kfp.Client(host=args.host),
                lambda: compile_pipeline(Path(folder) / "pipeline.yaml", reference),
            )
        except CronError as exc:
            print(f"schedule: {exc}", file=sys.stderr)
            return 2
        except Exception as exc:
            print(f"schedule: Kubeflow Pipelines at {args.host} refused: {exc}", file=sys.stderr)
            return 1
    print(outcome.describe(schedule))
    return 0


def _run_local(args: argparse.Namespace) -> int:
    """Expected faults (bad data or params, a busy, unwritable or corrupted state folder, a full disk) end
    with one line per problem and exit code 1, never a traceback."""
    from pipelines.dataset import DatasetHashMismatchError
    from pipelines.local_run import LocalRunError, run_local, state_layout, summary_lines
    from pipelines.params import ParamsError
    from pipelines.stage import describe_error

    layout = state_layout(args.state)
    try:
        summaries = run_local(
            args.data,
            args.drifted,
            layout,
            verbose=args.verbose,
            in_process=args.in_process,
            capture_uri=args.capture_uri,
        )
    except (LocalRunError, ParamsError, DatasetHashMismatchError) as exc:
        print(f"\nTraining flow FAILED: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"\nTraining flow FAILED: {describe_error(exc)}", file=sys.stderr)
        return 1
    print("\n".join(summary_lines(summaries, layout)))
    if args.no_serve:
        return 0
    return _serve_champion(summaries, layout)


def _serve_champion(summaries: dict[str, Any], layout: Any) -> int:
    """The demo's last part: the champion served on localhost, the newest batch sent, live drift checked."""
    from serving.demo import serve_and_check, summary_lines
    from serving.live_drift import LiveDriftError
    from serving.local import ServerStartError

    print("\nServing the champion on localhost and sending it the newest batch ...", flush=True)
    try:
        result = serve_and_check(summaries, layout)
    except (ServerStartError, LiveDriftError, OSError) as exc:
        print(f"\nServing FAILED: {exc}", file=sys.stderr)
        return 1
    print("\n".join(summary_lines(result)))
    return 0


def submit_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The pipeline parameters a submission passes; empty strings mean "use the image's defaults"."""
    if not args.mlflow_uri:
        raise SystemExit("submit: no MLflow URI: pass --mlflow-uri or set MLFLOW_TRACKING_URI")
    return {
        "mlflow_tracking_uri": args.mlflow_uri,
        "pushgateway_url": args.pushgateway_url,
        "dvc_repo": args.dvc_repo,
        "dvc_rev": args.dvc_rev,
        "dvc_remote": args.dvc_remote,
        "drifted": args.drifted,
    }


def _submit(args: argparse.Namespace) -> int:
    import kfp

    from pipelines.pipeline import compile_pipeline

    arguments = submit_arguments(args)
    if args.steps_image:
        package = compile_pipeline(Path(tempfile.mkdtemp()) / "pipeline.yaml", _pinned(args.steps_image))
    else:
        package = args.package
    if not package.is_file():
        print(f"submit: {package} does not exist", file=sys.stderr)
        return 2
    try:
        client = kfp.Client(host=args.host)
        run = client.create_run_from_pipeline_package(
            str(package), arguments=arguments, experiment_name=args.experiment, run_name=args.run_name
        )
    except Exception as exc:
        print(f"submit: could not submit to Kubeflow Pipelines at {args.host}: {exc}", file=sys.stderr)
        return 1
    print(f"submitted run {run.run_id} to {args.host} (experiment {args.experiment})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    if args.command == "prepare-data":
        from pipelines.local_run import prepare_data

        print(f"data/breast_cancer.csv ready (md5 {prepare_data()}), pushed to the local DVC remote")
        return 0
    if args.command == "compile":
        return _compile(args)
    if args.command == "run":
        return _run_local(args)
    if args.command == "upload":
        return _upload(args)
    if args.command == "schedule":
        return _schedule(args)
    return _submit(args)
