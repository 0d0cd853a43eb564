"""PodIdentityRole: one IAM role per service account, trusted only by EKS Pod Identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.dvc_remote import read_write_policy_document
from components.pod_identity import (
    POD_IDENTITY_PRINCIPAL,
    PodIdentityRoleArgs,
    pod_identity_trust_policy,
    validate_pod_identity_args,
)
from harness.mocks import Record, run_program
from tests.support.stack_records import policy

BUCKET_ARN = "arn:aws:s3:::mlops-dvc-dev-1234"
PROGRAM = f'''
import json
import pulumi
from components.dvc_remote import read_write_policy_document
from components.pod_identity import PodIdentityRole, PodIdentityRoleArgs

role = PodIdentityRole(
    "mlflow",
    PodIdentityRoleArgs(
        cluster_name="mlops-infra-dev",
        namespace="mlflow",
        service_account="mlflow-server",
        policy_document=pulumi.Output.from_input("{BUCKET_ARN}").apply(
            lambda arn: json.dumps(read_write_policy_document(arn, "mlflow"))
        ),
    ),
)
pulumi.export("role_arn", role.role_arn)
pulumi.export("association_arn", role.association_arn)
'''


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> Record:
    program = tmp_path_factory.mktemp("pod_identity") / "__main__.py"
    program.write_text(PROGRAM)
    return run_program("dev", {}, program_file=Path(program))


def test_trust_policy_lets_only_pod_identity_assume_and_tag() -> None:
    [statement] = pod_identity_trust_policy()["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": POD_IDENTITY_PRINCIPAL}
    assert statement["Action"] == ["sts:AssumeRole", "sts:TagSession"]


def test_cis_eks_5_2_1_role_trusts_pod_identity_and_carries_only_its_document(record: Record) -> None:
    role = record.one("aws:iam/role:Role", "mlflow-role")
    assert policy(role.inputs["assumeRolePolicy"]) == pod_identity_trust_policy()
    [inline] = record.of_type("aws:iam/rolePolicy:RolePolicy")
    assert inline.inputs["role"] == role.id
    assert json.loads(inline.inputs["policy"]) == read_write_policy_document(BUCKET_ARN, "mlflow")
    assert record.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") == []


def test_association_binds_the_service_account_after_its_policy(record: Record) -> None:
    association = record.one("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    role = record.one("aws:iam/role:Role", "mlflow-role")
    assert {k: association.inputs[k] for k in ("clusterName", "namespace", "serviceAccount", "roleArn")} == {
        "clusterName": "mlops-infra-dev",
        "namespace": "mlflow",
        "serviceAccount": "mlflow-server",
        "roleArn": role.outputs["arn"],
    }
    assert record.one("aws:iam/rolePolicy:RolePolicy").urn in association.dependencies
    assert record.exports["association_arn"].startswith("arn:aws:eks:")
    component = record.one("mlops:pod_identity:PodIdentityRole", "mlflow")
    assert {r.name for r in record.children_of(component)} == {
        "mlflow-role",
        "mlflow-policy",
        "mlflow-association",
    }


@pytest.mark.parametrize(
    ("namespace", "service_account", "message"),
    [
        ("MLflow", "sa", "namespace = 'MLflow'"),
        ("mlflow", "sa_1", "service_account = 'sa_1'"),
        ("-x", "sa", "namespace"),
    ],
)
def test_invalid_kubernetes_names_are_refused(namespace: str, service_account: str, message: str) -> None:
    args = PodIdentityRoleArgs(
        cluster_name="c", namespace=namespace, service_account=service_account, policy_document="{}"
    )
    with pytest.raises(ValueError, match=message):
        validate_pod_identity_args(args)
