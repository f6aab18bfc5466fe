"""The published contract: JSON Schemas of intake payloads, written to schemas/.

`python -m pv_service.contract` rewrites them; a test fails when they drift from the code.
"""
from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from pv_service.cases.schemas import BatchIn, ReportIn
from pv_service.core.settings import PROJECT_ROOT
from pv_service.followup.schemas import ContactCreate
from pv_service.patients.schemas import PatientCreate, TreatmentCreate

CONTRACT: dict[str, type[BaseModel]] = {
    "report.schema.json": ReportIn,
    "report-batch.schema.json": BatchIn,
    "patient.schema.json": PatientCreate,
    "treatment.schema.json": TreatmentCreate,
    "followup-contact.schema.json": ContactCreate,
}
SCHEMA_DIR = PROJECT_ROOT / "schemas"


def render(model: type[BaseModel]) -> str:
    schema = model.model_json_schema(mode="validation")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(exist_ok=True)
    written = []
    for name, model in CONTRACT.items():
        path = directory / name
        path.write_text(render(model))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write():
        print(path)
