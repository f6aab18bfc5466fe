"""signal alerts raised by preferred-term name are keyed by the term's code, as new ones are

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 14:00:00

Before 0014 a preferred-term signal alert was keyed `signal:pt:{product}:{PT name}`; the job now
keys it `signal:pt:{product}:{PT code}`. Left as they were, an upgraded database would raise a
second alert for every signal already under review. An old key moves to its code when the name
belongs to exactly one stored PT code (names compared whatever their case and spaces) and no
alert holds the new key yet; any other stays as it was (the page still finds its cases by name).
"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_alert = sa.table("alert", sa.column("id", sa.Integer), sa.column("key", sa.String), sa.column("detail", sa.JSON))
_reaction = sa.table("case_reaction", sa.column("pt_code", sa.String), sa.column("pt_name", sa.String))


def upgrade() -> None:
    conn = op.get_bind()
    codes: dict[str, set[str]] = {}
    for code, name in conn.execute(sa.select(_reaction.c.pt_code, _reaction.c.pt_name).distinct()):
        codes.setdefault((name or "").strip().lower(), set()).add(code)
    keys = set(conn.execute(sa.select(_alert.c.key)).scalars())
    for alert_id, key, detail in conn.execute(
            sa.select(_alert.c.id, _alert.c.key, _alert.c.detail).where(_alert.c.key.like("signal:pt:%"))).all():
        _, _, product, name = key.split(":", 3)
        found = codes.get(name.strip().lower(), set())
        if len(found) != 1:
            continue
        code = next(iter(found))
        new_key = f"signal:pt:{product}:{code}"
        if new_key == key or new_key in keys:
            continue
        detail = {**(detail or {}), "event": code, "event_name": name.strip()}
        conn.execute(sa.update(_alert).where(_alert.c.id == alert_id).values(key=new_key, detail=detail))
        keys.add(new_key)


def downgrade() -> None:
    pass  # the old keys are not needed by the old code either: it raises new alerts under names
