"""mapping.asdict against dataclasses.asdict (the library's, deep-copying route): the same dicts, in order."""
import dataclasses

from lxml import etree

from pv_service.e2b import icsr, mapping


def _same(record):
    got, want = mapping.asdict(record), dataclasses.asdict(record)
    assert got == want
    assert list(got) == list(want)
    return got


def test_flat_records():
    _same(icsr.Coded("10019211", "26.0", "headache", None))
    _same(icsr.Source("physician", "1", "US", True))
    _same(icsr.Relatedness("r1", "reporter", "global introspection", "related"))
    _same(icsr.Dosage(lot="A1", dose="5", dose_unit="mg"))


def test_nested_records_lists_and_tuples():
    past = icsr.PastDrug("aspirin", indication=icsr.Coded("1", "26.0"), reaction=icsr.Coded(text="rash"))
    got = _same(past)
    assert got["indication"] is not past.indication  # a dict, not the record
    test = icsr.Test(icsr.Coded("10005", "26.0", "ALT"), "20220101", "50", "U/L")
    _same(test)

    @dataclasses.dataclass
    class Holder:
        items: list
        pair: tuple
        extra: dict
        one: object

    h = Holder([icsr.Coded("1"), "x", [icsr.Coded(text="y")]], ("a", icsr.Coded("2")), {"k": [icsr.Coded("3")]},
               icsr.Coded("4"))
    got = _same(h)
    assert type(got["pair"]) is tuple and got["items"][2] == [{"code": None, "version": None, "text": "y",
                                                               "null_flavor": None}]
    assert got["extra"]["k"] is not h.extra["k"]  # copied, as asdict copies


def test_values_as_lxml_gives_them():
    """Attribute values read by XPath are str subclasses: kept as they are, as icsr.plain keeps them."""
    value = etree.fromstring('<a code="10019211"/>').xpath("@code")[0]
    assert type(value) is not str
    got = mapping.asdict(icsr.Coded(value, "26.0"))
    assert got == {"code": "10019211", "version": "26.0", "text": None, "null_flavor": None}
    assert got["code"] is value
