"""EksCluster: the VPC, EKS control plane and managed node groups, from its own Args and on recorded runs."""

from __future__ import annotations

import base64
import dataclasses
import email
import ipaddress
import json
import re
from typing import Literal

import pulumi
import pytest
import yaml

from components.cluster_handle import EksClusterHandle
from components.eks_cluster import (
    EBS_CSI_POLICY_ARN,
    ControlPlaneArgs,
    EksCluster,
    EksClusterArgs,
    NetworkArgs,
    api_server_endpoint,
    eks_log_group_name,
    vpc_cni_configuration,
)
from components.node_groups import (
    GPU_ACCELERATOR_LABEL,
    NodeGroupArgs,
    NodeGroupsArgs,
    default_node_group_max_pods,
    plan_node_groups,
)
from components.pod_identity import POD_IDENTITY_PRINCIPAL
from harness.mocks import Record, Recorded, run_components
from pipelines.scheduling import GPU_TAINT_KEY
from settings import EKS_LOG_TYPES, settings_from_config
from tests.support.stack_records import by_id, committed, policy
from tests.support.stacks import config_set_path, gpu_record, resolve_fixture, run_fixture
from versions import EKS_ADDON_VERSIONS, EKS_ADDONS

AWS_STACKS = ("dev", "prod")
EKS = "eks:index:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
SUBNET = "aws:ec2/subnet:Subnet"


def _private_subnet_ids(record: Record) -> set[str]:
    return {s.id for s in record.of_type(SUBNET) if "kubernetes.io/role/internal-elb" in s.inputs["tags"]}


def _public_subnet_ids(record: Record) -> set[str]:
    return {s.id for s in record.of_type(SUBNET) if "kubernetes.io/role/elb" in s.inputs["tags"]}


# --- pure planning -----------------------------------------------------------------------------------------


def test_log_group_name_and_endpoint_helpers() -> None:
    assert eks_log_group_name("mlops-infra-dev") == "/aws/eks/mlops-infra-dev/cluster"
    kubeconfig = json.dumps({"clusters": [{"cluster": {"server": "https://x.eks.amazonaws.com"}}]})
    assert api_server_endpoint(kubeconfig) == "https://x.eks.amazonaws.com"


# --- the component from its own Args, and the URNs deployed stacks hold -----------------------------------

EKS_CLUSTER = "mlops:cluster:EksCluster"
# Deployed stacks hold the type both cluster kinds had before the split.
FORMER = [{"spec": {"type": "mlops:cluster:PlatformCluster"}}]


def _node_group(
    instance_type: str, capacity_type: Literal["ON_DEMAND", "SPOT"], min_size: int
) -> NodeGroupArgs:
    return NodeGroupArgs(
        (instance_type,), capacity_type, min_size, desired_size=1, max_size=3, disk_size_gib=20, max_pods=32
    )


ARGS = EksClusterArgs(
    name="mlops-test",
    region="eu-west-1",
    control_plane=ControlPlaneArgs(
        kubernetes_version="1.35",
        endpoint_private_access=True,
        endpoint_public_access=False,
        public_access_cidrs=(),
        log_types=("api", "audit"),
        log_retention_days=7,
        secrets_encryption=False,
        upgrade_policy="STANDARD",
    ),
    network=NetworkArgs(vpc_cidr="10.40.0.0/16", availability_zones=2, nat_gateways=1, nat_type="gateway"),
    node_groups=NodeGroupsArgs(
        system=_node_group("t3a.medium", "ON_DEMAND", 1), workloads=_node_group("t3a.large", "SPOT", 0)
    ),
)


@pytest.fixture(scope="module")
def isolated() -> tuple[Record, EksCluster]:
    """EksCluster built from ARGS alone (no settings.py, no stack), its stack outputs exported."""
    built: list[EksCluster] = []

    def build() -> None:
        cluster = EksCluster("eks", ARGS)
        built.append(cluster)
        for key, value in cluster.stack_outputs.items():
            pulumi.export(key, value)

    record = run_components(build)
    return record, built[0]


DEPLOY_ROLE = "arn:aws:iam::123456789012:role/github-deploy-prod"


@pytest.fixture(scope="module")
def hardened() -> Record:
    """EksCluster from ARGS with Secrets encryption and an extra cluster admin."""
    control_plane = dataclasses.replace(
        ARGS.control_plane, secrets_encryption=True, admin_principal_arns=(DEPLOY_ROLE,)
    )
    return run_components(lambda: EksCluster("eks", dataclasses.replace(ARGS, control_plane=control_plane)))


def test_component_from_its_own_args_registers_the_vpc_eks_and_node_groups(
    isolated: tuple[Record, EksCluster],
) -> None:
    record, cluster = isolated
    component = record.one(EKS_CLUSTER, "eks")
    children = {(r.type, r.name) for r in record.children_of(component)}
    assert {
        ("aws:ec2/vpc:Vpc", "eks-vpc"),
        (EKS, "eks-eks"),
        (NODE_GROUP, "eks-system"),
        (NODE_GROUP, "eks-workloads"),
        ("pulumi:providers:kubernetes", "eks-k8s"),
    } <= children
    assert record.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"] == "10.40.0.0/16"
    assert (len(record.of_type(SUBNET)), len(record.of_type("aws:ec2/natGateway:NatGateway"))) == (4, 1)
    assert record.one(EKS).inputs["name"] == "mlops-test"
    assert {g.inputs["clusterName"] for g in record.of_type(NODE_GROUP)} == {"mlops-test"}
    # Without autoscaler Args the operator owns the group sizes: no autoscaler, no Auto Scaling group tags.
    assert record.of_type("mlops:autoscaler:ClusterAutoscaler") == []
    assert record.of_type("aws:autoscaling/tag:Tag") == []

    assert isinstance(cluster.handle, EksClusterHandle)
    assert cluster.handle.provider is cluster.provider
    assert cluster.handle.vpc.cidr == "10.40.0.0/16"
    assert record.exports["cluster_name"] == "mlops-test"
    assert record.exports["vpc_id"] == record.one("aws:ec2/vpc:Vpc").id
    assert set(record.exports["private_subnet_ids"]) == _private_subnet_ids(record)
    assert "kubeconfig" in record.secret_exports


def test_component_answers_to_the_former_platform_cluster_type(isolated: tuple[Record, EksCluster]) -> None:
    record, _ = isolated
    assert record.one(EKS_CLUSTER, "eks").aliases == FORMER


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_aws_stacks_run_eks_with_the_names_they_were_deployed_with(stack: str) -> None:
    record = committed(stack)
    component = record.one(EKS_CLUSTER, "platform")
    assert component.aliases == FORMER
    names = {r.name for r in record.children_of(component)}
    assert {
        "platform-vpc",
        "platform-eks",
        "platform-k8s",
        "platform-system",
        "platform-workloads",
        "platform-metrics-server",
        "platform-autoscaler",
    } <= names
    assert all(n.startswith("platform-") for n in names), sorted(names)


# --- SECURITY.md rows, on the recorded stacks ------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_ckv_aws_39_eks_endpoint_not_public(stack: str) -> None:
    inputs = committed(stack).one(EKS).inputs
    assert inputs["endpointPrivateAccess"] is True
    if inputs["endpointPublicAccess"]:
        cidrs = inputs["publicAccessCidrs"]
        assert cidrs, "a public endpoint needs an allow-list"
        assert all(ipaddress.IPv4Network(c).prefixlen > 0 for c in cidrs), cidrs


def test_ckv_aws_39_private_only_endpoint_sends_no_allow_list(isolated: tuple[Record, EksCluster]) -> None:
    record, _ = isolated
    assert ARGS.control_plane.endpoint_public_access is False
    inputs = record.one(EKS).inputs
    assert inputs["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in inputs


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_cis_eks_5_4_3_nodes_in_private_subnets_without_public_ip_or_ssh(stack: str) -> None:
    record = committed(stack)
    private = _private_subnet_ids(record)
    assert len(private) == len(_public_subnet_ids(record)) >= 2
    eks = record.one(EKS).inputs
    assert eks["nodeAssociatePublicIpAddress"] is False
    assert set(eks["privateSubnetIds"]) == private
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in record.of_type(SUBNET))
    templates = by_id(record, LAUNCH_TEMPLATE)
    for group in record.of_type(NODE_GROUP):
        assert set(group.inputs["subnetIds"]) == private, group.name
        assert "remoteAccess" not in group.inputs, group.name
        assert "keyName" not in templates[group.inputs["launchTemplate"]["id"]].inputs
    # Private subnets reach the internet only through NAT (a gateway, or dev's NAT instance's interface),
    # never the internet gateway.
    private_routes = [r for r in record.of_type("aws:ec2/route:Route") if "private" in r.name]
    assert private_routes and all(
        ("natGatewayId" in r.inputs or "networkInterfaceId" in r.inputs) and "gatewayId" not in r.inputs
        for r in private_routes
    )


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_ckv_aws_37_control_plane_logging_with_log_group_retention(stack: str) -> None:
    record = committed(stack)
    eks = record.one(EKS)
    expected_types = {"dev": {"api", "audit"}, "prod": set(EKS_LOG_TYPES)}[stack]
    assert set(eks.inputs["enabledClusterLogTypes"]) == expected_types
    log_group = record.one("aws:cloudwatch/logGroup:LogGroup")
    assert log_group.inputs["name"] == f"/aws/eks/{eks.inputs['name']}/cluster"
    assert log_group.inputs["retentionInDays"] == {"dev": 7, "prod": 90}[stack]
    assert log_group.urn in eks.dependencies, "EKS would create the group without retention first"


def test_ckv_aws_58_prod_secrets_encrypted_with_a_customer_kms_key() -> None:
    record = committed("prod")
    key = record.one("aws:kms/key:Key", "platform-secrets-key")
    assert key.inputs["enableKeyRotation"] is True
    assert record.one(EKS).inputs["encryptionConfigKeyArn"] == key.outputs["arn"]


def test_ckv_aws_58_secrets_encryption_follows_the_stack_config_in_dev(hardened: Record) -> None:
    assert "encryptionConfigKeyArn" not in committed("dev").one(EKS).inputs
    settings = resolve_fixture("dev", set_values=config_set_path("dev", {"cluster.secretsEncryption": True}))
    assert isinstance(settings.cluster, EksClusterArgs)
    assert settings.cluster.control_plane.secrets_encryption is True
    key = hardened.one("aws:kms/key:Key", "eks-secrets-key")
    assert hardened.one(EKS).inputs["encryptionConfigKeyArn"] == key.outputs["arn"]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_ckv_aws_339_access_entries_and_standard_upgrade_policy(stack: str) -> None:
    inputs = committed(stack).one(EKS).inputs
    assert inputs["authenticationMode"] == "API"
    assert inputs["upgradePolicy"] == {"supportType": "STANDARD"}
    assert inputs["version"] == "1.35"
    assert inputs["skipDefaultNodeGroup"] is True


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_ckv_aws_79_341_nodes_require_imdsv2_with_hop_limit_1(stack: str) -> None:
    record = committed(stack)
    templates = by_id(record, LAUNCH_TEMPLATE)
    groups = record.of_type(NODE_GROUP)
    assert len(groups) >= 2 and all(g.inputs["launchTemplate"]["id"] in templates for g in groups)
    # Every launch template: the node groups' and (dev) the NAT instance's.
    for template in templates.values():
        assert template.inputs["metadataOptions"] == {
            "httpEndpoint": "enabled",
            "httpTokens": "required",
            "httpPutResponseHopLimit": 1,
        }, template.name
        disks = template.inputs["blockDeviceMappings"]
        assert [d["ebs"]["encrypted"] for d in disks] == ["true"], template.name


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_cis_eks_5_2_1_node_role_has_no_app_permissions(stack: str) -> None:
    record = committed(stack)
    node_role = record.one("aws:iam/role:Role", "platform-node-role")
    trust = policy(node_role.inputs["assumeRolePolicy"])
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "ec2.amazonaws.com"}]
    attached = {
        a.inputs["policyArn"]
        for a in record.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.inputs["role"] == node_role.outputs["name"]
    }
    assert attached == {
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    }
    inline = [p for p in record.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] == node_role.id]
    assert inline == []
    assert {g.inputs["nodeRoleArn"] for g in record.of_type(NODE_GROUP)} == {node_role.outputs["arn"]}


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_cis_eks_5_2_1_pod_identity_agent_and_ebs_csi_role(stack: str) -> None:
    record = committed(stack)
    groups = {g.urn for g in record.of_type(NODE_GROUP)}
    addons = {a.inputs["addonName"]: a for a in record.of_type("aws:eks/addon:Addon")}
    assert set(addons) == set(EKS_ADDONS)
    # pulumi-eks's own CoreDNS add-on would wait for nodes that do not exist yet (pulumi/pulumi-eks#1819).
    assert record.one(EKS).inputs["corednsAddonOptions"]["enabled"] is False
    for deployment in ("coredns", "eks-pod-identity-agent", "aws-ebs-csi-driver"):
        assert groups <= set(addons[deployment].dependencies), f"{deployment} must wait for nodes"
    [association] = addons["aws-ebs-csi-driver"].inputs["podIdentityAssociations"]
    assert association["serviceAccount"] == "ebs-csi-controller-sa"
    roles = {r.outputs["arn"]: r for r in record.of_type("aws:iam/role:Role")}
    csi_role = roles[association["roleArn"]]
    trust = policy(csi_role.inputs["assumeRolePolicy"])["Statement"]
    assert [(s["Principal"], s["Action"]) for s in trust] == [
        ({"Service": POD_IDENTITY_PRINCIPAL}, ["sts:AssumeRole", "sts:TagSession"])
    ]
    attached = [
        a.inputs["policyArn"]
        for a in record.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.inputs["role"] == csi_role.outputs["name"]
    ]
    assert attached == [EBS_CSI_POLICY_ARN]


def test_pulumi_15956_prod_secrets_key_is_protected_and_retained() -> None:
    key = committed("prod").one("aws:kms/key:Key", "platform-secrets-key")
    assert (key.protect, key.retain_on_delete) == (True, True)
    assert committed("prod").one(EKS).inputs["deletionProtection"] is True
    assert committed("dev").one(EKS).inputs["deletionProtection"] is False


# --- inventories ---------------------------------------------------------------------------------------


def _count(record: Record, type_token: str) -> int:
    return len(record.of_type(type_token))


@pytest.mark.parametrize(("stack", "azs", "nats", "nat_instances"), [("dev", 2, 0, 1), ("prod", 3, 3, 0)])
def test_inventory_network(stack: str, azs: int, nats: int, nat_instances: int) -> None:
    record = committed(stack)
    assert _count(record, "aws:ec2/vpc:Vpc") == 1
    assert _count(record, SUBNET) == 2 * azs
    assert _count(record, "aws:ec2/natGateway:NatGateway") == nats
    assert _count(record, "aws:ec2/instance:Instance") == nat_instances
    assert _count(record, "aws:ec2/eip:Eip") == nats + nat_instances
    assert _count(record, "aws:ec2/internetGateway:InternetGateway") == 1
    assert _count(record, "aws:ec2/routeTable:RouteTable") == 1 + azs
    azs_used = {s.inputs["availabilityZone"] for s in record.of_type(SUBNET)}
    assert len(azs_used) == azs
    # Each private route table uses "its" NAT; with one NAT every AZ shares it.
    routes = record.of_type("aws:ec2/route:Route")
    nat_ids = {r.inputs.get("natGatewayId") or r.inputs.get("networkInterfaceId") for r in routes} - {None}
    assert len(nat_ids) == nats + nat_instances


def test_inventory_nat_gateways_sit_in_public_subnets() -> None:
    record = committed("prod")
    public = _public_subnet_ids(record)
    assert {n.inputs["subnetId"] for n in record.of_type("aws:ec2/natGateway:NatGateway")} == public


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        ("dev", {"system": ("ON_DEMAND", 1, 1, 2), "workloads": ("SPOT", 0, 1, 3)}),
        ("prod", {"system": ("ON_DEMAND", 2, 2, 4), "workloads": ("SPOT", 0, 1, 6)}),
    ],
)
def test_inventory_node_groups(stack: str, expected: dict[str, tuple[str, int, int, int]]) -> None:
    groups: dict[str, Recorded] = {
        g.inputs["labels"]["mlops.platform/node-role"]: g for g in committed(stack).of_type(NODE_GROUP)
    }
    actual = {
        role: (
            g.inputs["capacityType"],
            g.inputs["scalingConfig"]["minSize"],
            g.inputs["scalingConfig"]["desiredSize"],
            g.inputs["scalingConfig"]["maxSize"],
        )
        for role, g in groups.items()
    }
    assert actual == expected
    assert all(g.ignore_changes == ["scalingConfig.desiredSize"] for g in groups.values())


def test_inventory_optional_gpu_group_is_tainted_and_starts_at_zero() -> None:
    record = gpu_record()
    [gpu] = [g for g in record.of_type(NODE_GROUP) if g.inputs["labels"]["mlops.platform/node-role"] == "gpu"]
    assert gpu.inputs["taints"] == [{"key": GPU_TAINT_KEY, "value": "true", "effect": "NO_SCHEDULE"}]
    assert gpu.inputs["scalingConfig"]["minSize"] == 0
    assert gpu.inputs["amiType"] == "AL2023_x86_64_NVIDIA"


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_kubernetes_provider_is_built_from_the_cluster_kubeconfig_output(stack: str) -> None:
    record = committed(stack)
    provider = record.one("pulumi:providers:kubernetes")
    kubeconfig = json.loads(provider.inputs["kubeconfig"])
    assert kubeconfig["users"][0]["user"]["exec"]["args"][3] == f"mlops-infra-{stack}"
    assert record.one(EKS).urn in provider.dependencies
    assert "kubeconfig" in record.secret_exports
    storage_class = record.one("kubernetes:storage.k8s.io/v1:StorageClass")
    assert storage_class.provider.startswith(provider.urn)
    assert storage_class.inputs["parameters"] == {"type": "gp3", "encrypted": "true"}
    assert storage_class.inputs["reclaimPolicy"] == {"dev": "Delete", "prod": "Retain"}[stack]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_cluster_outputs_are_exported(stack: str) -> None:
    record = committed(stack)
    exports = record.exports
    assert exports["cluster_name"] == f"mlops-infra-{stack}"
    assert exports["cluster_endpoint"].startswith("https://")
    assert exports["oidc_issuer"].startswith("oidc.eks.")
    assert exports["node_role_arn"] == record.one("aws:iam/role:Role", "platform-node-role").outputs["arn"]
    assert exports["vpc_id"] == record.one("aws:ec2/vpc:Vpc").id
    assert set(exports["private_subnet_ids"]) == _private_subnet_ids(record)
    assert set(exports["public_subnet_ids"]) == _public_subnet_ids(record)


def test_extra_admins_get_cluster_admin_through_access_entries_only(hardened: Record) -> None:
    settings = resolve_fixture(
        "dev", set_values=config_set_path("dev", {"cluster.adminPrincipalArns": [DEPLOY_ROLE]})
    )
    assert isinstance(settings.cluster, EksClusterArgs)
    assert settings.cluster.control_plane.admin_principal_arns == (DEPLOY_ROLE,)
    record = hardened
    entries = record.one("eks:index:Cluster").inputs["accessEntries"]
    assert entries == {
        "admin-0": {
            "principalArn": DEPLOY_ROLE,
            "accessPolicies": {
                "cluster-admin": {
                    "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                    "accessScope": {"type": "cluster"},
                }
            },
        }
    }
    assert not record.of_type("kubernetes:core/v1:ConfigMap") or all(
        r.inputs.get("metadata", {}).get("name") != "aws-auth"
        for r in record.of_type("kubernetes:core/v1:ConfigMap")
    ), "access entries, not the aws-auth ConfigMap"


# --- pod network: enforced NetworkPolicies, prefix delegation, max pods ----------------------------------

ADDON = "aws:eks/addon:Addon"


def _addons(record: Record) -> dict[str, Recorded]:
    found = record.of_type(ADDON)
    by_name = {a.inputs["addonName"]: a for a in found}
    assert len(by_name) == len(found), "one add-on of each name"
    return by_name


def _role(group: Recorded) -> str:
    return str(group.inputs["labels"]["mlops.platform/node-role"])


def test_vpc_cni_configuration_turns_on_network_policy_and_prefix_delegation() -> None:
    config = json.loads(vpc_cni_configuration())
    assert config == {
        "enableNetworkPolicy": "true",
        "env": {"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1"},
    }
    assert json.loads(vpc_cni_configuration(prefix_delegation=False))["env"] == {
        "ENABLE_PREFIX_DELEGATION": "false"
    }


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_cis_eks_5_4_4_network_policies_are_enforced_by_the_one_vpc_cni(stack: str) -> None:
    record = committed(stack)
    vpc_cni = _addons(record)["vpc-cni"]
    config = json.loads(vpc_cni.inputs["configurationValues"])
    assert config["enableNetworkPolicy"] == "true"
    assert config["env"]["ENABLE_PREFIX_DELEGATION"] == "true"
    assert int(config["env"]["WARM_PREFIX_TARGET"]) >= 1
    # pulumi-eks would add a second vpc-cni (and kube-proxy) add-on of its own: both are off.
    eks = record.one(EKS).inputs
    assert eks["useDefaultVpcCni"] is True
    assert "vpcCniOptions" not in eks
    assert eks["kubeProxyAddonOptions"]["enabled"] is False


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_eks_addon_is_pinned_for_the_cluster_version(stack: str) -> None:
    record = committed(stack)
    version = record.one(EKS).inputs["version"]
    addons = _addons(record)
    assert set(addons) == set(EKS_ADDONS)
    for name, addon in addons.items():
        pinned = addon.inputs["addonVersion"]
        assert re.fullmatch(r"v\d+\.\d+\.\d+-eksbuild\.\d+", pinned), (name, pinned)
        assert pinned == EKS_ADDON_VERSIONS[version][name].version, name


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_nodes_start_after_the_pod_network_is_configured(stack: str) -> None:
    record = committed(stack)
    addons = _addons(record)
    network = {addons["vpc-cni"].urn, addons["kube-proxy"].urn}
    for group in record.of_type(NODE_GROUP):
        assert network <= set(group.dependencies), group.name
    assert not set(addons["vpc-cni"].dependencies) & {g.urn for g in record.of_type(NODE_GROUP)}


def test_max_pods_resolve_from_settings_or_the_smallest_type() -> None:
    assert default_node_group_max_pods(["t3a.large"]) == 64
    assert default_node_group_max_pods(["m6i.xlarge", "t3a.medium"]) == 32
    groups = {
        "system": {
            "instanceTypes": ["t3a.large"],
            "minSize": 1,
            "desiredSize": 1,
            "maxSize": 2,
            "maxPods": 40,
        },
        "workloads": {
            "instanceTypes": ["m6i.xlarge", "t3a.medium"],
            "minSize": 0,
            "desiredSize": 0,
            "maxSize": 2,
        },
    }
    config = {"target": "aws", "nodeGroups": json.dumps(groups), "cluster": '{"endpointPublicAccess": false}'}
    settings = settings_from_config("dev", config, "us-east-1")
    assert isinstance(settings.cluster, EksClusterArgs)
    plans = {p.role: p for p in plan_node_groups(settings.cluster.node_groups)}
    assert (plans["system"].max_pods, plans["workloads"].max_pods) == (40, 32)


def _node_config(user_data_b64: str) -> dict:
    message = email.message_from_bytes(base64.b64decode(user_data_b64))
    [part] = [p for p in message.walk() if p.get_content_type() == "application/node.eks.aws"]
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return yaml.safe_load(payload)


@pytest.mark.parametrize(
    ("stack", "expected"),
    [("dev", {"system": 32, "workloads": 64}), ("prod", {"system": 64, "workloads": 64})],
)
def test_kubelet_max_pods_is_set_in_each_launch_template(stack: str, expected: dict[str, int]) -> None:
    record = committed(stack)
    templates = by_id(record, LAUNCH_TEMPLATE)
    actual = {
        _role(group): _node_config(templates[group.inputs["launchTemplate"]["id"]].inputs["userData"])[
            "spec"
        ]["kubelet"]["config"]["maxPods"]
        for group in record.of_type(NODE_GROUP)
    }
    assert actual == expected
    # No AMI ID in a node template: EKS keeps choosing (and patching) the AMI and merges our NodeConfig.
    node_templates = [templates[g.inputs["launchTemplate"]["id"]] for g in record.of_type(NODE_GROUP)]
    assert all("imageId" not in t.inputs for t in node_templates)


# --- autoscaling: discovery and scale-from-zero tags -------------------------------------------------


def _asg_tags(record: Record) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {}
    for tag in record.of_type("aws:autoscaling/tag:Tag"):
        assert tag.inputs["tag"]["propagateAtLaunch"] is False
        tags.setdefault(tag.inputs["autoscalingGroupName"], {})[tag.inputs["tag"]["key"]] = tag.inputs["tag"][
            "value"
        ]
    return tags


def _asg_name(group: Recorded) -> str:
    return str(group.outputs["resources"][0]["autoscalingGroups"][0]["name"])


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_node_group_carries_its_node_template_tags_and_leaves_discovery_to_eks(stack: str) -> None:
    record = committed(stack)
    tags = _asg_tags(record)
    groups = record.of_type(NODE_GROUP)
    assert set(tags) == {_asg_name(g) for g in groups}
    for group in groups:
        group_tags = tags[_asg_name(group)]
        label = "k8s.io/cluster-autoscaler/node-template/label/mlops.platform/node-role"
        assert group_tags[label] == _role(group)
        # EKS tags every managed group for discovery itself; a second owner could delete its tags.
        assert all("/node-template/" in key for key in group_tags), sorted(group_tags)


def test_without_the_autoscaler_no_auto_scaling_group_is_tagged() -> None:
    record = run_fixture("dev", set_values={"mlops-infra:autoscaler": {"enabled": False}})
    assert record.of_type("aws:autoscaling/tag:Tag") == []
    assert record.of_type(NODE_GROUP), "the node groups themselves stay"


@pytest.fixture(name="gpu_record", scope="module")
def gpu_record_fixture() -> Record:
    return gpu_record()


def test_gpu_group_scales_from_zero_with_its_taint_and_accelerator_on_the_asg(gpu_record: Record) -> None:
    [gpu] = [g for g in gpu_record.of_type(NODE_GROUP) if _role(g) == "gpu"]
    assert gpu.inputs["scalingConfig"]["minSize"] == 0
    assert gpu.inputs["labels"][GPU_ACCELERATOR_LABEL] == "nvidia-tesla-t4"
    tags = _asg_tags(gpu_record)[_asg_name(gpu)]
    assert tags[f"k8s.io/cluster-autoscaler/node-template/taint/{GPU_TAINT_KEY}"] == "true:NoSchedule"
    assert tags[f"k8s.io/cluster-autoscaler/node-template/label/{GPU_ACCELERATOR_LABEL}"] == "nvidia-tesla-t4"
    templates = by_id(gpu_record, LAUNCH_TEMPLATE)
    max_pods = {
        _role(g): _node_config(templates[g.inputs["launchTemplate"]["id"]].inputs["userData"])["spec"][
            "kubelet"
        ]["config"]["maxPods"]
        for g in gpu_record.of_type(NODE_GROUP)
    }
    assert max_pods == {"system": 32, "workloads": 24, "gpu": 110}
