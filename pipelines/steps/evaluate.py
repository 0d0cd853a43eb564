"""Evaluate: the candidate against the configured thresholds and against the current champion.

Both models are scored on the same held-out evaluation set (DVC-versioned, disjoint by content hash from
every row the candidate trained on), and the champion is re-scored on it before every comparison, so the
comparison is fair even when the champion was trained on other data or scored on an earlier version of the
set. The decision records which evaluation set (source and md5) it used and is a pure function of the two
score sets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pipelines.params import EvaluateParams
from pipelines.steps.train import TAG_EVAL_MD5, EvaluationSet, score
from pipelines.tracking import Tracking, alias_version, connect, with_retries

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ChampionScores:
    version: int
    metrics: dict[str, float]
    scored_on_md5: str = ""
    """The evaluation set md5 recorded when this version was registered ("" before held-out evaluation)."""

    def rescored_note(self, current_md5: str) -> str:
        """What the re-scoring line says about the evaluation set since the champion was registered."""
        if self.scored_on_md5 == current_md5:
            return f"champion v{self.version} re-scored on the same evaluation set it was registered with"
        if not self.scored_on_md5:
            return (
                f"champion v{self.version} was registered before held-out evaluation: re-scored on the "
                f"evaluation set (md5 {current_md5}), though its training rows were never checked against it"
            )
        before = self.scored_on_md5
        return (
            f"evaluation set changed since champion v{self.version} was registered (md5 {before} -> "
            f"{current_md5}): champion re-scored on the current set"
        )


@dataclass(frozen=True)
class Decision:
    candidate: dict[str, float]
    champion: ChampionScores | None
    failed_thresholds: dict[str, float]
    beats_champion: bool
    promote: bool
    reason: str
    evaluation: EvaluationSet | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Decision:
        champion = raw.get("champion")
        evaluation = raw.get("evaluation")
        return cls(
            candidate={k: float(v) for k, v in raw["candidate"].items()},
            champion=ChampionScores(
                int(champion["version"]), dict(champion["metrics"]), str(champion.get("scored_on_md5", ""))
            )
            if champion
            else None,
            failed_thresholds=dict(raw["failed_thresholds"]),
            beats_champion=bool(raw["beats_champion"]),
            promote=bool(raw["promote"]),
            reason=str(raw["reason"]),
            evaluation=EvaluationSet(**evaluation) if evaluation else None,
        )


def decide(
    candidate: dict[str, float],
    champion: ChampionScores | None,
    rules: EvaluateParams,
    evaluation: EvaluationSet | None = None,
) -> Decision:
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
    if evaluation is not None:
        reason += f" on evaluation set md5 {evaluation.md5[:8]}"
    return Decision(
        candidate=candidate,
        champion=champion,
        failed_thresholds=failed,
        beats_champion=beats,
        promote=not failed and beats,
        reason=reason,
        evaluation=evaluation,
    )


def champion_scores(
    tracking: Tracking, model_name: str, alias: str, test: pd.DataFrame
) -> ChampionScores | None:
    """Re-score the model the alias points at on `test`, or None when there is no such model or alias yet."""
    import mlflow

    client = connect(tracking)

    version = alias_version(client, model_name, alias, tracking)
    if version is None:
        return None
    tags = with_retries(
        lambda: client.get_model_version(model_name, str(version)).tags,
        f"reading {model_name} version {version}",
        tracking,
    )
    model = with_retries(
        lambda: mlflow.sklearn.load_model(f"models:/{model_name}/{version}"),
        f"loading {model_name} version {version}",
        tracking,
    )
    return ChampionScores(
        version=version, metrics=score(model, test), scored_on_md5=str(tags.get(TAG_EVAL_MD5, ""))
    )


def evaluate(
    candidate_model: Any,
    test: pd.DataFrame,
    champion: ChampionScores | None,
    rules: EvaluateParams,
    evaluation: EvaluationSet | None = None,
) -> Decision:
    return decide(score(candidate_model, test), champion, rules, evaluation)
