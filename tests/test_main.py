"""Every taggable AWS resource carries project, stack and managed-by tags (the provider's default tags)."""

from __future__ import annotations

import json

import pytest

from harness.mocks import Record
from tests.support.stack_records import committed, provider_ref

AWS_STACKS = ("dev", "prod")


def _tagged_provider(record: Record) -> str:
    [provider] = record.of_type("pulumi:providers:aws")
    return provider_ref(provider)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_aws_provider_default_tags_name_project_stack_and_owner(stack: str) -> None:
    [provider] = committed(stack).of_type("pulumi:providers:aws")
    tags = json.loads(provider.inputs["defaultTags"])["tags"]
    assert tags == {
        "project": "mlops-infra",
        "stack": stack,
        "managed-by": "pulumi",
        "environment": stack,
        "cost-center": "ml-platform",
    }
    assert provider.inputs["region"] == "us-east-1"


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_aws_resource_uses_the_tagged_provider(stack: str) -> None:
    record = committed(stack)
    aws_resources = [r for r in record.resources if r.type.startswith("aws:")]
    assert len(aws_resources) > 30
    tagged = _tagged_provider(record)
    assert [r.name for r in aws_resources if r.provider != tagged] == []


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_node_instances_and_volumes_carry_the_default_tags(stack: str) -> None:
    """Default tags stop at the launch template; its instances get them from tag specifications."""
    record = committed(stack)
    [provider] = record.of_type("pulumi:providers:aws")
    default_tags = json.loads(provider.inputs["defaultTags"])["tags"]
    for template in record.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
        specs = {s["resourceType"]: s["tags"] for s in template.inputs["tagSpecifications"]}
        # A template that attaches an existing interface (the NAT instance's) creates none to tag.
        attaches = any("networkInterfaceId" in i for i in template.inputs.get("networkInterfaces", []))
        created = {"instance", "volume"} | (set() if attaches else {"network-interface"})
        assert set(specs) == created, template.name
        assert all(default_tags.items() <= tags.items() for tags in specs.values()), template.name


def test_pulumi_eks_component_gets_the_tagged_provider() -> None:
    """pulumi-eks is remote: what it creates is tagged only if its `providers` map holds our provider."""
    record = committed("dev")
    eks = record.one("eks:index:Cluster")
    assert eks.remote
    assert eks.providers["aws"] == _tagged_provider(record)
