"""A drug as reported -> the registered product it names, if any (pure: rows in, row out).

The order is the E2B importer's: the product code (G.k.2.1: the registry code, which is the
MPID/PhPID where the registry holds one), then the name as reported taken as a trade name or
an INN, then each active substance as an INN; compared whatever their case.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def candidate_names(product_code: str | None, name: str | None, substances: Sequence[str]) -> set[str]:
    """The lower-cased strings a registry look-up must try for one drug."""
    return {s.lower() for s in (product_code, name, *substances) if s}


class ProductIndex:
    """Rows with id, code, trade_name, inn (and whatever else the caller reads off the match)."""

    def __init__(self, products: Iterable[Any]):
        self.by_code, self.by_trade, self.by_inn = {}, {}, {}
        for p in products:
            self.by_code[p.code.casefold()] = p
            self.by_trade[p.trade_name.casefold()] = p
            self.by_inn[p.inn.casefold()] = p

    def match(self, product_code: str | None, name: str | None, substances: Sequence[str]) -> Any | None:
        found = self.by_code.get(product_code.casefold()) if product_code else None
        if found is None and name:
            found = self.by_trade.get(name.casefold()) or self.by_inn.get(name.casefold())
        for s in substances:
            found = found or self.by_inn.get(s.casefold())
        return found
