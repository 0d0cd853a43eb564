"""docs/first-deploy.md shows what `python -m harness inventory` counts for each committed stack."""

from __future__ import annotations

import pytest

from harness.inventory import inventory, render_markdown
from harness.mocks import committed_record
from tests.support.stacks import record
from tests.support.tools import REPO_ROOT
from upstream.facts import load_facts

STACKS = ("local", "dev", "prod")


@pytest.mark.parametrize("stack", STACKS)
def test_docs_first_deploy_table_is_current(stack: str) -> None:
    # The docs describe the committed stacks, not the tests' copies.
    table = render_markdown(inventory(committed_record(stack), load_facts(stack)))
    assert table in (REPO_ROOT / "docs" / "first-deploy.md").read_text(encoding="utf-8"), (
        f"docs/first-deploy.md is stale for {stack}: python -m harness inventory --stack {stack}"
    )


def test_inventory_counts_what_the_record_holds() -> None:
    dev, local = inventory(record("dev"), load_facts("dev")), inventory(record("local"), load_facts("local"))
    assert local.aws == {}, "local creates nothing on AWS"
    assert dev.aws["EKS cluster (pulumi-eks: control plane, access entries)"] == 1
    assert "RDS PostgreSQL (instance, subnet and parameter groups)" not in dev.aws  # SQLite in dev
    assert dev.builds == 3, "MLflow, the pipeline steps, the model server"
    assert dev.upstream["kubeflow-pipelines"][0] == "2.17.0"
    # Objects of the upstream releases are counted from their facts, not as the two expanding resources.
    assert dev.kubernetes == sum(
        1
        for r in record("dev").resources
        if r.type.startswith("kubernetes:")
        and not r.type.startswith("kubernetes:helm.sh")
        and not r.type.startswith("kubernetes:kustomize")
    )
