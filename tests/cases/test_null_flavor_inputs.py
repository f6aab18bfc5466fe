"""The JSON report's E2B nullFlavors that stand instead of a value: one or the other, never both."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from pv_service.cases.schemas import DosageIn, ReactionIn


def test_dosage_dates_or_their_null_flavor():
    assert DosageIn(period_null_flavor="ASKU").period_null_flavor == "ASKU"
    with pytest.raises(ValidationError, match="start/end or period_null_flavor"):
        DosageIn(period_null_flavor="ASKU", start="2014-09-28")
    with pytest.raises(ValidationError, match="period_null_flavor"):
        DosageIn(period_null_flavor="YES")


def test_route_version_goes_with_a_route_code():
    assert DosageIn(route_code="001", route_version="2014.10.30").route_version == "2014.10.30"
    with pytest.raises(ValidationError, match="give route_code with it"):
        DosageIn(route="Oral", route_version="2014.10.30")


def test_required_intervention_or_ni():
    base = {"pt_code": "10037660", "pt_name": "Pyrexia"}
    assert ReactionIn(**base, required_intervention_null_flavor="NI").required_intervention_null_flavor == "NI"
    with pytest.raises(ValidationError, match="not both"):
        ReactionIn(**base, required_intervention=True, required_intervention_null_flavor="NI")
    with pytest.raises(ValidationError, match="required_intervention_null_flavor"):
        ReactionIn(**base, required_intervention_null_flavor="UNK")  # FDA allows NI only
