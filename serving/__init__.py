"""The model server: MLServer with a runtime that serves the registry's champion, captures what it sees,
and checks drift on that captured traffic.

- `python -m serving serve`: the server (HTTP 8080, metrics 8082), configured from `MLOPS_*` variables
  (serving/config.py); the same command runs on a laptop (`make serve`) and in the cluster.
- `python -m serving live-drift`: the drift check on a window of captured traffic (a CronJob in the cluster).
- `serving.local.serve_locally`, `serving.traffic.send_frame`, `serving.live_drift.check_live_drift`: the
  Python API the demo, the closed loop and the screencast use.
"""
