"""Draw docs/architecture.png (diagram as code, with the `diagrams` package and Graphviz).

    .venv/bin/python docs/architecture.py        # needs Graphviz's `dot` (Debian package graphviz)

The boxes follow the components in `components/` and the training flow in `pipelines/`; when one is
added or renamed, change it here too and re-run.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

from diagrams import Cluster, Diagram, Edge
from diagrams.aws.compute import ECR, EKS
from diagrams.aws.database import RDSPostgresqlInstance
from diagrams.aws.management import Cloudwatch
from diagrams.aws.network import NATGateway
from diagrams.aws.security import KMS, IAMRole
from diagrams.aws.storage import S3
from diagrams.onprem.ci import GithubActions
from diagrams.onprem.client import Users
from diagrams.onprem.mlops import Mlflow
from diagrams.onprem.monitoring import Grafana, Prometheus
from diagrams.onprem.network import Internet
from diagrams.onprem.storage import Ceph
from diagrams.onprem.workflow import Kubeflow
from diagrams.programming.flowchart import Action
from diagrams.saas.chat import Slack

OUTPUT = Path(__file__).resolve().parent / "architecture"

GRAPH = {"fontsize": "22", "bgcolor": "white", "pad": "0.8", "nodesep": "0.5", "ranksep": "0.9"}


def draw(output: Path = OUTPUT) -> Path:
    with Diagram(
        "mlops-infra: one Pulumi program, three stacks",
        filename=str(output),
        outformat="png",
        show=False,
        direction="LR",
        graph_attr=GRAPH,
    ):
        users = Users("data scientists\n(dvc push, KFP UI, MLflow UI)")
        ci = GithubActions("GitHub Actions\n(preview on PR, up on merge,\nprod behind reviewers)")
        oncall = Slack("Slack / e-mail /\nwebhook receivers")

        with Cluster("AWS account (dev / prod stacks)"):
            deploy_role = IAMRole("OIDC deploy role\n(no long-lived keys)")
            registry = ECR("ECR: pipeline steps,\nMLflow server images")
            dvc_bucket = S3("DVC remote + MLflow artifacts\n(versioned, KMS, TLS-only)")
            database = RDSPostgresqlInstance("RDS PostgreSQL\n(prod: Multi-AZ, 14 d backups)")
            keys = KMS("KMS keys\n(S3, Secrets, RDS)")
            logs = Cloudwatch("control-plane logs")

            with Cluster("VPC: private subnets per AZ"):
                nat = NATGateway("NAT (dev: 1, prod: per AZ)")
                with Cluster("EKS (Pod Identity, IMDSv2, private nodes)"):
                    eks = EKS("EksCluster")
                    with Cluster("namespace mlflow"):
                        mlflow = Mlflow("MlflowServer\n(basic auth)")
                    with Cluster("namespace kubeflow"):
                        kfp = Kubeflow("KubeflowPipelines")
                        with Cluster("training flow"):
                            steps = [
                                Action(stage)
                                for stage in ("Ingest", "Validate", "Train", "Evaluate", "Register", "Drift")
                            ]
                    with Cluster("namespace monitoring"):
                        pushgateway = Prometheus("Pushgateway")
                        prometheus = Prometheus("Prometheus +\nAlertmanager")
                        grafana = Grafana("Grafana\n(dashboards as code)")
                    minio = Ceph("MinIO\n(local stack only)")

        ci >> Edge(label="assume role") >> deploy_role >> Edge(label="pulumi up") >> eks
        ci >> Edge(label="push images") >> registry
        users >> Edge(label="dvc push / pull") >> dvc_bucket
        users >> kfp
        for earlier, later in itertools.pairwise(steps):
            earlier >> later
        kfp >> steps[0]
        steps[4] >> Edge(label="register, alias champion\n(as user mlops-pipelines)") >> mlflow
        steps[0] >> Edge(label="pull data", style="dashed") >> dvc_bucket
        mlflow >> Edge(label="artifacts") >> dvc_bucket
        mlflow >> Edge(label="backend store (prod)") >> database
        steps[5] >> Edge(label="stage outcomes,\ndrift metrics") >> pushgateway
        pushgateway >> prometheus >> grafana
        prometheus >> Edge(label="alerts") >> oncall
        keys >> Edge(style="dotted") >> [dvc_bucket, database]
        eks >> Edge(style="dotted") >> logs
        eks >> nat >> Internet("internet")
        minio << Edge(style="dotted", label="local: S3 API") << mlflow
    return output.with_suffix(".png")


if __name__ == "__main__":
    path = draw(Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT)
    print(f"wrote {path}")
