"""`python -m relay serve`: the retraining relay (see relay/service.py)."""

from __future__ import annotations

import logging
import sys

import uvicorn

from pipelines.env import PUSHGATEWAY_URL
from relay.config import ConfigError, RelayConfig, load
from relay.launchers import KfpLauncher, KfpTarget, Launcher, LocalLauncher, LocalTarget
from relay.service import Relay, create_app


def build_launcher(config: RelayConfig) -> Launcher:
    if config.launcher == "kfp":
        return KfpLauncher(
            KfpTarget(
                host=config.kfp_host,
                pipeline_name=config.kfp_pipeline,
                experiment=config.kfp_experiment,
                capture_uri=config.capture_uri,
            )
        )
    assert config.state_dir is not None
    extra = {PUSHGATEWAY_URL.name: config.pushgateway_url} if config.pushgateway_url else {}
    return LocalLauncher(LocalTarget(config.state_dir, capture_uri=config.capture_uri, extra_env=extra))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    app = create_app(Relay(build_launcher(config), config.guardrails), config.token)
    logging.getLogger("relay").info(
        "relay listening on %s:%d (launcher %s, retraining %s, cooldown %d s, at most %d run(s) a day)",
        config.host,
        config.port,
        config.launcher,
        "on" if config.guardrails.enabled else "OFF",
        config.guardrails.cooldown_seconds,
        config.guardrails.max_runs_per_day,
    )
    uvicorn.run(app, host=config.host, port=config.port, access_log=False, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
