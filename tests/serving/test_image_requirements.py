"""The serving image installs exactly the versions the tests ran (docker/serving/requirements.txt)."""

from __future__ import annotations

from pathlib import Path

from tests.delivery.test_lock import pins

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE = REPO_ROOT / "docker" / "serving"


def test_every_image_pin_is_the_lock_version() -> None:
    lock = pins(REPO_ROOT / "requirements.lock")
    image = pins(IMAGE / "requirements.txt")
    different = {
        name: (version, lock.get(name)) for name, version in image.items() if lock.get(name) != version
    }
    assert not different, (
        f"docker/serving/requirements.txt differs from requirements.lock: {different}; run make lock"
    )


def test_the_image_lock_holds_what_the_server_and_the_live_check_import() -> None:
    image = pins(IMAGE / "requirements.txt")
    for package in (
        "mlserver",
        "mlserver-mlflow",
        "mlflow",
        "scikit-learn",
        "skops",
        "pyarrow",
        "boto3",
        "evidently",
    ):
        assert package in image, f"{package} is missing from docker/serving/requirements.txt"
    assert pins(IMAGE / "requirements.in").items() <= image.items()
    blocks: list[str] = []
    for line in (IMAGE / "requirements.txt").read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            blocks.append(line)
        elif blocks:
            blocks[-1] += line
    unhashed = [block.split()[0] for block in blocks if "--hash=sha256:" not in block]
    assert blocks and not unhashed, (
        f"requirements without hashes (pip --require-hashes refuses them): {unhashed}"
    )
