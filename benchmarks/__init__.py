"""`make bench`: performance of the training flow (`python -m benchmarks`)."""
