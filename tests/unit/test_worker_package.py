"""The zip Flink ships to its Python workers serves: every module, and the tables the serving code reads.

In thread mode a worker imports shopguard from that zip alone (it does not read the venv's .pth files), so a
module or a data file missing from it fails the job on its first use, never here. This test imports the
serving code from the zip in a fresh interpreter that cannot see the source tree.
"""

from __future__ import annotations

import subprocess
import sys

from shopguard.jobs.python_dependencies import package_archive, package_sources, site_packages
from shopguard.udfs.shipped_tables import SHIPPED_TABLES


def test_the_zip_holds_every_shipped_table():
    sources = package_sources()
    assert {f"shopguard/udfs/shipped-tables/{name}.json" for name in SHIPPED_TABLES} <= set(sources)


def test_the_serving_code_reads_its_tables_from_the_zip_alone(tmp_path):
    archive = package_archive(tmp_path)
    probe = (
        "import sys\n"
        f"sys.path[:0] = [{str(archive)!r}]\n"
        f"sys.path.append({site_packages()!r})\n"
        "from shopguard.udfs import rarity_defaults, new_account_defaults, entity_defaults\n"
        "import shopguard.udfs.scoring, shopguard.udfs.alert_decision, shopguard.udfs.user_history\n"
        "assert all(m.__file__.startswith(sys.path[0]) for m in (rarity_defaults, new_account_defaults))\n"
        "print(len(rarity_defaults.DEFAULT_TABLES), len(new_account_defaults.DEFAULT_TABLES),"
        " len(entity_defaults.DEFAULT_TABLES))\n"
    )
    # -S: no site-packages .pth files (no editable install), -I: no PYTHONPATH, no current folder
    done = subprocess.run([sys.executable, "-S", "-I", "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert all(int(n) > 0 for n in done.stdout.split())
