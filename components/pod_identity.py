"""Give one Kubernetes service account its own IAM role through EKS Pod Identity.

Pod Identity needs no OIDC provider and no service-account annotation: the EKS Pod Identity agent (an add-on
`EksCluster` installs) hands the role's credentials to pods running as (namespace, service account).
One role per workload keeps each one scoped to what it needs (CIS EKS 5.2.1, EKS Best Practices: IAM).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"
# A Kubernetes namespace or service account name (RFC 1123 label / subdomain, as the API server checks it).
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def pod_identity_trust_policy() -> dict[str, Any]:
    """Trust policy that lets only the EKS Pod Identity service assume the role (and tag the session)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowEksPodIdentity",
                "Effect": "Allow",
                "Principal": {"Service": POD_IDENTITY_PRINCIPAL},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }


@dataclass(frozen=True)
class PodIdentityRoleArgs:
    cluster_name: pulumi.Input[str]
    """The EKS cluster whose pods get the role (`EksCluster.handle.cluster_name`)."""
    namespace: str
    """Namespace of the service account."""
    service_account: str
    """Name of the Kubernetes service account the pods run as."""
    policy_document: pulumi.Input[str]
    """The role's permissions: IAM policy JSON text (e.g. from `read_write_policy_document`)."""


def validate_pod_identity_args(args: PodIdentityRoleArgs) -> None:
    """Refuse names the Kubernetes API would reject, before anything is registered."""
    if len(args.namespace) > 63 or not _DNS_LABEL.match(args.namespace):
        raise ValueError(f"PodIdentityRoleArgs.namespace = {args.namespace!r}: expected a DNS-1123 label")
    if len(args.service_account) > 253 or not _DNS_SUBDOMAIN.match(args.service_account):
        raise ValueError(
            f"PodIdentityRoleArgs.service_account = {args.service_account!r}: expected a DNS-1123 subdomain"
        )


class PodIdentityRole(pulumi.ComponentResource):
    """An IAM role for one service account, with its inline policy and the Pod Identity association."""

    role_arn: pulumi.Output[str]
    role_name: pulumi.Output[str]
    association_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: PodIdentityRoleArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        validate_pod_identity_args(args)
        super().__init__("mlops:pod_identity:PodIdentityRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=pulumi.Output.json_dumps(pod_identity_trust_policy()),
            description=f"EKS Pod Identity role for {args.namespace}/{args.service_account}",
            opts=child,
        )
        policy = aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=args.policy_document, opts=child)
        # The association waits for the policy, so a pod never starts with a role that cannot do its job yet.
        association = aws.eks.PodIdentityAssociation(
            f"{name}-association",
            cluster_name=args.cluster_name,
            namespace=args.namespace,
            service_account=args.service_account,
            role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )

        self.role_arn = role.arn
        self.role_name = role.name
        self.association_arn = association.association_arn
        self.register_outputs(
            {"role_arn": self.role_arn, "role_name": self.role_name, "association_arn": self.association_arn}
        )
