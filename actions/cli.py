"""Command line for the shop's team: prepare the store, seed the demo, import a catalog.

    python -m actions.cli init                 create missing tables
    python -m actions.cli seed                 create tables, upsert the Brightdesk demo store
    python -m actions.cli import FILE.csv|json upsert products (one transaction), regenerate lookup
    python -m actions.cli lookup               regenerate the NLU product lookup table only
    python -m actions.cli back-in-stock [--sku SKU] [--all]
                                               list customers waiting for a product to be back

Every command exits non-zero with a one-line reason when it cannot do its work.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from actions.services.back_in_stock import list_back_in_stock
from actions.settings import get_settings
from actions.store.db import create_schema, session_scope
from actions.store.importer import ImportFailed, import_catalog
from actions.store.lookup import write_product_lookup
from actions.store.seed import seed_demo

T = TypeVar("T")
PROGRESS_FROM_ROWS = 200


def _progress(rows: Sequence[T]) -> Iterable[T]:
    return tqdm(rows, desc="importing", unit="product", disable=len(rows) < PROGRESS_FROM_ROWS, file=sys.stderr)


def _store_today() -> dt.date:
    return dt.datetime.now(ZoneInfo(get_settings().store_timezone)).date()


def cmd_init(_: argparse.Namespace) -> int:
    create_schema()
    print("Store ready.")
    return 0


def cmd_seed(_: argparse.Namespace) -> int:
    create_schema()
    if not get_settings().seed_demo:
        print("GOLDEN_RULE_SEED_DEMO is off: tables created, demo data not loaded.")
        return 0
    with session_scope() as session:
        seed_demo(session, _store_today())
        entries = write_product_lookup(session)
    print(f"Demo store seeded ({entries} product names in the NLU lookup table).")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return 2
    create_schema()
    try:
        with session_scope() as session:
            result = import_catalog(session, path, progress=_progress)
            entries = write_product_lookup(session)
    except ImportFailed as failure:
        for line in failure.errors:
            print(f"{path}: {line}", file=sys.stderr)
        print(f"{len(failure.errors)} problem(s); nothing was imported, the store is unchanged.", file=sys.stderr)
        return 1
    print(
        f"Imported {result.created + result.updated} products "
        f"({result.created} new, {result.updated} updated, {result.relations} relations); "
        f"lookup table has {entries} names. Run `make run` or `make train` to retrain."
    )
    return 0


def cmd_lookup(_: argparse.Namespace) -> int:
    with session_scope() as session:
        entries = write_product_lookup(session)
    print(f"Lookup table written ({entries} names).")
    return 0


def cmd_back_in_stock(args: argparse.Namespace) -> int:
    create_schema()
    with session_scope() as session:
        requests = list_back_in_stock(session, sku=args.sku, include_notified=args.all)
    if not requests:
        print("No pending back-in-stock requests." if not args.all else "No back-in-stock requests.")
        return 0
    print(f"{'product':<34} {'stock':>5}  {'contact':<40} since (UTC)")
    for request in requests:
        stock = "-" if request.stock is None else str(request.stock)
        contact = f"{request.contact_channel}: {request.contact_detail}"
        since = f"{request.created_at:%Y-%m-%d %H:%M}"
        done = f"  notified {request.notified_at:%Y-%m-%d}" if request.notified_at else ""
        print(f"{request.sku + ' ' + request.name:<34.34} {stock:>5}  {contact:<40.40} {since}{done}")
    print(f"{len(requests)} request(s).")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m actions.cli", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="create missing tables").set_defaults(func=cmd_init)
    sub.add_parser("seed", help="upsert the Brightdesk demo store").set_defaults(func=cmd_seed)
    imp = sub.add_parser("import", help="import products from a CSV or JSON file")
    imp.add_argument("file")
    imp.set_defaults(func=cmd_import)
    sub.add_parser("lookup", help="regenerate the NLU product lookup table").set_defaults(func=cmd_lookup)
    bis = sub.add_parser("back-in-stock", help="list customers waiting for an out-of-stock product")
    bis.add_argument("--sku", help="only this product")
    bis.add_argument("--all", action="store_true", help="include requests already notified")
    bis.set_defaults(func=cmd_back_in_stock)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SQLAlchemyError as exc:
        print(f"error: the store at {get_settings().db_url.split('@')[-1]} is not usable: "
              f"{exc.__class__.__name__}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
