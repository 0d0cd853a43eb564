"""The GitHub workflows: hardened (zizmor, pinning, permissions) and shaped as users rely on
(preview on pull requests, up on merge, prod behind its environment's reviewers)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.tools import REPO_ROOT, require_tool

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"@[0-9a-f]{40} # v\d+(\.\d+)*$")


def _load(path: Path) -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as the boolean True.
    if True in document:
        document["on"] = document.pop(True)
    return document


def _workflow(name: str) -> dict[Any, Any]:
    return _load(REPO_ROOT / ".github" / "workflows" / name)


def _steps(document: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def test_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "deploy.yml", "pulumi-up.yml", "image-pins.yml"}


@pytest.mark.parametrize("persona", ["regular", "pedantic"])
def test_zizmor_finds_nothing(persona: str) -> None:
    zizmor = require_tool("zizmor", str(REPO_ROOT / ".venv" / "bin"))
    result = subprocess.run(
        [zizmor, "--offline", f"--persona={persona}", str(REPO_ROOT / ".github")],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


def test_workflows_match_the_github_schema() -> None:
    checker = require_tool("check-jsonschema", str(REPO_ROOT / ".venv" / "bin"))
    result = subprocess.run(
        [checker, "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_ckv2_gha_1_top_level_permissions_empty_jobs_ask_for_what_they_need(path: Path) -> None:
    document = _load(path)
    assert document["permissions"] == {}
    for name, job in document["jobs"].items():
        assert "permissions" in job, f"{path.name}:{name} has no permissions block"
        assert "write-all" not in str(job["permissions"])


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_sha_with_a_version_comment(path: Path) -> None:
    lines = path.read_text().splitlines()
    uses = [line.split("uses:", 1)[1].strip() for line in lines if re.match(r"^\s*(- )?uses:", line)]
    assert uses
    for reference in uses:
        if reference.startswith("$/"):  # a reusable workflow of this repository
            continue
        action = reference.split(" #")[0]
        assert PINNED.match(action), f"{path.name}: {reference} is not pinned by commit SHA"
        assert VERSION_COMMENT.search(reference), f"{path.name}: {reference} lacks a '# vX.Y.Z' comment"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkouts_do_not_persist_credentials(path: Path) -> None:
    checkouts = [s for s in _steps(_load(path)) if str(s.get("uses", "")).startswith("actions/checkout@")]
    for step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_pull_request_target_and_no_expressions_inside_scripts(path: Path) -> None:
    document = _load(path)
    assert "pull_request_target" not in document["on"]
    for step in _steps(document):
        assert "${{" not in step.get("run", ""), f"{path.name}: pass values to scripts through env"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_aws_access_is_oidc_only(path: Path) -> None:
    text = path.read_text()
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    for step in _steps(_load(path)):
        if "configure-aws-credentials" in str(step.get("uses", "")):
            assert step["with"]["role-to-assume"].startswith("${{ vars.")


def test_pull_requests_preview_dev_and_prod_and_comment_the_diff() -> None:
    deploy = _workflow("deploy.yml")
    assert "pull_request" in deploy["on"]
    preview = deploy["jobs"]["preview"]
    assert preview["if"] == "github.event_name == 'pull_request'"
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    pulumi = next(s for s in preview["steps"] if "pulumi/actions" in str(s.get("uses")))
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["comment-on-pr"] is True
    assert "pull-requests" in preview["permissions"]


def test_merge_to_main_deploys_dev_then_prod_behind_its_environment() -> None:
    deploy = _workflow("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    up_dev, up_prod = deploy["jobs"]["up-dev"], deploy["jobs"]["up-prod"]
    assert "refs/heads/main" in up_dev["if"] and "push" in up_dev["if"]
    assert up_dev["with"]["stack"] == "dev"
    assert up_prod["with"]["stack"] == "prod"
    assert up_prod["needs"] == "up-dev"
    assert up_dev["uses"] == up_prod["uses"] == "$/.github/workflows/pulumi-up.yml"
    assert deploy["concurrency"]["cancel-in-progress"] is False

    up = _workflow("pulumi-up.yml")
    job = up["jobs"]["up"]
    # The job runs in the environment named after the stack: prod waits for its required reviewers.
    assert job["environment"] == "${{ inputs.stack }}"
    pulumi = next(s for s in job["steps"] if "pulumi/actions" in str(s.get("uses")))
    assert pulumi["with"]["command"] == "up"
    assert pulumi["with"]["stack-name"] == "${{ inputs.stack }}"


def test_ci_runs_the_same_make_test_as_developers() -> None:
    ci = _workflow("ci.yml")
    assert {"pull_request", "push"} <= set(ci["on"])
    runs = [s.get("run", "") for s in ci["jobs"]["test"]["steps"]]
    assert "bash .ci/run" in runs


def test_ci_renders_and_checks_the_upstream_parts_of_every_stack_with_network() -> None:
    job = _workflow("ci.yml")["jobs"]["upstream"]
    assert job["strategy"]["matrix"]["stack"] == ["local", "dev", "prod"]
    assert job["strategy"]["fail-fast"] is False
    check = next(s for s in job["steps"] if "python -m upstream check" in s.get("run", ""))
    assert check["run"] == '.venv/bin/python -m upstream check --stack "$STACK"'
    assert check["env"]["STACK"] == "${{ matrix.stack }}"
    assert "--no-checkov" not in check["run"]
    assert any(".venv-checkov/bin/checkov" in s.get("run", "") for s in job["steps"])
    assert job["permissions"] == {"contents": "read"}


def test_image_pins_are_resolved_weekly_and_on_demand_with_read_only_access() -> None:
    pins = _workflow("image-pins.yml")
    assert set(pins["on"]) == {"schedule", "workflow_dispatch"}
    (cron,) = pins["on"]["schedule"]
    _minute, _hour, day, month, weekday = cron["cron"].split()
    assert (day, month) == ("*", "*") and weekday.isdigit()
    (job,) = pins["jobs"].values()
    assert job["permissions"] == {"contents": "read"}
    assert [s["run"] for s in job["steps"] if "run" in s] == ["python -m upstream pins"]
