"""`make test`'s pytest tiers in one process: checkov, unit, integration, slow, each with a header and a
one-line result with its time, so a person sees where a 15-minute run is and what is left.

Loaded with `-p tests.support.tiers --tier-progress=FIRST/TOTAL` (scripts/test-tiers.sh numbers the tiers it
runs before pytest, lint and typecheck). The suite is collected once and the items are ordered by tier,
keeping their order inside a tier; without `--tier-progress` the plugin changes nothing.

A test's tier comes from its markers: `checkov` (runs the checkov scanner), else `integration` (real local
services), else `slow`, else `unit`. A test marked both integration and slow counts as integration.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest

TIERS = ("checkov", "unit", "integration", "slow")
_MARKER_TIERS = ("checkov", "integration", "slow")  # first match wins
_OPTION = "--tier-progress"


def tier_of(markers: Iterable[str]) -> str:
    """The tier of a test with these marker names."""
    names = set(markers)
    return next((tier for tier in _MARKER_TIERS if tier in names), "unit")


def parse_progress(value: str) -> tuple[int, int]:
    """`3/6` -> (3, 6): the number of the first pytest tier and of all tiers `make test` runs."""
    first, slash, total = value.partition("/")
    if not (slash and first.isdigit() and total.isdigit()):
        raise pytest.UsageError(f"{_OPTION} expects FIRST/TOTAL, e.g. 3/6; got {value!r}")
    first_number, total_number = int(first), int(total)
    if first_number < 1 or first_number + len(TIERS) - 1 > total_number:
        raise pytest.UsageError(
            f"{_OPTION} {value}: the {len(TIERS)} pytest tiers ({', '.join(TIERS)}) "
            f"do not fit in {total_number}"
        )
    return first_number, total_number


def describe_outcomes(outcomes: Counter[str]) -> str:
    """`2 failed, 610 passed, 1 skipped` in a fixed order, nothing for outcomes that did not occur."""
    order = ("failed", "error", "passed", "skipped", "xfailed", "xpassed")
    return ", ".join(f"{outcomes[name]} {name}" for name in order if outcomes[name]) or "nothing ran"


@dataclass
class _Tier:
    number: int
    name: str
    nodeids: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    started: float | None = None


class TierProgress:
    def __init__(self, config: pytest.Config, first: int, total: int) -> None:
        self.config = config
        self.total = total
        self.tiers = {name: _Tier(first + index, name) for index, name in enumerate(TIERS)}
        self.tier_by_nodeid: dict[str, _Tier] = {}
        self.outcome_by_nodeid: dict[str, str] = {}

    def _line(self, text: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            print(text, flush=True)
            return
        reporter.ensure_newline()
        if reporter._tw.width_of_current_line:  # after pytest's closing [100%], which ensure_newline misses
            reporter._tw.line()
        reporter.write_line(text, bold=True)

    def _prefix(self, tier: _Tier) -> str:
        return f"[test {tier.number}/{self.total}] {tier.name}"

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        def tier_name(item: pytest.Item) -> str:
            return tier_of(marker.name for marker in item.iter_markers())

        items.sort(key=lambda item: TIERS.index(tier_name(item)))
        for item in items:
            tier = self.tiers[tier_name(item)]
            tier.nodeids.append(item.nodeid)
            self.tier_by_nodeid[item.nodeid] = tier

    def _announce_empty_tiers_before(self, number: int) -> None:
        """Empty tiers say so in their place in the sequence, not all at once."""
        for tier in self.tiers.values():
            if tier.number < number and not tier.nodeids and tier.started is None:
                tier.started = time.monotonic()
                self._line(f"{self._prefix(tier)}: no tests selected")

    @pytest.hookimpl(tryfirst=True)  # before the terminal reporter writes the test's name
    def pytest_runtest_logstart(self, nodeid: str) -> None:
        tier = self.tier_by_nodeid.get(nodeid)
        if tier is not None and tier.started is None:
            self._announce_empty_tiers_before(tier.number)
            tier.started = time.monotonic()
            count = len(tier.nodeids)
            self._line(f"{self._prefix(tier)}: {count} test{'s' if count != 1 else ''} ...")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome = _outcome(report)
        previous = self.outcome_by_nodeid.get(report.nodeid)
        # A failure in any phase decides; a pass in `call` is only kept if nothing failed around it.
        if previous in ("failed", "error") or outcome is None:
            return
        self.outcome_by_nodeid[report.nodeid] = outcome

    @pytest.hookimpl(trylast=True)  # after the terminal reporter ends the line with its [NN%]
    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        tier = self.tier_by_nodeid.get(nodeid)
        if tier is None:
            return
        tier.outcomes[self.outcome_by_nodeid.get(nodeid, "passed")] += 1
        if sum(tier.outcomes.values()) == len(tier.nodeids):
            assert tier.started is not None
            elapsed = time.monotonic() - tier.started
            self._line(f"{self._prefix(tier)}: {describe_outcomes(tier.outcomes)} in {elapsed:.1f} s")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._announce_empty_tiers_before(self.total + 1)


def _outcome(report: pytest.TestReport) -> str | None:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    if report.skipped:
        return "skipped"
    return "passed" if report.when == "call" else None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        _OPTION,
        metavar="FIRST/TOTAL",
        help="order tests by tier (checkov, unit, integration, slow) and print a header and result per tier, "
        "numbered from FIRST of TOTAL",
    )


def pytest_configure(config: pytest.Config) -> None:
    value = config.getoption(_OPTION)
    if value:
        first, total = parse_progress(value)
        config.pluginmanager.register(TierProgress(config, first, total), "tier-progress")
