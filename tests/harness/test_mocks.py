"""The offline harness itself: what it records, and that it refuses to guess."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

import pytest

from harness.mocks import Record, UnmockedInvokeError, load_stack_config, recorded_run, run_program

PROGRAM = """
import pulumi
import pulumi_aws as aws

provider = aws.Provider("aws", region="us-east-1", default_tags={"tags": {"project": "p"}})
key = aws.kms.Key(
    "key",
    enable_key_rotation=True,
    opts=pulumi.ResourceOptions(provider=provider, protect=True, retain_on_delete=True),
)
bucket = aws.s3.Bucket("bucket", opts=pulumi.ResourceOptions(provider=provider, depends_on=[key]))
pulumi.export("bucket_arn", bucket.arn)
pulumi.export("key_arn", pulumi.Output.secret(key.arn))
"""

ALIASED = """
import pulumi


class Renamed(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        opts = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_="test:index:Old")])
        super().__init__("test:index:New", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        pulumi.ComponentResource("test:index:Child", f"{name}-child", None, child)


Renamed("thing")
"""

UNMOCKED = """
import pulumi_aws as aws
aws.ec2.get_ami(most_recent=True, owners=["amazon"])
"""


def _write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "program.py"
    path.write_text(source)
    return path


def test_records_inputs_options_parent_provider_and_exports(tmp_path: Path) -> None:
    record = run_program("dev", {}, program_file=_write(tmp_path, PROGRAM))

    key = record.one("aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    assert (key.protect, key.retain_on_delete) == (True, True)
    assert key.outputs["arn"].startswith("arn:aws:kms:us-east-1:123456789012:key/")

    bucket = record.one("aws:s3/bucket:Bucket")
    assert (bucket.protect, bucket.retain_on_delete) == (False, False)
    assert key.urn in bucket.dependencies
    provider = record.one("pulumi:providers:aws")
    assert bucket.provider.startswith(provider.urn)

    assert record.exports["bucket_arn"] == bucket.outputs["arn"]
    assert record.secret_exports == {"key_arn"}


def test_records_the_aliases_a_resource_declares(tmp_path: Path) -> None:
    record = run_program("dev", {}, program_file=_write(tmp_path, ALIASED))
    assert record.one("test:index:New", "thing").aliases == [{"spec": {"type": "test:index:Old"}}]
    # A child declares none: the engine derives its former URN from its parent's alias.
    assert record.one("test:index:Child", "thing-child").aliases == []


def test_an_unmocked_invoke_fails_the_run(tmp_path: Path) -> None:
    with pytest.raises(UnmockedInvokeError, match="unmocked invoke aws:ec2/getAmi:getAmi"):
        run_program("dev", {}, program_file=_write(tmp_path, UNMOCKED))


def test_stack_file_secure_values_are_handed_over_as_secrets(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.x.yaml"
    stack_file.write_text(
        "config:\n  mlops-infra:target: aws\n  mlops-infra:network:\n    availabilityZones: 2\n"
        "  mlops-infra:alertWebhookUrl:\n    secure: AAABAKx\n"
    )
    config, secret_keys = load_stack_config("x", stack_file)
    assert secret_keys == ["mlops-infra:alertWebhookUrl"]
    assert config["mlops-infra:target"] == "aws"
    assert config["mlops-infra:network"] == '{"availabilityZones": 2}'
    assert config["mlops-infra:alertWebhookUrl"].startswith("https://")


def test_stack_files_that_differ_only_in_comments_share_one_run(tmp_path: Path) -> None:
    # The tests' copies of the stack files carry a header of their own: they must not cost a run each.
    body = "config:\n  mlops-infra:target: local\n  mlops-infra:cluster:\n    kubeContext: kind-mlops\n"
    first, commented, changed = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "c.yaml"
    first.write_text(body)
    commented.write_text("# a copy, with a comment\n" + body)
    changed.write_text(body.replace("kind-mlops", "k3d-mlops"))
    with patch("harness.mocks.run_program", side_effect=lambda stack, *_: Record(stack=stack)) as run:
        assert recorded_run("sharing", first) is recorded_run("sharing", commented)
        assert recorded_run("sharing", changed) is not recorded_run("sharing", first)
    assert run.call_count == 2
