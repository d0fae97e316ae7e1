"""The job and the demo install without the training extra: they must not import it."""

import subprocess
import sys

TRAINING_ONLY = ("torch", "sklearn", "matplotlib")


def test_the_job_and_the_demo_import_nothing_from_the_training_extra():
    code = (
        "import sys, shopguard.jobs.detect_job, shopguard.local.demo, shopguard.cli; "
        f"print([m for m in {TRAINING_ONLY!r} if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_kafka_python_checksums_records_in_c_not_python():
    """Without the crc32c package kafka-python falls back to a pure-Python CRC32C: twice the CPU per record."""
    import crc32c
    from kafka.record import util

    assert util._crc32c is crc32c.crc32c
