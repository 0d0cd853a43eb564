"""What the pinned Kubeflow Pipelines backend understands of our compiled pipeline, as committed data.

The SDK (kfp 2.17.3, kfp-kubernetes) can compile features an older backend silently ignores: a
Kubernetes platform-spec field the driver never reads is simply not applied (a Secret not mounted, a
toleration missing). `kfp_backend_support.json` lists, for the backend at `KUBEFLOW_PIPELINES_VERSIONS`,
which `KubernetesExecutorConfig` fields its driver and Argo compiler read, and which task trigger
strategies (the exit handler's) its Argo compiler handles. The tests check the compiled YAML against it.

Derived from a kubeflow/pipelines checkout at the tag, never copied by hand:

    git -C <kfp repo> archive 2.17.0 kubernetes_platform/proto backend/src/v2 | tar -x -C /tmp/kfp-src
    python -m components.kfp_backend derive /tmp/kfp-src --version 2.17.0 \
        > components/kfp_backend_support.json

A field counts as read when the Go identifier of its generated accessor (`GetKeyToEnv()`) or struct field
(`.SecretNameParameter`) occurs in the non-test sources of those two packages. Identically named fields of
two messages are not told apart (`optional` of SecretAsEnv and of SecretAsVolume): the check catches a
field the backend has never heard of, not one it reads only for another message.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUPPORT_FILE = Path(__file__).with_name("kfp_backend_support.json")
PROTO_PATH = "kubernetes_platform/proto/kubernetes_executor_config.proto"
READER_DIRS = ("backend/src/v2/driver", "backend/src/v2/compiler/argocompiler")
ROOT_MESSAGE = "KubernetesExecutorConfig"
TRIGGER_STRATEGIES = ("ALL_UPSTREAM_TASKS_SUCCEEDED", "ALL_UPSTREAM_TASKS_COMPLETED")


@dataclass(frozen=True)
class ProtoField:
    name: str
    type: str


def _snake_to_camel(name: str, upper_first: bool) -> str:
    parts = name.split("_")
    head = parts[0].capitalize() if upper_first else parts[0]
    return head + "".join(p.capitalize() for p in parts[1:])


def parse_messages(proto: str) -> dict[str, list[ProtoField]]:
    """Message (dotted for nested ones, `Outer.Inner`) -> its fields, oneof members included."""
    text = re.sub(r"//[^\n]*", "", proto)
    messages: dict[str, list[ProtoField]] = {}
    stack: list[str | None] = []  # a message name, or None for a oneof/enum/other block
    field_re = re.compile(r"^\s*(?:repeated\s+|optional\s+)?(map\s*<[^>]*>|[\w.]+)\s+(\w+)\s*=\s*\d+")
    for raw in re.split(r"(\{|\}|;)", text):
        token = raw.strip()
        if token == "{":
            continue
        if token == "}":
            stack.pop()
            continue
        opened = re.match(r"^(message|oneof|enum|service)\s+(\w+)$", token.split("\n")[-1].strip())
        if opened:
            kind, name = opened.groups()
            if kind == "message":
                enclosing = [s for s in stack if s is not None]
                full = f"{enclosing[-1]}.{name}" if enclosing else name
                messages[full] = []
                stack.append(full)
            else:
                stack.append(None)
            continue
        enclosing = [s for s in stack if s is not None]
        match = field_re.match(token)
        if match and enclosing and (stack[-1] is not None or _in_oneof(stack)):
            messages[enclosing[-1]].append(ProtoField(name=match.group(2), type=match.group(1)))
    return messages


def _in_oneof(stack: Sequence[str | None]) -> bool:
    # A field directly inside `oneof { }` belongs to the enclosing message; enum values have no type.
    return len(stack) >= 2 and stack[-1] is None and stack[-2] is not None


def _resolve(type_name: str, scope: str, messages: Mapping[str, Any]) -> str | None:
    parts = scope.split(".")
    for depth in range(len(parts), -1, -1):
        candidate = ".".join([*parts[:depth], type_name])
        if candidate in messages:
            return candidate
    return None


def platform_paths(messages: Mapping[str, list[ProtoField]], root: str = ROOT_MESSAGE) -> dict[str, str]:
    """Dotted JSON path (`secretAsEnv.keyToEnv.envVar`) -> Go identifier, for every field under `root`.

    Fields of types from other packages (pipeline spec, protobuf) are leaves.
    """
    paths: dict[str, str] = {}

    def walk(message: str, prefix: str, seen: tuple[str, ...]) -> None:
        for f in messages[message]:
            path = f"{prefix}{_snake_to_camel(f.name, upper_first=False)}"
            paths[path] = _snake_to_camel(f.name, upper_first=True)
            child = _resolve(f.type, message, messages)
            if child is not None and child not in seen:
                walk(child, path + ".", (*seen, child))

    walk(root, "", (root,))
    return paths


def derive(
    proto: str, reader_sources: Mapping[str, str], version: str, *, reader_dirs: Sequence[str] = READER_DIRS
) -> dict[str, Any]:
    """The support data from the proto text and the Go sources that read it (path -> text)."""
    code = "\n".join(text for path, text in sorted(reader_sources.items()) if not path.endswith("_test.go"))
    paths = platform_paths(parse_messages(proto))
    read = {p for p, go in paths.items() if re.search(rf"\.(?:Get)?{go}\b", code)}
    return {
        "kfp_backend_version": version,
        "source": {
            "repository": "https://github.com/kubeflow/pipelines",
            "ref": version,
            "proto": PROTO_PATH,
            "readers": [f"{d}/*.go (non-test)" for d in reader_dirs],
            "command": "python -m components.kfp_backend derive <checkout> --version " + version,
        },
        "platform_fields_read": sorted(read),
        "platform_fields_ignored": sorted(set(paths) - read),
        "trigger_strategies_handled": [s for s in TRIGGER_STRATEGIES if f'"{s}"' in code],
    }


def load_support(path: Path = SUPPORT_FILE) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _paths_in(value: Any, prefix: str) -> Iterator[str]:
    if isinstance(value, list):
        for item in value:
            yield from _paths_in(item, prefix)
    elif isinstance(value, dict):
        for key, child in value.items():
            path = f"{prefix}{key}"
            yield path
            yield from _paths_in(child, path + ".")


def unsupported_platform_fields(
    compiled: Sequence[Mapping[str, Any]], support: Mapping[str, Any]
) -> list[str]:
    """`executor: path` for every platform-spec field of the compiled pipeline the backend does not read.

    Descends only into fields the data knows sub-fields of; a foreign-typed leaf (`secretNameParameter`, a
    pipeline-spec InputParameterSpec) is checked as a whole.
    """
    known = set(support["platform_fields_read"]) | set(support["platform_fields_ignored"])
    read = set(support["platform_fields_read"])
    problems: list[str] = []
    for document in compiled:
        executors = (
            document.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {}).get("executors")
        )
        for executor, config in (executors or {}).items():
            for path in _paths_in(config, ""):
                parent = path.rsplit(".", 1)[0] if "." in path else None
                if parent is not None and not any(k.startswith(parent + ".") for k in known):
                    continue  # inside a foreign-typed value
                if path not in read:
                    problems.append(f"{executor}: {path}")
    return sorted(set(problems))


def trigger_strategies_used(compiled: Sequence[Mapping[str, Any]]) -> set[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            strategy = value.get("triggerPolicy", {}).get("strategy") if "triggerPolicy" in value else None
            if strategy:
                found.add(strategy)
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for document in compiled:
        walk(document)
    return found


def _read_checkout(root: Path, reader_dirs: Sequence[str] = READER_DIRS) -> tuple[str, dict[str, str]]:
    proto = (root / PROTO_PATH).read_text(encoding="utf-8")
    sources: dict[str, str] = {}
    for directory in reader_dirs:
        for path in sorted((root / directory).glob("*.go")):
            sources[str(path.relative_to(root))] = path.read_text(encoding="utf-8")
    if not sources:
        raise SystemExit(
            f"{root}: no Go sources under {', '.join(reader_dirs)} (a kubeflow/pipelines checkout?)"
        )
    return proto, sources


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m components.kfp_backend", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    derive_cmd = commands.add_parser("derive", help="print the support data of a kubeflow/pipelines checkout")
    derive_cmd.add_argument("checkout", type=Path, help="a kubeflow/pipelines tree at the release tag")
    derive_cmd.add_argument("--version", required=True, help="the tag the tree is at, e.g. 2.17.0")
    args = parser.parse_args(argv)
    proto, sources = _read_checkout(args.checkout)
    json.dump(derive(proto, sources, args.version), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
