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

cluster-autoscaler and the NVIDIA device plugin are not here: the program installs them as Helm releases,
so their pods come from the releases' upstream facts like every other chart's.
"""

from __future__ import annotations

from capacity.workloads import Container, Toleration, Workload

ALL_TAINTS = (Toleration(operator="Exists"),)
CRITICAL_ADDONS = (
    Toleration("CriticalAddonsOnly", "Exists"),
    Toleration(operator="Exists", effect="NoExecute"),
)


def _c(name: str, cpu: int, memory: int = 0, *, init: bool = False) -> Container:
    return Container(name, cpu, memory, init=init)


def eks_addons() -> list[Workload]:
    """The pods of the EKS add-ons every cluster of ours runs."""
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
    return addons
