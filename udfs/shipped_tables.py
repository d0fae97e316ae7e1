"""The tables shipped with the serving code, as JSON package data: ``udfs/shipped-tables/NAME.json``.

A model folder without its own ``rarity.json``, ``new_account.json`` or ``entities.json`` is served with
these (``DEFAULT_TABLES`` of :mod:`shopguard.udfs.rarity_defaults`, :mod:`shopguard.udfs.new_account_defaults`
and :mod:`shopguard.udfs.entity_defaults`). The training command that fits each
one writes it with :func:`write_shipped_tables`; nobody edits them by hand.

>>> sorted(SHIPPED_TABLES)
['entities', 'new_account', 'rarity']
>>> shipped_tables_path("rarity").name
'rarity.json'
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from shopguard.errors import ShopguardError

PACKAGE_FOLDER = "shipped-tables"  # inside the package (on a Flink worker, inside a zip: see _read_text)
FOLDER = Path(__file__).resolve().parent / PACKAGE_FOLDER

SHIPPED_TABLES = {
    "rarity": "python -m shopguard.training.rarity_calibration",
    "new_account": "python -m shopguard.training.new_account_calibration --defaults",
    "entities": "python -m shopguard.training.entity_population",
}
"""Each shipped table's name and the command that regenerates it."""


def shipped_tables_path(name: str) -> Path:
    """Where the tables called ``name`` are shipped; an unknown name is refused.

    >>> shipped_tables_path("nothing")
    Traceback (most recent call last):
    ...
    shopguard.errors.ShopguardError: no shipped tables called 'nothing' (known: rarity, new_account, entities)
    """
    if name not in SHIPPED_TABLES:
        raise ShopguardError(f"no shipped tables called {name!r} (known: {', '.join(SHIPPED_TABLES)})")
    return FOLDER / f"{name}.json"


def read_shipped_tables(name: str) -> dict[str, Any]:
    """The tables called ``name``, as the JSON object they were written as."""
    path = shipped_tables_path(name)
    try:
        body = json.loads(_read_text(path))
    except (OSError, ValueError) as exc:
        raise ShopguardError(
            f"{path}: the shipped {name} tables cannot be read ({exc}); reinstall shopguard, "
            f"or regenerate them with `{SHIPPED_TABLES[name]}`"
        ) from exc
    if not isinstance(body, dict):
        raise ShopguardError(f"{path}: not a JSON object; regenerate it with `{SHIPPED_TABLES[name]}`")
    return body


def _read_text(path: Path) -> str:
    """The file's text; inside the zip Flink ships to its workers (no folder there), through the package's resources."""
    if FOLDER.is_dir():
        return path.read_text()
    return resources.files(__package__).joinpath(PACKAGE_FOLDER, path.name).read_text()


def write_shipped_tables(name: str, body: dict[str, Any]) -> Path:
    """Write ``body`` as the tables called ``name`` (one value a line, so a refit reads as a diff)."""
    path = shipped_tables_path(name)
    path.write_text(json.dumps(body, indent=1, allow_nan=False) + "\n")
    return path
