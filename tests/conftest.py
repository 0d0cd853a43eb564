"""Shared fixtures. The recording-mock harness lives in tests/support/pulumi_mocks.py."""
