"""The platform's cluster on AWS: EKS in its own VPC, with managed node groups, add-ons and controllers.

Every option of pulumi-eks that touches security or cost is set explicitly (its defaults are a
public endpoint, no control-plane logs, public node IPs and EXTENDED support). Nodes are EKS managed node
groups declared here with plain pulumi-aws resources, so the launch template (IMDSv2, encrypted disks, no
SSH key, kubelet maxPods) and the subnets they use are visible to reviews and tests; pulumi-eks is a remote
component whose children nobody sees. For the same reason every EKS add-on is declared here, pinned, and
pulumi-eks's own (CoreDNS, vpc-cni, kube-proxy) are off: the VPC CNI runs with network policy enforcement
and prefix delegation before any node starts. Cluster Autoscaler, metrics-server and the NVIDIA device plugin
are children.

Node groups are planned in components/node_groups.py, subnets in components/subnets.py. Consumers take
`handle` (components/cluster_handle.py: an `EksClusterHandle` with the provider, the cluster name Pod
Identity needs and the VPC), and `__main__` exports `stack_outputs`; `ExistingCluster`
(components/existing_cluster.py) offers the same contract for a kube context, and
`components.cluster.platform_cluster` picks one by the type of the Args.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components.autoscaler import (
    ClusterAutoscaler,
    ClusterAutoscalerArgs,
)
from components.cluster_handle import ClusterVpc, EksClusterHandle, with_former_cluster_type
from components.metrics_server import MetricsServer, MetricsServerArgs
from components.node_groups import (
    NodeGroupPlan,
    NodeGroupsArgs,
    autoscaler_group_tags,
    node_user_data,
    plan_node_groups,
)
from components.nvidia_device_plugin import NvidiaDevicePlugin, NvidiaDevicePluginArgs
from components.pod_identity import pod_identity_trust_policy
from components.subnets import plan_subnets
from pipelines.scheduling import NODE_ROLE_LABEL
from versions import eks_addon_version

# Managed policies a node needs to join the cluster, pull images and run the VPC CNI; nothing for apps,
# which get their own roles through Pod Identity.
NODE_ROLE_POLICY_ARNS = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
)
EBS_CSI_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
# One /28 prefix kept free per node: a new pod gets an address without an EC2 call, at 16 IPs of slack.
WARM_PREFIX_TARGET = 1
ROOT_DEVICE = "/dev/xvda"  # the root device of the EKS-optimized AL2023 AMIs
# A NAT instance forwards a few MB/s for dev: the smallest Graviton type does, at $0.0042/h.
NAT_INSTANCE_TYPE = "t4g.nano"
NAT_INSTANCE_DISK_GIB = 8
NAT_INSTANCE_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
# AWS's NAT-instance recipe for AL2023 (VPC user guide, "NAT instances"): forward, masquerade, persist;
# plus daily security updates, since nobody logs in to patch it.
NAT_INSTANCE_USER_DATA = """#!/bin/bash
set -euo pipefail
dnf install -y iptables-services dnf-automatic
sed -i 's/^upgrade_type = .*/upgrade_type = security/' /etc/dnf/automatic.conf
systemctl enable --now dnf-automatic-install.timer
systemctl enable --now iptables
echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/90-nat.conf
sysctl -p /etc/sysctl.d/90-nat.conf
interface=$(ip -o -4 route show to default | awk '{print $5}')
iptables -t nat -A POSTROUTING -o "$interface" -j MASQUERADE
iptables -F FORWARD
service iptables save
"""


# --- the contract: plain Args, resolved by settings.py, and what the component hands back --------------


@dataclass(frozen=True)
class NetworkArgs:
    vpc_cidr: str
    """The VPC's address range; subnets are carved from it (components/subnets.py)."""
    availability_zones: int
    """How many AZs the VPC and node groups span."""
    nat_gateways: int
    """How many NATs: private subnet i routes through NAT i % nat_gateways."""
    nat_type: Literal["gateway", "instance"]
    """`gateway`: managed NAT gateways; `instance`: a t4g.nano NAT instance each."""


@dataclass(frozen=True)
class ControlPlaneArgs:
    kubernetes_version: str
    """EKS Kubernetes minor version, e.g. 1.35 (its add-on versions are pinned in versions.py)."""
    endpoint_private_access: bool
    """API reachable from inside the VPC."""
    endpoint_public_access: bool
    """API reachable from `public_access_cidrs`."""
    public_access_cidrs: tuple[str, ...]
    """Who may reach a public endpoint."""
    log_types: tuple[str, ...]
    """Control-plane log types sent to CloudWatch."""
    log_retention_days: int
    """CloudWatch retention of those logs."""
    secrets_encryption: bool
    """Envelope-encrypt Secrets with a customer KMS key (created here)."""
    upgrade_policy: Literal["STANDARD", "EXTENDED"]
    """EKS support policy."""
    admin_principal_arns: tuple[str, ...] = ()
    """IAM principals that get cluster-admin through access entries."""


@dataclass(frozen=True)
class AutoscalingArgs:
    scale_down_unneeded_minutes: int
    """How long a node stays underused before it is removed."""
    scale_down_utilization_threshold: float
    """Below this share of requested CPU and memory a node is a removal candidate."""
    expander: str
    """Which node group grows when several could take the pending pods."""


@dataclass(frozen=True)
class EksClusterArgs:
    """A new EKS cluster in its own VPC, with managed node groups."""

    name: str
    """Physical EKS cluster name (also names its log group)."""
    region: str
    """AWS region, for the in-cluster controllers that call AWS (Cluster Autoscaler)."""
    control_plane: ControlPlaneArgs
    """Endpoint access, logs, encryption, version, upgrade policy, admins."""
    network: NetworkArgs
    """VPC range, AZs and NATs."""
    node_groups: NodeGroupsArgs
    """The managed node groups."""
    autoscaler: AutoscalingArgs | None = None
    """Cluster Autoscaler tuning; None leaves node group sizes to the operator."""
    protect: bool = False
    """Protect stateful resources (the secrets KMS key) and the cluster from deletion."""
    instance_tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for node instances and volumes: provider default tags stop at the launch template."""


# --- pure planning ---------------------------------------------------------------------------------------


def vpc_cni_configuration(*, network_policy: bool = True, prefix_delegation: bool = True) -> str:
    """Configuration values of the `vpc-cni` add-on (JSON, schema from `describe-addon-configuration`)."""
    env = {"ENABLE_PREFIX_DELEGATION": str(prefix_delegation).lower()}
    if prefix_delegation:
        env["WARM_PREFIX_TARGET"] = str(WARM_PREFIX_TARGET)
    return json.dumps({"enableNetworkPolicy": str(network_policy).lower(), "env": env}, sort_keys=True)


def _autoscaling_group_name(resources: Sequence[aws.eks.outputs.NodeGroupResource] | None) -> str:
    """The one Auto Scaling group EKS creates behind a managed node group."""
    for resource in resources or []:
        for group in resource.autoscaling_groups or []:
            if group.name:
                return group.name
    raise ValueError(f"EKS reported no Auto Scaling group for a managed node group: {resources!r}")


def usable_zones_filter() -> list[aws.GetAvailabilityZonesFilterArgs]:
    """The zones a VPC here may use: available, and not Local Zones or others needing an opt-in (settings asks
    the same question before anything is created, to refuse more AZs than the region offers)."""
    return [aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])]


def eks_log_group_name(cluster_name: str) -> str:
    """The log group EKS writes control-plane logs to; it creates it without retention if it is missing."""
    return f"/aws/eks/{cluster_name}/cluster"


def api_server_endpoint(kubeconfig_json: str) -> str:
    return str(json.loads(kubeconfig_json)["clusters"][0]["cluster"]["server"])


# --- the component ---------------------------------------------------------------------------------------


@dataclass
class _Network:
    vpc: aws.ec2.Vpc
    public_subnets: list[aws.ec2.Subnet]
    private_subnets: list[aws.ec2.Subnet]
    nat_gateways: list[aws.ec2.NatGateway]


CLUSTER_ADMIN_POLICY_ARN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def admin_access_entries(principal_arns: list[str]) -> dict[str, eks.AccessEntryArgs]:
    """Cluster-admin access entries, one per principal (EKS grants the creator admin on its own)."""
    return {
        f"admin-{index}": eks.AccessEntryArgs(
            principal_arn=arn,
            access_policies={
                "cluster-admin": eks.AccessPolicyAssociationArgs(
                    policy_arn=CLUSTER_ADMIN_POLICY_ARN,
                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                )
            },
        )
        for index, arn in enumerate(principal_arns)
    }


class EksCluster(pulumi.ComponentResource):
    """EKS in its own VPC; `handle` is what services need, `stack_outputs` what to export."""

    handle: EksClusterHandle
    provider: k8s.Provider
    stack_outputs: dict[str, pulumi.Output[Any]]

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:cluster:EksCluster", name, None, with_former_cluster_type(opts))
        network = self._network(name, args.network, args.instance_tags)
        secrets_key = self._secrets_key(name, args) if args.control_plane.secrets_encryption else None
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=eks_log_group_name(args.name),
            retention_in_days=args.control_plane.log_retention_days,
            opts=pulumi.ResourceOptions(parent=self),
        )
        control_plane = self._control_plane(name, args, network, secrets_key, log_group)
        # pulumi-eks is remote: its URN resolves once everything under it exists, so this name carries
        # the dependency on the ready cluster to every node group and add-on.
        cluster_name = control_plane.urn.apply(lambda _urn: args.name)
        version = args.control_plane.kubernetes_version
        # The pod network comes before any node: a node that starts without prefix delegation keeps
        # one IP per pod on the interfaces it already has.
        node_network = self._node_network_addons(name, cluster_name, version)
        node_role, node_policies = self._node_role(name)
        plans = plan_node_groups(args.node_groups)
        node_groups = [
            self._node_group(
                name,
                plan,
                cluster_name=cluster_name,
                node_role=node_role,
                depends_on=[*node_policies, *node_network],
                network=network,
                instance_tags=args.instance_tags,
            )
            for plan in plans
        ]
        if args.autoscaler is not None:
            for plan, group in zip(plans, node_groups, strict=True):
                self._autoscaling_group_tags(name, plan, group)
        agent = self._addons(name, cluster_name, version, node_groups)

        kubeconfig: pulumi.Output[str] = pulumi.Output.secret(control_plane.kubeconfig_json)
        self.provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=kubeconfig, opts=pulumi.ResourceOptions(parent=self)
        )
        self._default_storage_class(name, args.protect)
        self._controllers(name, args, cluster_name, after=[*node_groups, agent])

        private_subnet_ids = pulumi.Output.all(*[s.id for s in network.private_subnets])
        self.handle = EksClusterHandle(
            self.provider,
            cluster_name,
            ClusterVpc(
                network.vpc.id,
                args.network.vpc_cidr,
                private_subnet_ids,
                control_plane.node_security_group_id,
            ),
        )
        self.stack_outputs = {
            "cluster_name": cluster_name,
            "cluster_endpoint": pulumi.Output.unsecret(
                control_plane.kubeconfig_json.apply(api_server_endpoint)
            ),
            "kubeconfig": kubeconfig,
            "oidc_issuer": control_plane.oidc_issuer,
            "node_role_arn": node_role.arn,
            "vpc_id": network.vpc.id,
            "private_subnet_ids": private_subnet_ids,
            "public_subnet_ids": pulumi.Output.all(*[s.id for s in network.public_subnets]),
        }
        self.register_outputs(
            {**self.stack_outputs, "node_security_group_id": control_plane.node_security_group_id}
        )

    # --- network -----------------------------------------------------------------------------------------

    def _network(self, name: str, network: NetworkArgs, instance_tags: Mapping[str, str]) -> _Network:
        child = pulumi.ResourceOptions(parent=self)
        plans = plan_subnets(network.vpc_cidr, network.availability_zones)
        # AZ names differ per account and region (ap-northeast-1 has no "b"), so ask rather than guess.
        zones = aws.get_availability_zones_output(
            state="available", filters=usable_zones_filter(), opts=pulumi.InvokeOptions(parent=self)
        )
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=network.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{name}-vpc"},
            opts=child,
        )
        # The default security group allows all traffic between its members: strip its rules (CKV2_AWS_12).
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[], opts=child)
        gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags={"Name": f"{name}-igw"}, opts=child
        )
        public_routes = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=vpc.id, tags={"Name": f"{name}-public"}, opts=child
        )
        internet_route = aws.ec2.Route(
            f"{name}-public-default-route",
            route_table_id=public_routes.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=gateway.id,
            opts=child,
        )
        public_subnets: list[aws.ec2.Subnet] = []
        private_subnets: list[aws.ec2.Subnet] = []
        for plan in plans:
            n = plan.az_index + 1
            zone = zones.names[plan.az_index]
            public = aws.ec2.Subnet(
                f"{name}-public-{n}",
                vpc_id=vpc.id,
                cidr_block=plan.public_cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-public-{n}", "kubernetes.io/role/elb": "1"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{n}-rta", subnet_id=public.id, route_table_id=public_routes.id, opts=child
            )
            private = aws.ec2.Subnet(
                f"{name}-private-{n}",
                vpc_id=vpc.id,
                cidr_block=plan.private_cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-private-{n}", "kubernetes.io/role/internal-elb": "1"},
                opts=child,
            )
            public_subnets.append(public)
            private_subnets.append(private)

        nat_count = network.nat_gateways
        nat_gateways: list[aws.ec2.NatGateway] = []
        # Private subnet i routes to targets[i % nat_count]: a NAT gateway or a NAT instance's interface.
        targets: list[dict[str, pulumi.Output[str]]] = []
        if network.nat_type == "instance":
            enis = self._nat_instances(
                name,
                vpc,
                public_subnets[:nat_count],
                network,
                internet_route=internet_route,
                instance_tags=instance_tags,
            )
            targets = [{"network_interface_id": eni.id} for eni in enis]
        else:
            for i in range(nat_count):
                address = aws.ec2.Eip(
                    f"{name}-nat-{i + 1}-eip", domain="vpc", tags={"Name": f"{name}-nat-{i + 1}"}, opts=child
                )
                nat_gateways.append(
                    aws.ec2.NatGateway(
                        f"{name}-nat-{i + 1}",
                        allocation_id=address.allocation_id,
                        subnet_id=public_subnets[i].id,
                        connectivity_type="public",
                        tags={"Name": f"{name}-nat-{i + 1}"},
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
                    )
                )
            targets = [{"nat_gateway_id": nat.id} for nat in nat_gateways]
        for i, private in enumerate(private_subnets):
            n = i + 1
            # With fewer NATs than AZs, AZs share one; with one per AZ, losing an AZ loses only its own.
            target = targets[i % nat_count]
            routes = aws.ec2.RouteTable(
                f"{name}-private-{n}-rt", vpc_id=vpc.id, tags={"Name": f"{name}-private-{n}"}, opts=child
            )
            aws.ec2.Route(
                f"{name}-private-{n}-default-route",
                route_table_id=routes.id,
                destination_cidr_block="0.0.0.0/0",
                **target,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{n}-rta", subnet_id=private.id, route_table_id=routes.id, opts=child
            )
        return _Network(vpc, public_subnets, private_subnets, nat_gateways)

    def _nat_instances(
        self,
        name: str,
        vpc: aws.ec2.Vpc,
        subnets: Sequence[aws.ec2.Subnet],
        network: NetworkArgs,
        *,
        internet_route: aws.ec2.Route,
        instance_tags: Mapping[str, str],
    ) -> list[aws.ec2.NetworkInterface]:
        """One NAT instance per subnet; returns the ENIs the private routes point at.

        The ENI is its own resource (source/destination check off, the Elastic IP on it) so the routes and
        the address survive replacing the instance. The AMI is resolved from AWS's public SSM parameter at
        launch, so each replacement gets the current AL2023 with its security fixes.
        """
        child = pulumi.ResourceOptions(parent=self)
        group = aws.ec2.SecurityGroup(
            f"{name}-nat-sg",
            vpc_id=vpc.id,
            description="NAT instances: any traffic from inside the VPC out to the internet, nothing in",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="forwarded traffic from the VPC",
                    protocol="-1",
                    from_port=0,
                    to_port=0,
                    cidr_blocks=[network.vpc_cidr],
                )
            ],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    description="to the internet (what NAT is for)",
                    protocol="-1",
                    from_port=0,
                    to_port=0,
                    cidr_blocks=["0.0.0.0/0"],
                )
            ],
            tags={"Name": f"{name}-nat"},
            opts=child,
        )
        interfaces = []
        for i, subnet in enumerate(subnets):
            n = f"{name}-nat-{i + 1}"
            eni = aws.ec2.NetworkInterface(
                f"{n}-eni",
                subnet_id=subnet.id,
                security_groups=[group.id],
                source_dest_check=False,
                description=f"{n}: the NAT instance's interface, target of the private default routes",
                tags={"Name": n},
                opts=child,
            )
            address = aws.ec2.Eip(
                f"{n}-eip", domain="vpc", network_interface=eni.id, tags={"Name": n}, opts=child
            )
            template = aws.ec2.LaunchTemplate(
                f"{n}-lt",
                description="NAT instance: IMDSv2 only, encrypted root volume, no SSH key",
                image_id=f"resolve:ssm:{NAT_INSTANCE_AMI_PARAMETER}",
                instance_type=NAT_INSTANCE_TYPE,
                metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                    http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
                ),
                block_device_mappings=[
                    aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                        device_name=ROOT_DEVICE,
                        ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                            volume_size=NAT_INSTANCE_DISK_GIB,
                            volume_type="gp3",
                            encrypted="true",
                            delete_on_termination="true",
                        ),
                    )
                ],
                network_interfaces=[
                    aws.ec2.LaunchTemplateNetworkInterfaceArgs(device_index=0, network_interface_id=eni.id)
                ],
                user_data=base64.b64encode(NAT_INSTANCE_USER_DATA.encode()).decode(),
                # Default tags stop at the template; its interface is our own resource and tagged already.
                tag_specifications=[
                    aws.ec2.LaunchTemplateTagSpecificationArgs(
                        resource_type=kind, tags={**instance_tags, "Name": n}
                    )
                    for kind in ("instance", "volume")
                ],
                update_default_version=True,
                opts=child,
            )
            aws.ec2.Instance(
                n,
                launch_template=aws.ec2.InstanceLaunchTemplateArgs(
                    id=template.id, version=template.latest_version.apply(str)
                ),
                tags={"Name": n},
                opts=pulumi.ResourceOptions(
                    parent=self,
                    # Its boot script installs packages: the subnet must reach the internet, and the
                    # interface must have its public address, first.
                    depends_on=[internet_route, address],
                    # The interface is attached at device 0 and can belong to one instance only: a new
                    # template version replaces the instance, and the old one must let go of it first.
                    delete_before_replace=True,
                ),
            )
            interfaces.append(eni)
        return interfaces

    # --- control plane -----------------------------------------------------------------------------------

    def _secrets_key(self, name: str, args: EksClusterArgs) -> aws.kms.Key:
        return aws.kms.Key(
            f"{name}-secrets-key",
            description=f"Envelope encryption of Kubernetes Secrets in EKS cluster {args.name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )

    def _control_plane(
        self,
        name: str,
        args: EksClusterArgs,
        network: _Network,
        secrets_key: aws.kms.Key | None,
        log_group: aws.cloudwatch.LogGroup,
    ) -> eks.Cluster:
        settings = args.control_plane
        return eks.Cluster(
            f"{name}-eks",
            eks.ClusterArgs(
                name=args.name,
                version=settings.kubernetes_version,
                vpc_id=network.vpc.id,
                public_subnet_ids=[s.id for s in network.public_subnets],
                private_subnet_ids=[s.id for s in network.private_subnets],
                node_associate_public_ip_address=False,
                endpoint_private_access=settings.endpoint_private_access,
                endpoint_public_access=settings.endpoint_public_access,
                public_access_cidrs=list(settings.public_access_cidrs)
                if settings.endpoint_public_access
                else None,
                enabled_cluster_log_types=list(settings.log_types),
                encryption_config_key_arn=secrets_key.arn if secrets_key is not None else None,
                authentication_mode=eks.AuthenticationMode.API,
                access_entries=admin_access_entries(list(settings.admin_principal_arns)),
                upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type=settings.upgrade_policy),
                deletion_protection=args.protect,
                # Our managed node groups below replace pulumi-eks's self-managed default group.
                skip_default_node_group=True,
                # Managed nodes use the security group EKS creates; pulumi-eks's pair is for its own nodes.
                skip_default_security_groups=True,
                # Pods reach AWS through Pod Identity, which needs no IAM OIDC provider.
                create_oidc_provider=False,
                # pulumi-eks would install CoreDNS before our node groups exist; the add-on then stays
                # DEGRADED and `pulumi up` times out (pulumi/pulumi-eks#1819). We add it after the nodes.
                coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=False),
                # pulumi-eks would also install vpc-cni (with its own env defaults, DEBUG logging) and
                # kube-proxy at their newest versions. We declare both ourselves, pinned, so the cluster has
                # one CNI configuration: `useDefaultVpcCni` leaves EKS's bootstrap copy for ours to adopt.
                use_default_vpc_cni=True,
                kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(enabled=False),
            ),
            # EKS would create the log group itself, without retention, if it did not exist yet.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group]),
        )

    # --- nodes -------------------------------------------------------------------------------------------

    def _node_role(self, name: str) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
        role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ec2.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            description="EKS nodes: join the cluster, pull images, run the VPC CNI. No app permissions.",
            opts=pulumi.ResourceOptions(parent=self),
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-role-{arn.rsplit('/', 1)[-1]}",
                role=role.name,
                policy_arn=arn,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for arn in NODE_ROLE_POLICY_ARNS
        ]
        return role, attachments

    def _node_group(
        self,
        name: str,
        plan: NodeGroupPlan,
        *,
        cluster_name: pulumi.Output[str],
        node_role: aws.iam.Role,
        depends_on: Sequence[pulumi.Resource],
        network: _Network,
        instance_tags: Mapping[str, str],
    ) -> aws.eks.NodeGroup:
        tags = {**instance_tags, "Name": f"{name}-{plan.role}"}
        template = aws.ec2.LaunchTemplate(
            f"{name}-{plan.role}-lt",
            description=f"EKS managed node group {plan.role}: IMDSv2 only, encrypted root volume, no SSH key",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                # 1 keeps pods (one network hop further) away from the node's credentials.
                http_put_response_hop_limit=1,
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=ROOT_DEVICE,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=plan.disk_size_gib,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                for kind in ("instance", "volume", "network-interface")
            ],
            user_data=base64.b64encode(node_user_data(plan).encode()).decode(),
            update_default_version=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return aws.eks.NodeGroup(
            f"{name}-{plan.role}",
            cluster_name=cluster_name,
            node_role_arn=node_role.arn,
            subnet_ids=[s.id for s in network.private_subnets],
            instance_types=list(plan.instance_types),
            capacity_type=plan.capacity_type,
            ami_type=plan.ami_type,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=plan.min_size, desired_size=plan.desired_size, max_size=plan.max_size
            ),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            labels=dict(plan.labels),
            taints=[
                aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value, effect=t.effect) for t in plan.taints
            ],
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            node_repair_config=aws.eks.NodeGroupNodeRepairConfigArgs(enabled=True),
            opts=pulumi.ResourceOptions(
                parent=self,
                # Without its policies a node never joins, and deleting them first strands the group;
                # without the pod network (prefix delegation on) it joins with too few pod addresses.
                depends_on=list(depends_on),
                # An autoscaler owns the current size once the group exists.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )

    # --- add-ons and storage -----------------------------------------------------------------------------

    def _autoscaling_group_tags(self, name: str, plan: NodeGroupPlan, group: aws.eks.NodeGroup) -> None:
        asg_name = group.resources.apply(_autoscaling_group_name)
        for key, value in autoscaler_group_tags(plan).items():
            aws.autoscaling.Tag(
                f"{name}-{plan.role}-asg-{key.rsplit('/', 1)[-1].replace('.', '-')}",
                autoscaling_group_name=asg_name,
                # The group's instances get EKS's own tags; these are for the autoscaler only.
                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                opts=pulumi.ResourceOptions(parent=self),
            )

    def _node_network_addons(
        self, name: str, cluster_name: pulumi.Output[str], version: str
    ) -> list[aws.eks.Addon]:
        """vpc-cni (network policy on, prefix delegation) and kube-proxy: DaemonSets, fine without nodes."""
        child = pulumi.ResourceOptions(parent=self)
        return [
            self._addon(
                f"{name}-vpc-cni",
                "vpc-cni",
                cluster_name=cluster_name,
                version=version,
                opts=child,
                configuration_values=vpc_cni_configuration(),
            ),
            self._addon(
                f"{name}-kube-proxy", "kube-proxy", cluster_name=cluster_name, version=version, opts=child
            ),
        ]

    def _addon(
        self,
        resource_name: str,
        addon: str,
        *,
        cluster_name: pulumi.Output[str],
        version: str,
        opts: pulumi.ResourceOptions,
        configuration_values: str | None = None,
        pod_identity_associations: Sequence[aws.eks.AddonPodIdentityAssociationArgs] | None = None,
    ) -> aws.eks.Addon:
        """An EKS managed add-on at the version pinned for this Kubernetes version; ours wins conflicts."""
        return aws.eks.Addon(
            resource_name,
            cluster_name=cluster_name,
            addon_name=addon,
            addon_version=eks_addon_version(addon, version),
            configuration_values=configuration_values,
            pod_identity_associations=pod_identity_associations,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=opts,
        )

    def _addons(
        self,
        name: str,
        cluster_name: pulumi.Output[str],
        version: str,
        node_groups: Sequence[aws.eks.NodeGroup],
    ) -> aws.eks.Addon:
        """Add-ons that run as Deployments; returns the Pod Identity agent, which workloads' roles need."""
        # Deployments need nodes: EKS reports them degraded (and Pulumi waits) until nodes exist.
        after_nodes = pulumi.ResourceOptions(parent=self, depends_on=list(node_groups))
        self._addon(
            f"{name}-coredns", "coredns", cluster_name=cluster_name, version=version, opts=after_nodes
        )
        agent = self._addon(
            f"{name}-pod-identity-agent",
            "eks-pod-identity-agent",
            cluster_name=cluster_name,
            version=version,
            opts=after_nodes,
        )
        # PersistentVolumes on EKS need the EBS CSI driver; its controller gets its own Pod Identity role.
        csi_role = aws.iam.Role(
            f"{name}-ebs-csi-role",
            assume_role_policy=json.dumps(pod_identity_trust_policy()),
            description="EBS CSI controller (kube-system/ebs-csi-controller-sa) via EKS Pod Identity",
            opts=pulumi.ResourceOptions(parent=self),
        )
        csi_policy = aws.iam.RolePolicyAttachment(
            f"{name}-ebs-csi-policy",
            role=csi_role.name,
            policy_arn=EBS_CSI_POLICY_ARN,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._addon(
            f"{name}-ebs-csi-driver",
            "aws-ebs-csi-driver",
            cluster_name=cluster_name,
            version=version,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*node_groups, agent, csi_policy]),
            pod_identity_associations=[
                aws.eks.AddonPodIdentityAssociationArgs(
                    role_arn=csi_role.arn, service_account="ebs-csi-controller-sa"
                )
            ],
        )
        return agent

    def _controllers(
        self,
        name: str,
        args: EksClusterArgs,
        cluster_name: pulumi.Output[str],
        after: Sequence[pulumi.Resource],
    ) -> None:
        """Cluster Autoscaler and metrics-server (system nodes); with a GPU group, the device plugin."""
        on_cluster = pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.provider})
        MetricsServer(
            f"{name}-metrics-server",
            # EKS kubelets' serving certificates are signed by the cluster CA: verified, never skipped.
            MetricsServerArgs(kubelet_insecure_tls=False, node_selector={NODE_ROLE_LABEL: "system"}),
            opts=pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=list(after))),
        )
        if args.autoscaler is not None:
            ClusterAutoscaler(
                f"{name}-autoscaler",
                ClusterAutoscalerArgs(
                    cluster_name=args.name,
                    cluster=cluster_name,
                    region=args.region,
                    node_selector={NODE_ROLE_LABEL: "system"},
                    scale_down_unneeded_minutes=args.autoscaler.scale_down_unneeded_minutes,
                    scale_down_utilization_threshold=args.autoscaler.scale_down_utilization_threshold,
                    expander=args.autoscaler.expander,
                ),
                # It needs nodes to run on and the Pod Identity agent to get its credentials.
                opts=pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=list(after))),
            )
        if args.node_groups.gpu is not None:
            NvidiaDevicePlugin(f"{name}-nvidia-device-plugin", NvidiaDevicePluginArgs(), opts=on_cluster)

    def _default_storage_class(self, name: str, protect: bool) -> None:
        """Encrypted gp3 as the default class: EKS 1.30+ clusters have no default StorageClass."""
        k8s.storage.v1.StorageClass(
            f"{name}-gp3",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="gp3", annotations={"storageclass.kubernetes.io/is-default-class": "true"}
            ),
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true"},
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            # In protected stacks a deleted claim leaves its volume (and data) behind for recovery.
            reclaim_policy="Retain" if protect else "Delete",
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider),
        )
