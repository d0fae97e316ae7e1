"""The job and the demo install without the training extra: they must not import it."""

import subprocess
import sys

TRAINING_ONLY = ("torch", "sklearn", "matplotlib")


def test_the_job_and_the_demo_import_nothing_from_the_training_extra():
    code = ("import sys, shopguard.jobs.detect_job, shopguard.demo, shopguard.cli; "
            f"print([m for m in {TRAINING_ONLY!r} if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
