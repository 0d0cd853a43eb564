"""Create or update MLflow's platform users and their grants, as the admin. Run by the MlflowUsers Job.

Standalone on purpose (the standard library and mlflow only): the Job mounts this file from a ConfigMap and
runs it in the MLflow server image, where the project is not installed. Idempotent: an existing user gets
its password reset to the configured one, and every grant is applied again.

Environment:
  MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD   the server and its admin
  MLOPS_MLFLOW_USERS   JSON list of {"username", "password_env", "experiments", "registered_models",
                       "permission"}: each user's password is read from the variable `password_env` names;
                       the user gets `permission` (MANAGE when absent; READ for a reader such as the model
                       server) on the named experiments and registered models, created if missing.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

USERS_ENV = "MLOPS_MLFLOW_USERS"
READY_TIMEOUT_ENV = "MLOPS_MLFLOW_READY_TIMEOUT"
MANAGE = "MANAGE"
READ = "READ"
PERMISSIONS = (READ, "EDIT", MANAGE)
EXPERIMENT = "experiment"
REGISTERED_MODEL = "registered_model"


class SyncError(RuntimeError):
    """The configuration is unusable or the server refused a change; the message names what."""


@dataclass(frozen=True)
class UserSpec:
    username: str
    password_env: str
    experiments: tuple[str, ...] = ()
    registered_models: tuple[str, ...] = ()
    permission: str = MANAGE

    def to_json(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "password_env": self.password_env,
            "experiments": list(self.experiments),
            "registered_models": list(self.registered_models),
            "permission": self.permission,
        }


def parse_users(text: str) -> list[UserSpec]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SyncError(f"{USERS_ENV} is not JSON: {exc}") from exc
    if not isinstance(raw, list) or not raw:
        raise SyncError(f"{USERS_ENV}: expected a non-empty JSON list of users")
    users = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict) or not entry.get("username") or not entry.get("password_env"):
            raise SyncError(f"{USERS_ENV}[{index}]: expected an object with 'username' and 'password_env'")
        permission = str(entry.get("permission", MANAGE))
        if permission not in PERMISSIONS:
            raise SyncError(
                f"{USERS_ENV}[{index}].permission = {permission!r}: expected one of {PERMISSIONS}"
            )
        users.append(
            UserSpec(
                username=str(entry["username"]),
                password_env=str(entry["password_env"]),
                experiments=tuple(entry.get("experiments", ())),
                registered_models=tuple(entry.get("registered_models", ())),
                permission=permission,
            )
        )
    return users


def wait_until_ready(tracking_uri: str, timeout_s: float) -> None:
    """The Job may start while the server rolls out: wait for /health instead of failing the apply."""
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{tracking_uri.rstrip('/')}/health", timeout=5) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(2)
    raise SyncError(f"MLflow at {tracking_uri} not healthy after {timeout_s:.0f} s: {last}")


def _already_exists(exc: Exception) -> bool:
    return getattr(exc, "error_code", "") == "RESOURCE_ALREADY_EXISTS"


def _grant(auth: Any, username: str, resource_type: str, resource_id: str, permission: str) -> str:
    """`permission` for the user on one resource, whatever it had before (the grant API refuses
    duplicates): a reader promoted in the UI is set back to READ."""
    try:
        auth.grant_user_permission(username, resource_type, resource_id, permission)
        return "granted"
    except Exception as exc:
        if not _already_exists(exc):
            raise
    if auth.get_user_permission(username, resource_type, resource_id).permission == permission:
        return "kept"
    auth.revoke_user_permission(username, resource_type, resource_id)
    auth.grant_user_permission(username, resource_type, resource_id, permission)
    return "reset"


def check_passwords(users: Sequence[UserSpec], passwords: Mapping[str, str]) -> None:
    missing = [u.password_env for u in users if not passwords.get(u.password_env)]
    if missing:
        raise SyncError(f"no password in {', '.join(missing)}: each user's password comes from its Secret")


def sync_users(tracking_uri: str, users: Sequence[UserSpec], passwords: Mapping[str, str]) -> list[str]:
    """Apply every user and grant; return a line per change, for the Job's log. Credentials of the admin
    come from MLFLOW_TRACKING_USERNAME/PASSWORD, as for any MLflow client."""
    from mlflow import MlflowClient
    from mlflow.server import get_app_client

    check_passwords(users, passwords)
    auth = get_app_client("basic-auth", tracking_uri=tracking_uri)
    tracking = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    done: list[str] = []
    for user in users:
        password = passwords[user.password_env]
        try:
            auth.create_user(user.username, password)
            done.append(f"user {user.username}: created")
        except Exception as exc:
            if not _already_exists(exc):
                raise
            auth.update_user_password(user.username, password)
            done.append(f"user {user.username}: password set")
            if auth.get_user(user.username).is_admin:
                # A machine user is never an admin, whoever promoted it in the UI.
                auth.update_user_admin(user.username, False)
                done.append(f"user {user.username}: admin rights removed")
        for name in user.experiments:
            experiment = tracking.get_experiment_by_name(name)
            experiment_id = experiment.experiment_id if experiment else tracking.create_experiment(name)
            change = _grant(auth, user.username, EXPERIMENT, experiment_id, user.permission)
            done.append(
                f"user {user.username}: {user.permission} on experiment {name!r} ({experiment_id}) {change}"
            )
        for name in user.registered_models:
            try:
                tracking.create_registered_model(name)
            except Exception as exc:
                if not _already_exists(exc):
                    raise
            change = _grant(auth, user.username, REGISTERED_MODEL, name, user.permission)
            done.append(f"user {user.username}: {user.permission} on registered model {name!r} {change}")
    return done


def main(environ: Mapping[str, str] = os.environ) -> int:
    tracking_uri = environ.get("MLFLOW_TRACKING_URI", "")
    if not tracking_uri:
        print("mlflow users: MLFLOW_TRACKING_URI is not set: expected the server's URL", file=sys.stderr)
        return 1
    try:
        users = parse_users(environ.get(USERS_ENV, ""))
        check_passwords(users, environ)
        wait_until_ready(tracking_uri, float(environ.get(READY_TIMEOUT_ENV, "300")))
        for line in sync_users(tracking_uri, users, environ):
            print(line, flush=True)
    except SyncError as exc:
        print(f"mlflow users: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
