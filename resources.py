"""The one container-resources type: CPU and memory requests and limits (and an ephemeral-storage limit).

Top-level so that `components/` (our pod specs) and `monitoring/helm_values.py` (chart values; `monitoring/`
must not import `components/`) share it. `manifest()` is the `resources:` block of a container.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti)?$")


@dataclass(frozen=True)
class Resources:
    """Requests and limits of one container, as Kubernetes quantities."""

    cpu_request: str
    """e.g. 250m."""
    memory_request: str
    """e.g. 768Mi."""
    cpu_limit: str
    """e.g. 1."""
    memory_limit: str
    """e.g. 2Gi."""
    ephemeral_storage_limit: str | None = "1Gi"
    """Scratch space (logs, emptyDirs not in memory); None leaves it to the chart or the cluster default."""

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value is not None and not _QUANTITY.match(value):
                raise ValueError(f"{name} must be a Kubernetes quantity like '100m' or '256Mi': {value!r}")

    def manifest(self) -> dict[str, Any]:
        limits = {"cpu": self.cpu_limit, "memory": self.memory_limit}
        if self.ephemeral_storage_limit is not None:
            limits["ephemeral-storage"] = self.ephemeral_storage_limit
        return {"requests": {"cpu": self.cpu_request, "memory": self.memory_request}, "limits": limits}
