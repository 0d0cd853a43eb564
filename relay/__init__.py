"""The retraining relay: Alertmanager's webhook for confirmed live drift, which starts one training run."""
