"""The migrated schema is exactly the models' schema, on each database."""
from __future__ import annotations

from pv_service.core.migrate import pending_model_changes


def test_empty_database_upgraded_to_head_matches_models(db):
    assert pending_model_changes(db) == []
