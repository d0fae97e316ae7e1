"""What normal sharing of devices and IPs looks like: the ``entities`` detector's population tables.

The tables say, per entity figure, how often the events of a population of *normal* accounts reach a
value (:func:`~shopguard.training.combiner_fitting.tail_table` over ``log1p`` of the figure). The only
real population we hold with shared identifiers is Fraud_Data: its devices (it has no IPs). So the
default tables are fitted on the normal accounts (``class`` 0) of Fraud_Data's earlier half by signup
time (:func:`~shopguard.training.fraud_data.split_by_signup`), replayed through the job's own sketch
(:func:`~shopguard.training.entity_figures.entity_figures`); the later half is left for the evaluation.
Nothing is fitted on an injector. IP figures get no table (no population with IPs): they still reach
the ring rule, and a model folder's ``entities.json`` may carry ``ip_*`` tables once one exists.
The simulator gives every shopper their own devices and IP, so it says nothing about normal sharing.

``python -m shopguard.training.entity_population [CSV]`` writes the tables the serving code ships
(``udfs/shipped-tables/entities.json``, :mod:`shopguard.udfs.entity_defaults`); ``--model DIR`` writes them
into a model folder's ``entities.json`` instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from shopguard.config import DataSettings
from shopguard.training.combiner_fitting import tail_table
from shopguard.training.entity_figures import ENTITY_FIGURE_FIELDS, entity_figures
from shopguard.training.fraud_data import events_in_time_order, read_fraud_data, split_by_signup
from shopguard.udfs.entities_detector import EntityTables
from shopguard.udfs.events import Event
from shopguard.udfs.shipped_tables import write_shipped_tables

DEVICE_FIGURES = ("device_accounts_1h", "device_accounts_24h", "device_accounts_30d", "device_new_accounts_24h")
"""The figures Fraud_Data's devices speak for (one signup and one purchase per account, no item, no failure)."""


def fit_entity_tables(events: Sequence[Event], figures: Sequence[str], source: str) -> EntityTables:
    """Tail tables of ``figures`` over the events of a normal population, their figures computed as the job does."""
    values = entity_figures(events)
    tails = []
    for name in figures:
        column = values[:, ENTITY_FIGURE_FIELDS.index(name)]
        column = column[~np.isnan(column)]
        tails.append(tail_table(name, np.log1p(column)))
    return EntityTables(tuple(tails), source)


def fraud_data_tables(csv_path: str | Path) -> EntityTables:
    """The default tables: device figures of Fraud_Data's normal accounts in its earlier half by signup time."""
    earlier, _ = split_by_signup(read_fraud_data(csv_path).rows)
    normal = [account for account in earlier if not account.fraud]
    source = f"fraud_data earlier half by signup time, {len(normal)} normal accounts of {len(earlier)}"
    return fit_entity_tables(events_in_time_order(normal), DEVICE_FIGURES, source)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", default=DataSettings().fraud_data_csv, help="Fraud_Data CSV")
    parser.add_argument("--model", help="write entities.json into this model folder instead of the shipped tables")
    args = parser.parse_args(argv)
    tables = fraud_data_tables(args.csv)
    path = tables.write(args.model) if args.model else write_shipped_tables("entities", tables.to_dict())
    print(f"{path}: {len(tables.tails)} tables from {tables.source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
