"""The relay's configuration: flags of `python -m relay serve`, each defaulting to an environment variable.

In the cluster the Deployment sets the variables (components/retrain_relay.py) and mounts the token file;
on the laptop `make demo-loop` passes flags. Every problem is reported with the variable or flag it came
from, before the server starts.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pipelines import env
from relay.guardrails import Guardrails
from relay.launchers import DEFAULT_EXPERIMENT

TOKEN_FILE_ENV: Final = env.RELAY_TOKEN_FILE.name
RETRAIN_ENABLED_ENV: Final = env.RETRAIN_ENABLED.name
COOLDOWN_ENV: Final = env.RETRAIN_COOLDOWN_SECONDS.name
MAX_RUNS_ENV: Final = env.RETRAIN_MAX_RUNS_PER_DAY.name
LAUNCHER_ENV: Final = env.RELAY_LAUNCHER.name
KFP_HOST_ENV: Final = env.KFP_HOST.name
KFP_PIPELINE_ENV: Final = env.KFP_PIPELINE.name
KFP_EXPERIMENT_ENV: Final = env.KFP_EXPERIMENT.name
CAPTURE_URI_ENV: Final = env.CAPTURE_URI.name
STATE_DIR_ENV: Final = env.STATE_DIR.name
PUSHGATEWAY_URL_ENV: Final = env.PUSHGATEWAY_URL.name

LAUNCHERS: Final = ("kfp", "local")
DEFAULT_PORT: Final = 8080
DEFAULT_COOLDOWN_SECONDS: Final = 6 * 3600
DEFAULT_MAX_RUNS_PER_DAY: Final = 2


class ConfigError(ValueError):
    """Bad relay configuration; the message lists every problem with its flag or variable."""


@dataclass(frozen=True)
class RelayConfig:
    host: str
    port: int
    token: str
    guardrails: Guardrails
    launcher: str
    kfp_host: str
    kfp_pipeline: str
    kfp_experiment: str
    capture_uri: str
    state_dir: Path | None
    pushgateway_url: str


def parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m relay", description="The retraining relay.")
    commands = p.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="answer Alertmanager's webhook for confirmed live drift")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument(
        "--token-file", default=env.get(TOKEN_FILE_ENV, ""), help=f"bearer token ({TOKEN_FILE_ENV})"
    )
    serve.add_argument(
        "--retrain-enabled",
        default=env.get(RETRAIN_ENABLED_ENV, "true"),
        help=f"true/false: the kill switch retrain.enabled ({RETRAIN_ENABLED_ENV})",
    )
    serve.add_argument("--cooldown-seconds", default=env.get(COOLDOWN_ENV, str(DEFAULT_COOLDOWN_SECONDS)))
    serve.add_argument("--max-runs-per-day", default=env.get(MAX_RUNS_ENV, str(DEFAULT_MAX_RUNS_PER_DAY)))
    serve.add_argument("--launcher", default=env.get(LAUNCHER_ENV, "kfp"), help=f"one of {LAUNCHERS}")
    serve.add_argument("--kfp-host", default=env.get(KFP_HOST_ENV, ""))
    serve.add_argument("--kfp-pipeline", default=env.get(KFP_PIPELINE_ENV, ""))
    serve.add_argument("--kfp-experiment", default=env.get(KFP_EXPERIMENT_ENV, DEFAULT_EXPERIMENT))
    serve.add_argument("--capture-uri", default=env.get(CAPTURE_URI_ENV, ""))
    serve.add_argument("--state", default=env.get(STATE_DIR_ENV, ""), help="local launcher: state folder")
    serve.add_argument("--pushgateway-url", default=env.get(PUSHGATEWAY_URL_ENV, ""))
    return p


def _boolean(text: str, name: str, problems: list[str]) -> bool:
    value = text.strip().lower()
    if value not in {"true", "false"}:
        problems.append(f"{name}: expected true or false, got {text!r}")
    return value == "true"


def _integer(text: str, name: str, low: int, high: int, problems: list[str]) -> int:
    try:
        value = int(text)
    except ValueError:
        problems.append(f"{name}: expected an integer, got {text!r}")
        return low
    if not low <= value <= high:
        problems.append(f"{name}: expected {low}..{high}, got {value}")
        return low
    return value


def load(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> RelayConfig:
    environment = os.environ if env is None else env
    args = parser(environment).parse_args(argv)
    problems: list[str] = []
    token = ""
    if not args.token_file:
        problems.append(f"--token-file / {TOKEN_FILE_ENV}: required (the bearer token Alertmanager sends)")
    else:
        try:
            token = Path(args.token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            problems.append(f"--token-file / {TOKEN_FILE_ENV}: cannot read {args.token_file}: {exc.strerror}")
        else:
            if len(token) < 16:
                problems.append(
                    f"--token-file / {TOKEN_FILE_ENV}: {args.token_file} holds fewer than 16 characters"
                )
    enabled = _boolean(args.retrain_enabled, f"--retrain-enabled / {RETRAIN_ENABLED_ENV}", problems)
    cooldown = _integer(
        args.cooldown_seconds, f"--cooldown-seconds / {COOLDOWN_ENV}", 0, 30 * 86400, problems
    )
    max_runs = _integer(args.max_runs_per_day, f"--max-runs-per-day / {MAX_RUNS_ENV}", 1, 24, problems)
    if args.launcher not in LAUNCHERS:
        problems.append(f"--launcher / {LAUNCHER_ENV}: expected one of {LAUNCHERS}, got {args.launcher!r}")
    if args.launcher == "kfp":
        for flag, variable, value in (
            ("--kfp-host", KFP_HOST_ENV, args.kfp_host),
            ("--kfp-pipeline", KFP_PIPELINE_ENV, args.kfp_pipeline),
        ):
            if not value:
                problems.append(f"{flag} / {variable}: required with the kfp launcher")
    if args.launcher == "local" and not args.state:
        problems.append(f"--state / {STATE_DIR_ENV}: required with the local launcher")
    if not 0 < args.port < 65536:
        problems.append(f"--port: expected 1..65535, got {args.port}")
    if problems:
        raise ConfigError("relay configuration:\n" + "\n".join(f"  - {p}" for p in problems))
    return RelayConfig(
        host=args.host,
        port=args.port,
        token=token,
        guardrails=Guardrails(enabled=enabled, cooldown_seconds=cooldown, max_runs_per_day=max_runs),
        launcher=args.launcher,
        kfp_host=args.kfp_host,
        kfp_pipeline=args.kfp_pipeline,
        kfp_experiment=args.kfp_experiment,
        capture_uri=args.capture_uri,
        state_dir=Path(args.state).resolve() if args.state else None,
        pushgateway_url=args.pushgateway_url,
    )
