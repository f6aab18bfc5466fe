"""One E2B(R3) batch in, its acknowledgement out: shared by the HTTP route and the CLI."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from pv_service.auth.principal import Principal
from pv_service.core.db import session_scope
from pv_service.core.settings import Settings
from pv_service.e2b import ack, importer, schema_set
from pv_service.e2b.ack import BatchResult
from pv_service.jobs.definitions import current_rules


@dataclass
class Received:
    result: BatchResult
    ack_xml: bytes


def receive(engine: Engine, settings: Settings, principal: Principal, data: bytes, now: dt.datetime) -> Received:
    """Raises SchemaSetError without a schema set (import never skips validation) and reader.Refused
    for a file refused before parsing; otherwise commits what was accepted and returns the ACK."""
    schemas = schema_set.configured(settings.e2b_schema_dir)
    with session_scope(engine) as session:
        result = importer.import_batch(session, principal, data, schemas, settings.e2b_max_bytes, now,
                                       current_rules().e2b)
        session.commit()
    return Received(result, ack.build(result, settings.e2b_identifier, uuid.uuid4().hex, now))
