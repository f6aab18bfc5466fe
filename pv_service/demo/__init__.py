"""Synthetic demo data: a deterministic cohort generator (``cohort``) and its loader (``load``).

All patients, visits and cases are invented; the products are the real ones from
``pv_service/products/data/products.csv``. Reaction codes are demo terms, not MedDRA
codes (see ``data/README.md``).
"""
