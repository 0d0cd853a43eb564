"""Evaluate: the candidate against the configured thresholds and against the current champion.

Both models are scored on the same held-out split, so the comparison is fair even when the champion
was trained on other data. The decision is a pure function of the two score sets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pipelines.params import EvaluateParams
from pipelines.steps.train import score
from pipelines.tracking import Tracking, alias_version, connect, with_retries

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ChampionScores:
    version: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class Decision:
    candidate: dict[str, float]
    champion: ChampionScores | None
    failed_thresholds: dict[str, float]
    beats_champion: bool
    promote: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Decision:
        champion = raw.get("champion")
        return cls(
            candidate={k: float(v) for k, v in raw["candidate"].items()},
            champion=ChampionScores(int(champion["version"]), dict(champion["metrics"]))
            if champion
            else None,
            failed_thresholds=dict(raw["failed_thresholds"]),
            beats_champion=bool(raw["beats_champion"]),
            promote=bool(raw["promote"]),
            reason=str(raw["reason"]),
        )


def decide(candidate: dict[str, float], champion: ChampionScores | None, rules: EvaluateParams) -> Decision:
    """Promote only if every threshold passes and the primary metric beats the champion by the margin."""
    failed = {m: candidate[m] for m, minimum in rules.thresholds.items() if candidate[m] < minimum}
    primary = rules.primary_metric
    if champion is None:
        beats = True
        comparison = "no champion yet"
    else:
        needed = champion.metrics[primary] + rules.min_improvement
        beats = candidate[primary] >= needed
        comparison = (
            f"{primary} {candidate[primary]:.4f} vs champion v{champion.version} "
            f"{champion.metrics[primary]:.4f} (+{rules.min_improvement:g} needed)"
        )
    if failed:
        below = ", ".join(f"{m} {v:.4f} < {rules.thresholds[m]:g}" for m, v in sorted(failed.items()))
        reason = f"below threshold: {below}"
    elif not beats:
        reason = f"not better than the champion: {comparison}"
    else:
        reason = f"passes thresholds; {comparison}"
    return Decision(
        candidate=candidate,
        champion=champion,
        failed_thresholds=failed,
        beats_champion=beats,
        promote=not failed and beats,
        reason=reason,
    )


def champion_scores(
    tracking: Tracking, model_name: str, alias: str, test: pd.DataFrame
) -> ChampionScores | None:
    """Score the model the alias points at, or None when there is no such model or alias yet."""
    import mlflow

    client = connect(tracking)

    version = alias_version(client, model_name, alias, tracking)
    if version is None:
        return None
    model = with_retries(
        lambda: mlflow.sklearn.load_model(f"models:/{model_name}/{version}"),
        f"loading {model_name} version {version}",
        tracking,
    )
    return ChampionScores(version=version, metrics=score(model, test))


def evaluate(
    candidate_model: Any, test: pd.DataFrame, champion: ChampionScores | None, rules: EvaluateParams
) -> Decision:
    return decide(score(candidate_model, test), champion, rules)
