"""What a pipeline step gets from the cluster: one Secret in the Kubeflow namespace, as environment.

The platform (components/kubeflow.py) writes this Secret; the pipeline (pipelines/pipeline.py) mounts its
keys into every step as environment variables. Steps find MLflow, its credentials and the Pushgateway
there, so no URL or password is a pipeline parameter and none is compiled into the pipeline YAML.
"""

from typing import Final

from pipelines.env import PUSHGATEWAY_URL

SECRET_NAME: Final = "mlflow-tracking"

# Every stack: MLflow and the Pushgateway.
REQUIRED_KEYS: Final = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    PUSHGATEWAY_URL.name,
)
# Only the local stack (MinIO instead of S3 with Pod Identity): static S3 credentials and endpoint.
MINIO_KEYS: Final = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ENDPOINT_URL_S3",
    "MLFLOW_S3_ENDPOINT_URL",
)
