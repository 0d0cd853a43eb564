"""dev's NAT instance (`network.natType: instance`): what it is made of, and where it is refused."""

from __future__ import annotations

import base64

from components.eks_cluster import NAT_INSTANCE_AMI_PARAMETER, NAT_INSTANCE_TYPE
from harness.mocks import Recorded
from settings import SettingsError
from tests.support.stack_records import by_id, committed, depends_on
from tests.support.stacks import run_fixture

INSTANCE = "aws:ec2/instance:Instance"
ENI = "aws:ec2/networkInterface:NetworkInterface"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ROUTE = "aws:ec2/route:Route"


def _private_routes(stack: str) -> list[Recorded]:
    return [r for r in committed(stack).of_type(ROUTE) if "private" in r.name]


def test_dev_routes_private_subnets_through_its_nat_instance_interface() -> None:
    record = committed("dev")
    assert not record.of_type("aws:ec2/natGateway:NatGateway")
    [eni] = record.of_type(ENI)
    assert eni.inputs["sourceDestCheck"] is False
    public = {s.id for s in record.of_type("aws:ec2/subnet:Subnet") if "public" in s.name}
    assert eni.inputs["subnetId"] in public
    assert {r.inputs.get("networkInterfaceId") for r in _private_routes("dev")} == {eni.id}
    [address] = record.of_type("aws:ec2/eip:Eip")
    assert address.inputs["networkInterface"] == eni.id


def test_the_nat_instance_is_hardened_and_forwards() -> None:
    record = committed("dev")
    [instance] = record.of_type(INSTANCE)
    template = by_id(record, LAUNCH_TEMPLATE)[instance.inputs["launchTemplate"]["id"]].inputs
    assert template["instanceType"] == NAT_INSTANCE_TYPE
    assert template["imageId"] == f"resolve:ssm:{NAT_INSTANCE_AMI_PARAMETER}"
    assert template["metadataOptions"]["httpTokens"] == "required"
    [disk] = template["blockDeviceMappings"]
    assert disk["ebs"]["encrypted"] == "true"
    assert "keyName" not in template and "iamInstanceProfile" not in template
    script = base64.b64decode(template["userData"]).decode()
    assert "net.ipv4.ip_forward = 1" in script and "MASQUERADE" in script
    assert "dnf-automatic-install.timer" in script
    [public_route] = [r for r in record.of_type(ROUTE) if r.name.endswith("public-default-route")]
    assert depends_on(record, instance, public_route), "the boot script needs the internet route"
    [address] = record.of_type("aws:ec2/eip:Eip")
    assert depends_on(record, instance, address), "... and the public address on its interface"


def test_a_replaced_nat_instance_lets_go_of_its_interface_first() -> None:
    # Its launch template attaches the one interface the routes point at; create-before-delete would ask
    # AWS to attach an interface the old instance still holds, and fail.
    [instance] = committed("dev").of_type(INSTANCE)
    assert instance.delete_before_replace is True


def test_the_nat_security_group_admits_only_the_vpc() -> None:
    record = committed("dev")
    [group] = [g for g in record.of_type("aws:ec2/securityGroup:SecurityGroup") if g.name.endswith("nat-sg")]
    assert [rule["cidrBlocks"] for rule in group.inputs["ingress"]] == [["10.20.0.0/16"]]


def test_prod_keeps_managed_nat_gateways() -> None:
    assert not committed("prod").of_type(INSTANCE)
    assert all("natGatewayId" in r.inputs for r in _private_routes("prod"))


def test_production_refuses_a_nat_instance() -> None:
    record = run_fixture(
        "prod",
        set_values={
            "mlops-infra:network": {"vpcCidr": "10.30.0.0/16", "availabilityZones": 3, "natType": "instance"}
        },
        expect_error=True,
    )
    assert isinstance(record.error, SettingsError)
    assert "mlops-infra:network.natType = \"instance\": production stacks require 'gateway'" in str(
        record.error
    )
    assert not record.resources


def test_an_unknown_nat_type_is_named() -> None:
    record = run_fixture(
        "dev", set_values={"mlops-infra:network": {"natType": "endpoints"}}, expect_error=True
    )
    assert isinstance(record.error, SettingsError) and "natType" in str(record.error)
