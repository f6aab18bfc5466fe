"""What the service's own PostgreSQL role may do: read and write its tables, never rewrite history.

Migrations run as the tables' owner; the api and the scheduler connect as a role that owns
nothing (PV_DATABASE_APP_ROLE). That role gets SELECT, INSERT, UPDATE and DELETE on the
service's tables except the audit trail and the MedDRA tables, where it gets SELECT and INSERT only, and never
TRUNCATE, TRIGGER or REFERENCES: it cannot edit, delete or truncate audit records nor lift
the triggers that refuse it. Granted again after every migration, so new tables are covered.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

# The audit trail, and the MedDRA versions: loaded once, never changed (reactions are coded against them).
APPEND_ONLY = ("audit_record", "meddra_version", "meddra_term", "meddra_path", "meddra_smq", "meddra_smq_term")
READ_ONLY = ("alembic_version",)  # the service checks it is migrated


def statements(role: str, schema: str, tables: list[str], quote) -> list[str]:
    """GRANT/REVOKE statements giving `role` exactly the privileges above (pure)."""
    r, s = quote(role), quote(schema)
    out = [f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}", f"GRANT USAGE ON SCHEMA {s} TO {r}"]
    for table in tables:
        t = f"{s}.{quote(table)}"
        privileges = ("SELECT, INSERT" if table in APPEND_ONLY else "SELECT" if table in READ_ONLY
                      else "SELECT, INSERT, UPDATE, DELETE")
        out.append(f"GRANT {privileges} ON {t} TO {r}")
    out.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}")
    return out


def grant(conn, role: str) -> list[str]:
    """Grant `role` the service's privileges in the connection's current schema; the statements run."""
    if conn.dialect.name != "postgresql":
        raise ValueError("database roles exist on PostgreSQL only")
    exists = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if exists is None:
        raise ValueError(f"no database role {role!r}: create it first (CREATE ROLE {role} LOGIN PASSWORD ...)")
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    tables = [t.name for t in SQLModel.metadata.sorted_tables] + list(READ_ONLY)
    done = statements(role, schema, tables, conn.dialect.identifier_preparer.quote)
    for s in done:
        conn.execute(sa.text(s))
    return done
