"""Run the Pulumi program without a cloud: recording mocks, the stack files, rendered manifests.

Tests use it to assert on what the program registers; users use `python -m harness` to review the
Kubernetes objects a stack would create before running `pulumi up`.
"""
