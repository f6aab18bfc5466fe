"""The content hash decides whether a resent version is the same report: it must never drift."""
from __future__ import annotations

import datetime as dt

from pv_service.cases.hashing import content_hash

VERSION = {"patient_id": 1, "report_type": "spontaneous", "received_date": dt.date(2025, 2, 1),
           "latest_info_date": dt.date(2025, 2, 3), "reporter_qualification": "physician", "reporter_country": "CN",
           "narrative": 'Fièvre, 39 °C: "grade 2"', "transgene_in_tumour": None}
DRUGS = [{"treatment_id": 5, "role": "suspect", "product_id": 2},
         {"treatment_id": 3, "role": "concomitant", "product_id": 1}]
REACTIONS = [{"pt_code": "LOCAL-0001", "pt_name": "Cytokine release syndrome", "onset_date": dt.date(2025, 1, 12),
              "hospitalisation": True, "grade": 2},
             {"pt_code": "X", "pt_name": "Pyrexia", "onset_date": None, "hospitalisation": False, "grade": None}]


def test_hash_of_stored_versions_is_stable():
    # Computed by the first implementation (json.dumps per item); stored hashes depend on it.
    assert content_hash(VERSION, DRUGS, REACTIONS) == "2990750560d2a994bb43653eb936ffa0d6838d56e84c49cfac4c9ecd8beb45b5"


def test_order_of_drugs_and_reactions_does_not_matter_but_any_value_does():
    assert content_hash(VERSION, DRUGS[::-1], REACTIONS[::-1]) == content_hash(VERSION, DRUGS, REACTIONS)
    changed = [{**REACTIONS[0], "grade": 3}, REACTIONS[1]]
    assert content_hash(VERSION, DRUGS, changed) != content_hash(VERSION, DRUGS, REACTIONS)


def _reference_hash(version, drugs, reactions) -> str:
    """The definition: canonical JSON through json.dumps, as the first implementation did it."""
    import hashlib
    import json

    def default(value):
        return value.isoformat()

    canonical = {
        "version": {k: version[k] for k in sorted(version)},
        "drugs": sorted(json.dumps(d, sort_keys=True, default=default) for d in drugs),
        "reactions": sorted(json.dumps(r, sort_keys=True, default=default) for r in reactions),
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=default, separators=(",", ":")).encode()).hexdigest()


def test_hash_equals_the_json_dumps_definition_for_any_content():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    values = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=30),
                       st.dates(), st.datetimes(timezones=st.just(dt.timezone.utc)))
    rows = st.dictionaries(st.text(min_size=1, max_size=12), values, max_size=8)

    @settings(max_examples=300, deadline=None, database=None)
    @given(rows, st.lists(rows, max_size=3), st.lists(rows, max_size=3))
    def check(version, drugs, reactions):
        assert content_hash(version, drugs, reactions) == _reference_hash(version, drugs, reactions)

    check()
