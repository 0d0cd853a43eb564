"""Monthly AWS cost of a stack from its committed settings: `python -m cost_estimate --stack dev`."""
