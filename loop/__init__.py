"""The closed loop on a laptop: `make demo-loop` (loop/demo.py on the local stack of loop/stack.py)."""
