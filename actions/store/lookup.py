"""Generate the NLU lookup table of product names from the catalog.

The lookup feeds Rasa's RegexEntityExtractor, which tries alternatives in file order, so
longer names are written first ("Nimbus 14 Laptop" before "Nimbus 14").
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.settings import PROJECT_ROOT
from actions.store.models import Product

LOOKUP_PATH = PROJECT_ROOT / "data" / "nlu" / "product_lookup.yml"
# A trailing word customers often leave out ("the Nimbus 14", "the Echo ANC").
GENERIC_SUFFIXES = ("laptop", "monitor", "headphones", "mouse", "keyboard", "webcam", "chair")
HEADER = (
    "# Generated from the product catalog by `make import-catalog` / `make seed`. Do not edit.\n"
    'version: "3.1"\n'
    "nlu:\n"
    "- lookup: product\n"
    "  examples: |\n"
)


def name_variants(name: str, sku: str) -> list[str]:
    """The ways a customer may write one product: full name, short name, SKU."""
    variants = [name, sku]
    words = name.split()
    if len(words) > 2 and words[-1].lower() in GENERIC_SUFFIXES:
        variants.append(" ".join(words[:-1]))
    # Shorter forms people type: "Vista 27", "Echo ANC", "Nimbus 16 Pro". A prefix that fits
    # several products is fine: the catalog answers with the candidates as buttons.
    for length in range(2, len(words)):
        prefix = words[:length]
        if any(ch.isdigit() for ch in "".join(prefix)) or prefix[-1].isupper():
            variants.append(" ".join(prefix))
    return variants


def render_lookup(names: list[tuple[str, str]]) -> str:
    """YAML text of the lookup table for (name, sku) pairs; stable order, longest first."""
    seen: dict[str, str] = {}
    for name, sku in names:
        for variant in name_variants(name, sku):
            # One line per variant; YAML-unsafe characters are stripped, not escaped, since
            # a lookup entry is a plain phrase.
            cleaned = " ".join(variant.replace("\n", " ").split()).strip("-:#'\"")
            if cleaned:
                seen.setdefault(cleaned.lower(), cleaned)
    ordered = sorted(seen.values(), key=lambda v: (-len(v), v.lower()))
    return HEADER + "".join(f"    - {v}\n" for v in ordered)


def write_product_lookup(session: Session, path: Path | None = None) -> int:
    """Rewrite the lookup file from active products; returns the number of entries.

    The file is only rewritten when its content changes, so an unchanged catalog does
    not make the Makefile retrain the model.
    """
    path = path or LOOKUP_PATH
    names = list(session.execute(select(Product.name, Product.sku).where(Product.active.is_(True))).all())
    text = render_lookup([(n, s) for n, s in names])
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return text.count("\n    - ")
