"""The training flow's steps as plain functions: no KFP, no DVC stage logic, callable from a unit test."""
