"""The pods EKS and its add-ons run on every cluster, with their requests as their publishers ship them.

Our own data, derived from the add-ons' published charts and manifests (rendered with their default
values; the EKS managed add-ons are built from them):
- vpc-cni (`aws-node`): aws/eks-charts `stable/aws-vpc-cni` 1.22.4 (commit 5239609): init `aws-vpc-cni-init`
  25m, `aws-node` 25m, `aws-eks-nodeagent` (the network-policy agent) 25m; no memory requests;
  tolerates every taint.
- kube-proxy: the EKS `kube-proxy` add-on manifest (`eks/kube-proxy:v1.3x-eksbuild`): 100m CPU, no memory;
  tolerates every taint.
- eks-pod-identity-agent: aws/eks-pod-identity-agent `charts/eks-pod-identity-agent` 1.2.0 (commit d4dc0f3):
  no requests; tolerates every taint.
- aws-ebs-csi-driver: kubernetes-sigs/aws-ebs-csi-driver `charts/aws-ebs-csi-driver` 2.64.0 (commit 429e202):
  `ebs-csi-controller` 2 replicas of ebs-plugin, csi-provisioner, csi-attacher, csi-resizer (10m/40Mi each,
  sidecars inherit the controller's requests) and liveness-probe (10m/32Mi), tolerating only
  CriticalAddonsOnly and NoExecute; `ebs-csi-node` DaemonSet ebs-plugin 10m/40Mi, node-driver-registrar and
  liveness-probe 10m/32Mi each, tolerating every taint.
- coredns: the EKS `coredns` add-on (`eks/coredns:v1.11-eksbuild`): 2 replicas, 100m/70Mi, tolerating
  CriticalAddonsOnly and the control-plane taint (not the GPU taint).
- cluster-autoscaler and the NVIDIA device plugin: until the cluster's own Helm releases of them have facts
  files, the requests the cluster-autoscaler chart's values suggest (100m/300Mi, one replica) and the
  device plugin's (none: its chart sets no requests), the device plugin on GPU nodes only. A facts file
  declaring a workload of the same name replaces the entry here (`without_upstream`).
"""

from __future__ import annotations

from collections.abc import Iterable

from capacity.workloads import Container, Toleration, Workload

ALL_TAINTS = (Toleration(operator="Exists"),)
CRITICAL_ADDONS = (
    Toleration("CriticalAddonsOnly", "Exists"),
    Toleration(operator="Exists", effect="NoExecute"),
)


def _c(name: str, cpu: int, memory: int = 0, *, init: bool = False) -> Container:
    return Container(name, cpu, memory, init=init)


def eks_addons(*, autoscaler: bool, gpu_role_label: tuple[str, str] | None) -> list[Workload]:
    """The add-on pods of an EKS cluster; `gpu_role_label` is the node label of the GPU group, if any."""
    addons = [
        Workload(
            "eks-addon",
            "DaemonSet",
            "kube-system",
            "aws-node",
            1,
            (
                _c("aws-vpc-cni-init", 25, init=True),
                _c("aws-node", 25),
                _c("aws-eks-nodeagent", 25),
            ),
            per_node=True,
            tolerations=ALL_TAINTS,
            note="aws/eks-charts stable/aws-vpc-cni 1.22.4",
        ),
        Workload(
            "eks-addon",
            "DaemonSet",
            "kube-system",
            "kube-proxy",
            1,
            (_c("kube-proxy", 100),),
            per_node=True,
            tolerations=ALL_TAINTS,
            note="EKS kube-proxy add-on manifest",
        ),
        Workload(
            "eks-addon",
            "DaemonSet",
            "kube-system",
            "eks-pod-identity-agent",
            1,
            (_c("eks-pod-identity-agent-init", 0, init=True), _c("eks-pod-identity-agent", 0)),
            per_node=True,
            tolerations=ALL_TAINTS,
            note="aws/eks-pod-identity-agent chart 1.2.0",
        ),
        Workload(
            "eks-addon",
            "DaemonSet",
            "kube-system",
            "ebs-csi-node",
            1,
            (_c("ebs-plugin", 10, 40), _c("node-driver-registrar", 10, 32), _c("liveness-probe", 10, 32)),
            per_node=True,
            tolerations=ALL_TAINTS,
            note="kubernetes-sigs/aws-ebs-csi-driver chart 2.64.0",
        ),
        Workload(
            "eks-addon",
            "Deployment",
            "kube-system",
            "ebs-csi-controller",
            2,
            (
                _c("ebs-plugin", 10, 40),
                _c("csi-provisioner", 10, 40),
                _c("csi-attacher", 10, 40),
                _c("csi-resizer", 10, 40),
                _c("liveness-probe", 10, 32),
            ),
            tolerations=CRITICAL_ADDONS,
            note="kubernetes-sigs/aws-ebs-csi-driver chart 2.64.0",
        ),
        Workload(
            "eks-addon",
            "Deployment",
            "kube-system",
            "coredns",
            2,
            (_c("coredns", 100, 70),),
            tolerations=(
                Toleration("CriticalAddonsOnly", "Exists"),
                Toleration("node-role.kubernetes.io/control-plane", "Exists", effect="NoSchedule"),
            ),
            note="EKS coredns add-on manifest",
        ),
    ]
    if autoscaler:
        addons.append(
            Workload(
                "eks-addon",
                "Deployment",
                "kube-system",
                "cluster-autoscaler",
                1,
                (_c("cluster-autoscaler", 100, 300),),
                tolerations=CRITICAL_ADDONS,
                note="kubernetes/autoscaler chart cluster-autoscaler values (suggested requests)",
            )
        )
    if gpu_role_label is not None:
        key, value = gpu_role_label
        addons.append(
            Workload(
                "eks-addon",
                "DaemonSet",
                "kube-system",
                "nvidia-device-plugin",
                1,
                (_c("nvidia-device-plugin-ctr", 0),),
                per_node=True,
                node_selector={key: value},
                tolerations=ALL_TAINTS,
                note="NVIDIA/k8s-device-plugin chart (no requests)",
            )
        )
    return addons


def without_upstream(addons: Iterable[Workload], upstream: Iterable[Workload]) -> list[Workload]:
    """Drop the add-on entries a release's facts now describe (same name), so nothing counts twice."""
    names = {w.name for w in upstream}
    return [a for a in addons if a.name not in names]
