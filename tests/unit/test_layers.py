"""The dependency rule of the README's code map, checked on every import of every module.

The layers, from the bottom up; a module may import its own layer and the layers below it, never one above:

    foundation  shopguard/config.py, shopguard/errors.py
    udfs        udfs/          the job's steps: events, encoding, state, detectors, alerts, model loading
    jobs        jobs/          the Flink graphs that wire the steps to Kafka
    training    training/      simulation, training, evaluation, publishing models
    local       shopguard/local/   broker, Flink home and cluster, topics, producer, alert feed, demo
    console     console/       the review console (web pages on the alerts, verdicts and rules topics)
    bench       bench/         the benchmark
    cli         shopguard/cli.py   the command line

So the serving side (udfs, jobs) never imports training, the local toolkit or the benchmark. The one
exception is written down here: the job's environment builds a local Flink home, only when no cluster
started the job, through a lazy import of ``shopguard.local.flink_home``. An import by name
(``importlib.import_module``, ``__import__``, ``pkgutil.walk_packages``) would hide its arrow from these checks,
so the project makes none; and the command line imports the layers it runs inside each command only.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LAYERS = ("foundation", "udfs", "jobs", "training", "local", "console", "bench", "cli")
"""Bottom first: a layer may import itself and anything before it."""

FOLDERS = {
    "udfs": ("udfs", "shopguard.udfs"),
    "jobs": ("jobs", "shopguard.jobs"),
    "training": ("training", "shopguard.training"),
    "local": ("shopguard/local", "shopguard.local"),
    "console": ("console", "shopguard.console"),
    "bench": ("bench", "shopguard.bench"),
}
"""Each folder's layer: where it lies in the repository and the package pyproject.toml installs it as."""

FOUNDATION = {"shopguard", "shopguard.config", "shopguard.errors"}

EXCEPTIONS = {("jobs/flink_environment.py", "shopguard.local.flink_home")}
"""(file, module) pairs allowed across the rule, and only as an import inside a function."""


def layer_of(module: str) -> str | None:
    """The layer of a ``shopguard`` module, or None for another library.

    >>> layer_of("shopguard.udfs.events"), layer_of("shopguard.config"), layer_of("numpy")
    ('udfs', 'foundation', None)
    """
    if module in FOUNDATION:
        return "foundation"
    if module == "shopguard.cli":
        return "cli"
    for layer, (_, package) in FOLDERS.items():
        if module == package or module.startswith(package + "."):
            return layer
    if module.startswith("shopguard."):
        return "unplaced"
    return None


def project_modules() -> dict[str, tuple[Path, str]]:
    """Every module of the project by its repository path, with its layer."""
    modules = {}
    for layer, (folder, _) in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            modules[path.relative_to(ROOT).as_posix()] = (path, layer)
    for path in sorted((ROOT / "shopguard").glob("*.py")):
        name = "shopguard" if path.stem == "__init__" else f"shopguard.{path.stem}"
        modules[path.relative_to(ROOT).as_posix()] = (path, layer_of(name) or "unplaced")
    return modules


def imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, module, inside a function) for every absolute import in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "shopguard":
            names = [f"shopguard.{alias.name}" for alias in node.names]  # ``from shopguard import cli``
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [(node.lineno, name, id(node) not in top_level) for name in names if layer_of(name) is not None]
    return found


IMPORTS_BY_NAME = {"import_module", "__import__", "walk_packages"}
"""Calls that import a module named by a value, which no arrow above can see (``walk_packages`` imports every
package it walks into)."""


def imports_by_name(path: Path) -> list[tuple[int, str]]:
    """(line, function) for every call in a file that imports a module by name.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     leak = Path(folder) / "leak.py"
    ...     _ = leak.write_text("import importlib\\nimportlib.import_module('shopguard.training')\\n__import__('x')\\n")
    ...     imports_by_name(leak)
    [(2, 'import_module'), (3, '__import__')]
    """
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in IMPORTS_BY_NAME:
                found.append((node.lineno, name))
    return sorted(found)


def broken_rules() -> list[str]:
    broken = []
    for relative, (path, layer) in project_modules().items():
        if layer == "unplaced":
            broken.append(f"{relative}: in no layer; add its folder to FOLDERS here and to the README's code map")
            continue
        for line, module, lazy in imports(path):
            target = layer_of(module)
            if target == "unplaced":
                broken.append(f"{relative}:{line} imports {module}, which is in no layer")
            elif LAYERS.index(target) > LAYERS.index(layer) and not (lazy and (relative, module) in EXCEPTIONS):
                broken.append(
                    f"{relative}:{line} imports {module}: {layer} may not import {target} "
                    f"(a layer imports only itself and {', '.join(LAYERS[: LAYERS.index(layer)]) or 'nothing'}; "
                    "see the README's code map)"
                )
    return broken


def test_every_module_imports_only_its_own_layer_and_those_below():
    assert broken_rules() == []


def test_no_module_imports_by_name():
    """An arrow made at run time from a string (the serving side finding training's folder, say) escapes the
    rule above: the project imports with ``import`` statements only."""
    found = [
        f"{relative}:{line} calls {name}: import with an import statement, or find a package's folder with "
        "importlib.util.find_spec (which does not run it)"
        for relative, (path, _) in project_modules().items()
        for line, name in imports_by_name(path)
    ]
    assert found == []


def test_the_command_line_imports_the_layers_it_runs_inside_its_commands():
    """``shopguard --help`` and every command start without loading the layers the others need (torch, Flink)."""
    cli = ROOT / "shopguard" / "cli.py"
    eager = [module for _, module, lazy in imports(cli) if not lazy and layer_of(module) != "foundation"]
    assert eager == [], f"shopguard/cli.py imports {eager} at the top: import each inside the command that runs it"


def test_every_project_file_is_in_a_layer():
    modules = project_modules()
    assert "udfs/events.py" in modules and "shopguard/local/kafka_broker.py" in modules
    assert all(layer in LAYERS for _, layer in modules.values())


def test_pyproject_installs_each_layer_s_folder_and_nothing_outside_the_layers():
    """A new room (folder) needs both: its package in pyproject.toml and its layer in FOLDERS here."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    installed = setuptools["package-dir"]
    for layer, (folder, package) in FOLDERS.items():
        assert installed.get(package) == folder, f"pyproject.toml: package-dir needs {package} = {folder!r} ({layer})"
    outside = [package for package in installed if layer_of(package) in (None, "unplaced")]
    assert not outside, f"pyproject.toml installs {outside}, in no layer: add each to FOLDERS in {__file__}"
    assert set(installed) <= set(setuptools["packages"])
    for package in set(setuptools["packages"]) - set(installed):  # a folder of data files inside a layer's package
        parent, _, name = package.rpartition(".")
        folder = ROOT / installed.get(parent, "?") / name
        assert folder.is_dir() and not list(folder.glob("*.py")), f"pyproject.toml: {package} is no data folder"


def test_the_rule_catches_the_serving_side_importing_training(tmp_path, monkeypatch):
    folder = tmp_path / "udfs"
    folder.mkdir()
    (folder / "leak.py").write_text("from shopguard.training.datasets import read_taobao\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "shopguard").mkdir()
    assert broken_rules() == [
        "udfs/leak.py:1 imports shopguard.training.datasets: udfs may not import training "
        "(a layer imports only itself and foundation; see the README's code map)"
    ]


def test_the_one_exception_holds_only_inside_a_function(tmp_path, monkeypatch):
    folder = tmp_path / "jobs"
    folder.mkdir()
    (tmp_path / "shopguard").mkdir()
    (folder / "flink_environment.py").write_text("from shopguard.local.flink_home import flink_home\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert len(broken_rules()) == 1
    (folder / "flink_environment.py").write_text("def f():\n    from shopguard.local.flink_home import flink_home\n")
    assert broken_rules() == []
