"""Which cases a caller may read."""
from __future__ import annotations

import sqlalchemy as sa

from pv_service.auth.principal import Principal
from pv_service.cases.models import Case, CaseDrug, CaseVersion
from pv_service.common.vocab import Role
from pv_service.patients.access import mah_product_ids


# C.1.11: a case whose latest version nullifies it leaves every statistic and queue (it stays readable).
_NULLIFIED_VERSIONS = sa.select(CaseVersion.id).where(CaseVersion.nullification == "nullification")


def not_nullified():
    return Case.latest_version_id.not_in(_NULLIFIED_VERSIONS)


def counted_case():
    """The cases statistics, signal runs, alerts and exports count: neither nullified nor a confirmed
    duplicate of another case (its master counts for it)."""
    from pv_service.duplicates.models import DuplicateOf  # late: that package reads cases

    return sa.and_(not_nullified(), Case.id.not_in(sa.select(DuplicateOf.case_id)))


def case_filter(principal: Principal):
    if principal.role == Role.clinic:
        return Case.sender_id == principal.organization_id
    if principal.role == Role.mah:
        # An MAH sees the cases whose current version names one of its products.
        return Case.latest_version_id.in_(
            sa.select(CaseDrug.case_version_id).where(CaseDrug.product_id.in_(mah_product_ids(principal)))
        )
    if principal.role == Role.safety_officer:
        return sa.true()
    return sa.false()
