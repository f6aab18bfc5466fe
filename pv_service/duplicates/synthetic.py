"""Generated spontaneous reports with planted cross-sender duplicates, for training the linkage model
and measuring it (bench/duplicates.py). Nothing here is real data; every draw comes from a seeded
generator, so a seed names a data set.

Each planted duplicate is the same clinical case sent by a second sender under its own case id, with
the noise real duplicates carry (VigiBase duplicate studies, Noren et al. 2007): a typo in a date, an
age sent as an age group, a preferred term left out, another reporter, a later receipt, no batch.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

COUNTRIES = ("US", "CN", "DE", "FR", "GB", "JP", "ES", "IT", "CA", "KR")
QUALIFICATIONS = ("physician", "pharmacist", "other_health_professional", "consumer", "lawyer")
# Noise a planted duplicate carries, each with its probability.
NOISE = {"date_typo": 0.25, "age_as_group": 0.25, "missing_pt": 0.25, "other_reporter": 0.5,
         "no_batch": 0.3, "other_country_field": 0.0}


def _age_group(age: int) -> str:
    # E2B D.2.3 groups: 1 neonate .. 6 elderly; the bands used here.
    return "child" if age < 12 else "adolescent" if age < 18 else "adult" if age < 65 else "elderly"


def _typo(day: dt.date, rng: np.random.Generator) -> dt.date:
    """A date as people mistype it: day and month swapped, one digit off, a day or a week out."""
    kind = rng.integers(4)
    if kind == 0 and day.day <= 12 and day.day != day.month:
        return day.replace(month=day.day, day=day.month)
    if kind == 1:
        return day + dt.timedelta(days=int(rng.choice([-10, 10])))
    if kind == 2:
        return day + dt.timedelta(days=int(rng.choice([-1, 1])))
    return day + dt.timedelta(days=int(rng.choice([-7, 7])))


def generate(n: int, *, seed: int, duplicate_fraction: float = 0.05, second_event_fraction: float = 0.1,
             n_products: int = 15, n_pts: int = 600,
             n_clinics: int = 400, start: dt.date = dt.date(2021, 1, 1), days: int = 1460) -> pd.DataFrame:
    """`n` reports (originals plus planted duplicates) as the features pv_service.duplicates.features builds.

    `second_event_fraction` of the originals are a later, different event of a patient already
    reported (same patient, clinic, lot and products; other terms, later onset): not duplicates.

    Columns: case_id, sender, truth (the clinical case a report describes), sex, birth_year, age_group,
    onset_date, received_date, country, pts, products, batch, qualification, clinic.
    """
    rng = np.random.default_rng(seed)
    n_dup = round(n * duplicate_fraction)
    n_orig = n - n_dup
    # Zipf-like frequencies: a few products and terms carry most reports, as in any spontaneous database.
    prod_p = 1 / np.arange(1, n_products + 1) ** 0.8
    prod_p /= prod_p.sum()
    pt_p = 1 / np.arange(1, n_pts + 1) ** 1.1
    pt_p /= pt_p.sum()
    products = np.array([f"P{i:02d}" for i in range(n_products)])
    pt_codes = np.array([f"{10000000 + i * 7}" for i in range(n_pts)])
    onset = np.array([start + dt.timedelta(days=int(d)) for d in rng.integers(0, days, n_orig)])
    delay = rng.integers(0, 90, n_orig)
    age = rng.integers(2, 90, n_orig)
    n_terms = rng.choice([1, 2, 3, 4], n_orig, p=[0.35, 0.35, 0.2, 0.1])
    prod_idx = rng.choice(n_products, n_orig, p=prod_p)
    second = rng.random(n_orig) < 0.1
    rows = []
    for i in range(n_orig):
        pts = sorted(set(rng.choice(pt_codes, n_terms[i], p=pt_p)))
        prods = {products[prod_idx[i]]}
        if second[i]:
            prods.add(products[rng.choice(n_products, p=prod_p)])
        received = onset[i] + dt.timedelta(days=int(delay[i]))
        rows.append({
            "case_id": i, "sender": int(rng.integers(0, 60)), "truth": i, "sex": "M" if rng.random() < 0.55 else "F",
            "birth_year": received.year - int(age[i]), "age_group": None, "onset_date": onset[i],
            "received_date": received, "country": COUNTRIES[min(int(rng.exponential(2.0)), len(COUNTRIES) - 1)],
            "pts": pts, "products": sorted(prods),
            "batch": f"L{prod_idx[i]:02d}{int(rng.integers(0, 400)):04d}" if rng.random() < 0.7 else None,
            "qualification": QUALIFICATIONS[int(rng.choice(5, p=[0.45, 0.15, 0.2, 0.18, 0.02]))],
            "clinic": int(rng.integers(0, n_clinics)),
        })
    # Another event of a patient reported before (not a duplicate: its own case): the patient, clinic,
    # lot and products again, other terms and a later onset.
    for i in np.flatnonzero(rng.random(n_orig) < second_event_fraction):
        if i == 0:
            continue
        earlier = rows[int(rng.integers(0, i))]
        later = earlier["onset_date"] + dt.timedelta(days=int(rng.integers(14, 400)))
        rows[i].update({k: earlier[k] for k in ("sex", "birth_year", "country", "products", "batch", "clinic")},
                       onset_date=later, received_date=later + dt.timedelta(days=int(delay[i])))
    for j, orig in enumerate(rng.choice(n_orig, n_dup, replace=False)):
        o = rows[orig]
        d = dict(o, case_id=n_orig + j, sender=(o["sender"] + 1 + int(rng.integers(0, 59))) % 60)
        d["received_date"] = o["received_date"] + dt.timedelta(days=int(rng.integers(0, 60)))
        if rng.random() < NOISE["date_typo"]:
            d["onset_date"] = _typo(o["onset_date"], rng)
        if rng.random() < NOISE["age_as_group"]:
            d["birth_year"], d["age_group"] = None, _age_group(o["received_date"].year - o["birth_year"])
        if rng.random() < NOISE["missing_pt"] and len(o["pts"]) > 1:
            d["pts"] = sorted(set(o["pts"]) - {o["pts"][int(rng.integers(len(o["pts"])))]})
        if rng.random() < NOISE["other_reporter"]:
            d["qualification"] = QUALIFICATIONS[int(rng.integers(0, 5))]
        if rng.random() < NOISE["no_batch"]:
            d["batch"] = None
        rows.append(d)
    frame = pd.DataFrame(rows)
    frame["onset_date"] = pd.to_datetime(frame["onset_date"])
    frame["received_date"] = pd.to_datetime(frame["received_date"])
    frame["birth_year"] = frame["birth_year"].astype("Int64")
    return frame
