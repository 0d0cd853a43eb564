"""The committed upstream facts: schema, determinism, and what the derivation records from an object."""

from __future__ import annotations

import json
from typing import Any

import pytest

from upstream.facts import (
    FACTS_DIR,
    from_json,
    load_facts,
    release_facts,
    to_json,
    workloads_of,
)
from upstream.facts import Source as FactsSource

STACKS = ("local", "dev", "prod")
# metrics-server: every stack runs it, so the model server's CPU HPA has `metrics.k8s.io` to read.
RELEASES = ("kube-prometheus-stack", "kubeflow-pipelines", "metrics-server", "pushgateway")


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_has_facts_for_each_upstream_part(stack: str) -> None:
    facts = load_facts(stack)
    assert set(facts) >= set(RELEASES)
    for release in facts.values():
        assert release.stack == stack and release.schema == 1
        assert release.derived_by == f"python -m upstream derive --stack {stack}"
        assert release.workloads and release.images


@pytest.mark.parametrize(
    "path", sorted(FACTS_DIR.glob("*/*.json")), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_committed_files_are_in_the_stable_form(path: Any) -> None:
    text = path.read_text()
    assert to_json(from_json(text, str(path))) == text
    assert text.endswith("}\n")


def test_unknown_or_missing_fields_are_schema_errors() -> None:
    text = (FACTS_DIR / "dev" / "pushgateway.json").read_text()
    document = json.loads(text)
    document["workloads"][0]["containers"][0]["cpu"] = "1"
    with pytest.raises(ValueError, match="not upstream facts schema 1"):
        from_json(json.dumps(document), "x.json")
    document = json.loads(text)
    del document["images"]
    with pytest.raises(ValueError, match="images"):
        from_json(json.dumps(document), "x.json")


def test_a_file_named_for_another_release_is_rejected(tmp_path: Any) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "other.json").write_text((FACTS_DIR / "dev" / "pushgateway.json").read_text())
    with pytest.raises(ValueError, match="holds release 'pushgateway'"):
        load_facts("dev", tmp_path)


def _daemonset() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {
                    "hostNetwork": True,
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "tolerations": [{"operator": "Exists"}],
                    "volumes": [{"name": "root", "hostPath": {"path": "/"}}, {"name": "tmp", "emptyDir": {}}],
                    "initContainers": [{"name": "setup", "image": "busybox:1.36"}],
                    "containers": [
                        {
                            "name": "agent",
                            "image": "example.org/agent:1.0@sha256:" + "a" * 64,
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "32Mi"},
                                "limits": {"memory": 64},
                            },
                            "ports": [{"containerPort": 9100, "hostPort": 9100}],
                            "env": [
                                {"name": "DB_PASSWORD", "value": "hunter2"},
                                {
                                    "name": "API_TOKEN",
                                    "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}},
                                },
                                {"name": "LOG_LEVEL", "value": "info"},
                            ],
                            "readinessProbe": {"httpGet": {"port": 9100}},
                        }
                    ],
                },
            }
        },
    }


def test_a_daemonset_is_recorded_per_node_with_what_the_checks_need() -> None:
    (workload,) = workloads_of([_daemonset()], "monitoring")
    assert (workload.kind, workload.namespace, workload.replicas, workload.per_node) == (
        "DaemonSet",
        "monitoring",
        1,
        True,
    )
    assert workload.pod.host_network and [v.type for v in workload.pod.volumes] == ["hostPath", "emptyDir"]
    assert workload.pod.labels == {"app": "agent"} and workload.node_selector == {"kubernetes.io/os": "linux"}
    init, main = workload.containers
    assert init.init and init.requests == {} and not main.init
    assert main.requests == {"cpu": "10m", "memory": "32Mi"} and main.limits == {"memory": "64"}
    assert main.env_literals == {"DB_PASSWORD": "hunter2"}
    assert main.ports == [9100] and main.host_ports == [9100]
    assert main.readiness_probe and not main.liveness_probe


def test_replicas_hooks_and_cronjobs() -> None:
    deployment = {"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 3, "template": {}}}
    hook_job = {
        "kind": "Job",
        "metadata": {"name": "j", "annotations": {"helm.sh/hook": "pre-install"}},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}},
    }
    cronjob = {
        "kind": "CronJob",
        "metadata": {"name": "c", "namespace": "ops"},
        "spec": {
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "k", "image": "y:2"}]}}}}
        },
    }
    d, j, c = workloads_of(
        [deployment, hook_job, cronjob, {"kind": "Service", "metadata": {"name": "s"}}], "ns"
    )
    assert (d.replicas, d.hook, j.hook, c.namespace, c.containers[0].image) == (3, False, True, "ops", "y:2")


def test_prometheus_operator_resources_become_the_statefulsets_it_creates() -> None:
    objects = [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "Prometheus",
            "metadata": {"name": "kps-prometheus", "namespace": "monitoring"},
            "spec": {
                "replicas": 2,
                "image": "quay.io/prometheus/prometheus:v3.5.0",
                "resources": {"requests": {"cpu": "200m", "memory": "1Gi"}},
                "securityContext": {"runAsNonRoot": True},
                "storage": {"volumeClaimTemplate": {}},
            },
        },
        {
            "kind": "Deployment",
            "metadata": {"name": "operator"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "operator",
                                "image": "op:1",
                                "args": [
                                    "--prometheus-config-reloader=quay.io/p/reloader:v1",
                                    "--config-reloader-cpu-request=10m",
                                    "--config-reloader-memory-request=0",
                                ],
                            }
                        ]
                    }
                }
            },
        },
    ]
    statefulset = next(w for w in workloads_of(objects, "default") if w.managed_by == "prometheus-operator")
    assert (statefulset.kind, statefulset.name, statefulset.replicas) == (
        "StatefulSet",
        "prometheus-kps-prometheus",
        2,
    )
    main, reloader = statefulset.containers
    assert main.requests == {"cpu": "200m", "memory": "1Gi"}
    assert reloader.image == "quay.io/p/reloader:v1" and reloader.requests == {"cpu": "10m"}
    assert statefulset.pod.security_context == {"runAsNonRoot": True}


def test_release_facts_count_kinds_and_list_crds_secrets_and_images_sorted() -> None:
    objects = [
        _daemonset(),
        {"kind": "CustomResourceDefinition", "metadata": {"name": "b.example.org"}},
        {"kind": "CustomResourceDefinition", "metadata": {"name": "a.example.org"}},
        {"kind": "Secret", "metadata": {"name": "s"}, "data": {"z": "eA=="}, "stringData": {"a": "x"}},
        {
            "kind": "Namespace",
            "metadata": {"name": "n", "labels": {"pod-security.kubernetes.io/enforce": "baseline"}},
        },
    ]
    facts = release_facts(
        stack="dev",
        release="r",
        source=FactsSource(kind="helm", name="c", version="1.0.0", location="https://charts.example.org"),
        objects=objects,
        default_namespace="monitoring",
    )
    assert facts.kinds == {"CustomResourceDefinition": 2, "DaemonSet": 1, "Namespace": 1, "Secret": 1}
    assert facts.crds == ["a.example.org", "b.example.org"]
    assert facts.images == ["busybox:1.36", "example.org/agent:1.0@sha256:" + "a" * 64]
    assert [(s.namespace, s.name, s.keys) for s in facts.secrets] == [("monitoring", "s", ["a", "z"])]
    assert "eA==" not in to_json(facts)
    assert facts.namespaces[0].labels["pod-security.kubernetes.io/enforce"] == "baseline"


def test_images_a_controller_launches_are_recorded_and_listed() -> None:
    """KFP's API server names the driver and launcher images its steps run; Argo's controller the executor."""
    controller = _daemonset()
    container = controller["spec"]["template"]["spec"]["containers"][0]
    container["env"] += [
        {"name": "V2_DRIVER_IMAGE", "value": "ghcr.io/kubeflow/kfp-driver:2.17.0"},
        {"name": "V2_LAUNCHER_IMAGE", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
    ]
    container["args"] = ["--executor-image", "quay.io/argoproj/argoexec:v4.0.5", "--namespaced"]
    container["command"] = ["operator", "--thanos-default-base-image=quay.io/thanos/thanos:v0.39.0"]
    (workload,) = workloads_of([controller], "kubeflow")
    main = workload.containers[1]
    assert main.launches == ["ghcr.io/kubeflow/kfp-driver:2.17.0", "quay.io/argoproj/argoexec:v4.0.5"]
    committed = load_facts("dev")["kubeflow-pipelines"].images
    assert {"ghcr.io/kubeflow/kfp-driver:2.17.0", "quay.io/argoproj/argoexec:v4.0.5"} <= set(committed)
