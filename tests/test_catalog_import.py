"""Catalog import: all-or-nothing, every bad row named, lookup table regenerated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from actions import cli
from actions.store import db
from actions.store import lookup as lookup_module
from actions.store.importer import ImportFailed, import_catalog, parse_price
from actions.store.lookup import render_lookup
from actions.store.models import Product, ProductRelation

HEADER = "sku,name,category,price,stock,restock_date,description,tags,accessories,protection,upgrades,alternatives\n"


def _write(tmp_path: Path, body: str, name: str = "products.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def _all_products(url: str) -> list[tuple]:
    with db.session_scope(url) as session:
        return [(p.sku, p.name, p.price_cents, p.stock) for p in session.scalars(select(Product).order_by(Product.sku))]


def test_upsert_updates_existing_and_adds_new(store: str, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "NB-14,Nimbus 14 Laptop,laptops,1149.00,11,,Updated description,laptop,SLV-14,CARE-2Y,,\n"
        "PAD-1,Scribe Tablet,laptops,$399.50,3,2026-12-24,A tablet,tablet,,,,\n",
    )
    with db.session_scope(store) as session:
        result = import_catalog(session, path)
    assert (result.created, result.updated) == (1, 1)
    with db.session_scope(store) as session:
        nb14 = session.scalars(select(Product).where(Product.sku == "NB-14")).one()
        assert (nb14.price_cents, nb14.stock, nb14.description) == (114900, 11, "Updated description")
        relations = session.scalars(select(ProductRelation).where(ProductRelation.product_id == nb14.id))
        expected = {("accessory", "SLV-14"), ("protection", "CARE-2Y")}
        assert {(r.kind.value, r.related.sku) for r in relations} == expected
        pad = session.scalars(select(Product).where(Product.sku == "PAD-1")).one()
        assert pad.price_cents == 39950 and str(pad.restock_date) == "2026-12-24"


def test_bad_rows_are_all_named_and_nothing_changes(store: str, tmp_path: Path) -> None:
    before = _all_products(store)
    path = _write(
        tmp_path,
        "NB-14,Nimbus 14 Laptop,laptops,999.00,5,,fine row,,,,,\n"
        ",No Sku Thing,laptops,10.00,1,,,,,,,\n"
        "BAD-PRICE,Thing,mice,ten dollars,1,,,,,,,\n"
        "BAD-CAT,Thing,spaceships,10.00,1,,,,,,,\n"
        "NEG,Thing,mice,-5,1,,,,,,,\n"
        "BAD-REL,Thing,mice,5.00,1,,,,NOPE-1,,,\n",
    )
    with pytest.raises(ImportFailed) as failure, db.session_scope(store) as session:
        import_catalog(session, path)
    errors = failure.value.errors
    assert any(e.startswith("line 3: missing sku") for e in errors)
    assert any(e.startswith("line 4: price 'ten dollars' is not a number") for e in errors)
    assert any(e.startswith("line 5: unknown category 'spaceships'") for e in errors)
    assert any(e.startswith("line 6: price '-5' must be above zero") for e in errors)
    assert any(e.startswith("line 7: accessory 'NOPE-1' is not a known sku") for e in errors)
    assert not any(e.startswith("line 2") for e in errors)
    assert _all_products(store) == before


def test_cli_exits_non_zero_and_names_the_row(store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _all_products(store)
    path = _write(tmp_path, "NB-14,Nimbus 14 Laptop,laptops,1.00,1,,,,,,,\nX-1,Thing,mice,abc,1,,,,,,,\n")
    assert cli.main(["import", str(path)]) == 1
    err = capsys.readouterr().err
    assert "line 3: price 'abc' is not a number" in err
    assert "nothing was imported" in err
    assert _all_products(store) == before


def test_json_import_and_duplicate_detection(store: str, tmp_path: Path) -> None:
    path = tmp_path / "products.json"
    path.write_text(
        json.dumps(
            {
                "products": [
                    {"sku": "kb-x", "name": "Keystone X", "category": "keyboards", "price": "59.00", "stock": 4},
                    {"sku": "KB-X", "name": "Keystone X again", "category": "keyboards", "price": "59.00"},
                ]
            }
        )
    )
    with pytest.raises(ImportFailed) as failure, db.session_scope(store) as session:
        import_catalog(session, path)
    assert failure.value.errors == ["item 2: sku 'KB-X' already appears on item 1"]


def test_unsupported_and_broken_files(store: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ImportFailed, match="problem"), db.session_scope(store) as session:
        import_catalog(session, broken)
    missing_header = tmp_path / "missing.csv"
    missing_header.write_text("sku,name\nA,B\n")
    with pytest.raises(ImportFailed) as failure, db.session_scope(store) as session:
        import_catalog(session, missing_header)
    assert failure.value.errors == ["header: missing column(s) category, price"]


@pytest.mark.parametrize(
    ("raw", "cents"), [("1199.00", 119900), ("$1,199", 119900), ("0.5", 50), ("19.99", 1999)]
)
def test_parse_price_accepts_money(raw: str, cents: int) -> None:
    assert parse_price(raw) == cents


@pytest.mark.parametrize("raw", ["", "abc", "0", "-1", "1.999", "NaN", "Infinity", "1e12"])
def test_parse_price_rejects_nonsense(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_price(raw)


def test_lookup_lists_longest_names_first() -> None:
    text = render_lookup([("Nimbus 14 Laptop", "NB-14"), ("Echo Buds", "HP-BUDS")])
    entries = [line[6:] for line in text.splitlines() if line.startswith("    - ")]
    assert entries.index("Nimbus 14 Laptop") < entries.index("Nimbus 14")
    assert set(entries) == {"Nimbus 14 Laptop", "Nimbus 14", "NB-14", "Echo Buds", "HP-BUDS"}


def test_import_regenerates_lookup(store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lookup = tmp_path / "product_lookup.yml"
    monkeypatch.setattr(lookup_module, "LOOKUP_PATH", lookup)
    path = _write(tmp_path, "PAD-1,Scribe Tablet,laptops,399.00,3,,,,,,,\n")
    assert cli.main(["import", str(path)]) == 0
    assert "    - Scribe Tablet\n" in lookup.read_text()
    assert "    - Nimbus 14 Laptop\n" in lookup.read_text()
