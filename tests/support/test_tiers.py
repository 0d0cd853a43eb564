"""The tier progress `make test` prints: order, headers, counts, results, and no change without the option."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import pytest
from _pytest.mark.expression import Expression

from tests.support.tiers import TIERS, describe_outcomes, parse_progress, tier_of
from tests.support.tools import REPO_ROOT

pytest_plugins = ["pytester"]

SUITE = """
import pytest

@pytest.mark.slow
def test_slow(): pass

@pytest.mark.integration
@pytest.mark.slow
def test_service(): pass

@pytest.mark.slow
@pytest.mark.checkov
def test_scan(): pass

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown")

def test_unit_one(): pass

def test_unit_two(broken_teardown): assert False

def test_unit_teardown_fails(broken_teardown): pass

@pytest.mark.skip(reason="not here")
def test_unit_skipped(): pass
"""


INI = """
[pytest]
markers =
    slow: slow
    integration: integration
    checkov: checkov
"""


RESULT_LINE = re.compile(r"test_suite\.py::(\w+) (PASSED|FAILED|SKIPPED)")


def _ran(lines: list[str]) -> list[str]:
    return [m.group(1) for line in lines if (m := RESULT_LINE.match(line))]


def test_markers_decide_the_tier() -> None:
    assert tier_of([]) == "unit"
    assert tier_of(["parametrize"]) == "unit"
    assert tier_of(["slow"]) == "slow"
    assert tier_of(["slow", "integration"]) == "integration"
    assert tier_of(["slow", "checkov"]) == "checkov"


def test_progress_option_is_checked() -> None:
    assert parse_progress("3/6") == (3, 6)
    with pytest.raises(pytest.UsageError, match="FIRST/TOTAL"):
        parse_progress("3")
    with pytest.raises(pytest.UsageError, match="do not fit in 5"):
        parse_progress("3/5")


def test_outcomes_read_in_a_fixed_order() -> None:
    assert describe_outcomes(Counter(passed=3, failed=1)) == "1 failed, 3 passed"
    assert describe_outcomes(Counter()) == "nothing ran"


def test_tiers_run_in_order_with_a_header_and_a_timed_result(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("-p", "tests.support.tiers", "--tier-progress=3/6", "-v")
    lines = result.outlines
    assert _ran(lines) == [
        "test_scan",
        "test_unit_one",
        "test_unit_two",
        "test_unit_teardown_fails",
        "test_unit_skipped",
        "test_service",
        "test_slow",
    ]
    progress = [line for line in lines if line.startswith("[test ")]
    assert [re.sub(r"in \d+\.\d s", "in T s", line) for line in progress] == [
        "[test 3/6] checkov: 1 test ...",
        "[test 3/6] checkov: 1 passed in T s",
        "[test 4/6] unit: 4 tests ...",
        "[test 4/6] unit: 1 failed, 1 error, 1 passed, 1 skipped in T s",
        "[test 5/6] integration: 1 test ...",
        "[test 5/6] integration: 1 passed in T s",
        "[test 6/6] slow: 1 test ...",
        "[test 6/6] slow: 1 passed in T s",
    ]
    # Each header comes right before its tier's first test.
    assert lines.index("[test 4/6] unit: 4 tests ...") < next(
        i for i, line in enumerate(lines) if line.startswith("test_suite.py::test_unit_one")
    )
    result.assert_outcomes(passed=5, failed=1, errors=2, skipped=1)


def test_an_empty_tier_says_so_in_its_place(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest(
        "-p",
        "tests.support.tiers",
        "--tier-progress=3/6",
        "-m",
        "not checkov and not integration and not slow",
    )
    progress = [
        re.sub(r"in \d+\.\d s", "in T s", line) for line in result.outlines if line.startswith("[test ")
    ]
    assert progress == [
        "[test 3/6] checkov: no tests selected",
        "[test 4/6] unit: 4 tests ...",
        "[test 4/6] unit: 1 failed, 1 error, 1 passed, 1 skipped in T s",
        "[test 5/6] integration: no tests selected",
        "[test 6/6] slow: no tests selected",
    ]


def test_without_the_option_nothing_changes(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("-p", "tests.support.tiers", "-v")
    assert _ran(result.outlines)[0] == "test_slow"
    assert not [line for line in result.outlines if line.startswith("[test ")]


def test_make_test_numbers_its_tiers_consistently() -> None:
    script = (REPO_ROOT / "scripts" / "test-tiers.sh").read_text(encoding="utf-8")
    shell_tiers = [int(n) for n in re.findall(r"^tier (\d+) \w+ ", script, flags=re.MULTILINE)]
    (total,) = re.findall(r"^TOTAL=(\d+)$", script, flags=re.MULTILINE)
    (first,) = re.findall(r"--tier-progress=(\d+)/\$TOTAL", script)
    assert shell_tiers == [1, 2]
    assert int(first) == len(shell_tiers) + 1
    assert int(total) == len(shell_tiers) + len(TIERS)
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    (recipe,) = re.findall(r"^test: .*\n\t(.*)$", makefile, flags=re.MULTILINE)
    assert "scripts/test-tiers.sh" in recipe


def test_make_test_unit_runs_exactly_the_unit_tier() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    (recipe,) = re.findall(r"^test-unit: .*\n\t(.*)$", makefile, flags=re.MULTILINE)
    (expression,) = re.findall(r'-m "([^"]+)"', recipe)
    selects = Expression.compile(expression)
    markers_that_pick_a_tier = ("checkov", "integration", "slow")
    for size in range(len(markers_that_pick_a_tier) + 1):
        for markers in itertools.combinations(markers_that_pick_a_tier, size):
            selected = selects.evaluate(lambda name, /, _markers=markers, **_kwargs: name in _markers)
            assert selected == (tier_of(markers) == "unit"), (markers, expression)
