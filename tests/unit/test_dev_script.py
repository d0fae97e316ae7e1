"""``./dev`` warns before a first install that the disk cannot hold, naming the place and the fix, and
``./dev test`` stops on unformatted or lint-failing code, saying what to run.

CI once stopped in pip with "No space left on device": the warning is what a newcomer would need to
see before the install starts, rather than a pip traceback after it.
"""

import pathlib
import subprocess

DEV = pathlib.Path(__file__).resolve().parents[2] / "dev"


def _warn_if_disk_short(need_gb: int, tmpdir: pathlib.Path) -> str:
    """Runs the script's own ``warn_if_disk_short`` (cut out of ``dev``) and returns what it printed."""
    script = f'source <(sed -n "/^warn_if_disk_short() {{/,/^}}/p" "{DEV}")\nwarn_if_disk_short {need_gb}\n'
    done = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmpdir)},
    )
    return done.stdout + done.stderr


def test_a_disk_too_small_for_the_install_is_named_with_what_to_do(tmp_path):
    printed = _warn_if_disk_short(10**9, tmp_path)
    assert f"needs about {10**9} GB free, {tmp_path} has" in printed
    assert "point TMPDIR at a larger disk" in printed


def test_enough_free_disk_prints_nothing(tmp_path):
    assert _warn_if_disk_short(0, tmp_path) == ""


def _lint(folder: pathlib.Path) -> subprocess.CompletedProcess:
    """Runs the script's own ``lint`` (cut out of ``dev``) in ``folder``, with this checkout's ruff."""
    (folder / ".venv" / "bin").mkdir(parents=True)
    (folder / ".venv" / "bin" / "ruff").symlink_to(DEV.parent / ".venv" / "bin" / "ruff")
    (folder / "pyproject.toml").write_text((DEV.parent / "pyproject.toml").read_text())
    script = f'source <(sed -n "/^die() {{/,/^}}/p;/^lint() {{/,/^}}/p" "{DEV}")\nlint\n'
    return subprocess.run(["bash", "-c", script], cwd=folder, capture_output=True, text=True)


def test_lint_stops_on_an_unformatted_file_saying_what_to_run(tmp_path):
    (tmp_path / "bad.py").write_text("x=1\n")
    done = _lint(tmp_path)
    assert done.returncode == 2
    assert "ruff format: the files above are not formatted; run .venv/bin/ruff format ." in done.stderr


def test_lint_passes_formatted_clean_code(tmp_path):
    (tmp_path / "good.py").write_text("x = 1\n")
    assert _lint(tmp_path).returncode == 0
