"""Every example in a docstring runs, as River runs its docstrings: documentation that cannot rot."""

import doctest
import importlib
import pkgutil

import pytest

NEEDS_TORCH = (
    "shopguard.training.lstm_model",
    "shopguard.training.train_lstm",
    "shopguard.training.onnx_export",
    "shopguard.training.next_event_model",
    "shopguard.training.train_pipeline",
)


PACKAGES = (
    "shopguard",
    "shopguard.local",
    "shopguard.jobs",
    "shopguard.udfs",
    "shopguard.training",
    "shopguard.training.detectors",
    "shopguard.bench",
    "shopguard.console",
)


def modules():
    """Every module of the project, each package's own ``__init__`` included (jobs/, udfs/ and training/ are
    mapped into the package from their folders)."""
    for package in PACKAGES:
        yield package
        for info in pkgutil.iter_modules(importlib.import_module(package).__path__, prefix=f"{package}."):
            if not info.ispkg:
                yield info.name


@pytest.mark.parametrize("name", sorted(modules()))
def test_the_module_s_docstring_examples_run(name):
    if name.startswith(NEEDS_TORCH):
        pytest.importorskip("torch")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (run pytest --doctest-modules)"
