"""The compiled pipeline uses only what the pinned KFP backend reads (components/kfp_backend_support.json)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import yaml

from components.kfp_backend import (
    SUPPORT_FILE,
    derive,
    load_support,
    main,
    parse_messages,
    platform_paths,
    trigger_strategies_used,
    unsupported_platform_fields,
)
from pipelines.pipeline import COMPILED_PIPELINE
from versions import KUBEFLOW_PIPELINES_VERSIONS


@pytest.fixture(scope="module")
def compiled() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(COMPILED_PIPELINE.read_text(encoding="utf-8")))


def test_support_data_is_for_the_backend_we_install() -> None:
    support = load_support()
    assert support["kfp_backend_version"] == KUBEFLOW_PIPELINES_VERSIONS[-1]
    assert support["kfp_backend_version"] in KUBEFLOW_PIPELINES_VERSIONS
    assert support["source"]["ref"] == support["kfp_backend_version"]


def test_compiled_pipeline_uses_only_platform_fields_the_backend_reads(
    compiled: list[dict[str, Any]],
) -> None:
    support = load_support()
    assert unsupported_platform_fields(compiled, support) == []
    executors = compiled[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert all("secretAsEnv" in e for e in executors.values()), "use_secret_as_env is what we rely on"
    assert {"secretAsEnv.keyToEnv.envVar", "secretAsEnv.optional"} <= set(support["platform_fields_read"])


def test_exit_handler_strategy_is_handled_by_the_argo_compiler(compiled: list[dict[str, Any]]) -> None:
    used = trigger_strategies_used(compiled)
    assert "ALL_UPSTREAM_TASKS_COMPLETED" in used, "the exit handler compiles to this strategy"
    assert used <= set(load_support()["trigger_strategies_handled"])


def test_a_field_the_backend_ignores_or_never_heard_of_is_reported() -> None:
    support = load_support()
    assert "podAffinity" in support["platform_fields_ignored"], "2.17.0's driver never reads pod affinity"
    executor = {
        "secretAsEnv": [{"secretName": "s", "secretNameParameter": {"runtimeValue": {"constant": "s"}}}],
        "podAffinity": [{"topologyKey": "zone"}],
        "madeUpField": True,
    }
    doc = {"platforms": {"kubernetes": {"deploymentSpec": {"executors": {"exec-x": executor}}}}}
    assert unsupported_platform_fields([doc], support) == [
        "exec-x: madeUpField",
        "exec-x: podAffinity",
        "exec-x: podAffinity.topologyKey",
    ], "secretNameParameter's own fields belong to the pipeline spec and are not checked"


PROTO = """
syntax = "proto3";
import "pipeline_spec.proto";
// message Commented { string no = 1; }
message KubernetesExecutorConfig {
    repeated SecretAsEnv secret_as_env = 1;
    Affinity affinity = 2;
    ml_pipelines.TaskInputsSpec.InputParameterSpec name_parameter = 3;
}
message SecretAsEnv {
    message SecretKeyToEnvMap {
        string secret_key = 1;
    }
    repeated SecretKeyToEnvMap key_to_env = 1;
    optional bool optional = 2 [deprecated = true];
}
message Affinity {
    oneof choice {
        string json = 1;
        string name = 2;
    }
    map<string, string> labels = 3;
    enum Mode { A = 0; B = 1; }
}
"""


def test_proto_parsing_nested_messages_oneofs_maps_and_foreign_types() -> None:
    paths = platform_paths(parse_messages(PROTO))
    assert paths == {
        "secretAsEnv": "SecretAsEnv",
        "secretAsEnv.keyToEnv": "KeyToEnv",
        "secretAsEnv.keyToEnv.secretKey": "SecretKey",
        "secretAsEnv.optional": "Optional",
        "affinity": "Affinity",
        "affinity.json": "Json",
        "affinity.name": "Name",
        "affinity.labels": "Labels",
        "nameParameter": "NameParameter",
    }


def test_derive_counts_accessors_and_struct_fields_outside_tests() -> None:
    sources = {
        "backend/src/v2/driver/k8s.go": "for _, s := range cfg.GetSecretAsEnv() { k := s.GetKeyToEnv(); "
        'x := k.GetSecretKey(); o := s.Optional; if t.String() == "ALL_UPSTREAM_TASKS_COMPLETED" {} }',
        "backend/src/v2/driver/k8s_test.go": "cfg.GetAffinity()",
    }
    data = derive(PROTO, sources, "9.9.9")
    assert data["platform_fields_read"] == [
        "secretAsEnv",
        "secretAsEnv.keyToEnv",
        "secretAsEnv.keyToEnv.secretKey",
        "secretAsEnv.optional",
    ]
    assert "affinity" in data["platform_fields_ignored"], "a read in a test file does not count"
    assert data["trigger_strategies_handled"] == ["ALL_UPSTREAM_TASKS_COMPLETED"]
    assert data["kfp_backend_version"] == data["source"]["ref"] == "9.9.9"


@pytest.mark.upstream_checkout("KFP_SOURCE")
def test_committed_support_data_matches_a_fresh_derivation(capsys: pytest.CaptureFixture[str]) -> None:
    """KFP_SOURCE: a kubeflow/pipelines tree at the pinned tag (the GitHub `upstream` job clones one)."""
    version = load_support()["kfp_backend_version"]
    assert main(["derive", os.environ["KFP_SOURCE"], "--version", version]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(SUPPORT_FILE.read_text(encoding="utf-8"))
