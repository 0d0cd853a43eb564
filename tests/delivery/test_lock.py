"""The hash-checked lock `make venv` installs from says exactly what requirements*.txt pin."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.tools import REPO_ROOT

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """name -> version of every `name==version` line (extras and markers dropped)."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line.strip())
        if match:
            found[_normalize(match[1])] = match[3]
    return found


def test_lock_carries_every_pin_of_the_requirements_at_its_version() -> None:
    locked = pins(REPO_ROOT / "requirements.lock")
    wanted = pins(REPO_ROOT / "requirements.txt") | pins(REPO_ROOT / "requirements-dev.txt")
    assert len(wanted) > 20
    stale = {
        name: (version, locked.get(name)) for name, version in wanted.items() if locked.get(name) != version
    }
    assert stale == {}, (
        f"requirements.lock is out of date (pin, locked): {stale}; run `make lock` and commit it"
    )


def test_every_locked_package_is_hash_checked() -> None:
    text = (REPO_ROOT / "requirements.lock").read_text(encoding="utf-8")
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    unhashed = [entry.split()[0] for entry in entries if entry.strip() and "--hash=sha256:" not in entry]
    assert unhashed == []


def test_uv_itself_is_pinned_and_hash_checked() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    (version,) = re.findall(r"^UV_VERSION := (\S+)$", makefile, flags=re.MULTILINE)
    lock = (REPO_ROOT / "requirements-uv.lock").read_text(encoding="utf-8")
    assert pins(REPO_ROOT / "requirements-uv.lock") == {"uv": version}
    assert lock.count("--hash=sha256:") >= 2
