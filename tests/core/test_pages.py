"""numpy's huge-page advice while rows are counted: off inside small_pages (for arrays up to
glibc's mmap threshold), put back after,
also for overlapping users; and the advice really is absent from arrays made inside."""
import sys
import threading

import numpy as np
import pytest

from pv_service.common import pages

switch = pages._switch()
pytestmark = pytest.mark.skipif(switch is None, reason="this numpy has no huge-page switch")


def current() -> bool:
    before = switch(True)
    switch(before)
    return bool(before)


@pytest.fixture
def advice_on():
    before = switch(True)
    yield
    switch(before)


def test_off_inside_and_back_after(advice_on):
    with pages.small_pages(0):
        assert current() is False
    assert current() is True


def test_left_off_when_it_was_off(advice_on):
    switch(False)
    with pages.small_pages(0):
        assert current() is False
    assert current() is False


def test_back_after_an_error(advice_on):
    with pytest.raises(RuntimeError), pages.small_pages(0):
        raise RuntimeError("boom")
    assert current() is True


def test_overlapping_users_the_last_puts_back(advice_on):
    a_in, b_in, a_out = (threading.Event() for _ in range(3))
    seen = {}

    def a():
        with pages.small_pages(0):
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with pages.small_pages(0):
            b_in.set()
            a_out.wait(5)
            seen["after a left"] = current()
        seen["after b left"] = current()
    threads = [threading.Thread(target=f) for f in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"after a left": False, "after b left": True}


def _vm_flags(array: np.ndarray) -> list[str]:
    """VmFlags of the mapping holding the middle of the array's data (Linux
    /proc/self/smaps; numpy advises from the first page boundary on, a mapping of its own)."""
    address = array.ctypes.data + array.nbytes // 2
    with open("/proc/self/smaps") as f:
        inside = False
        for line in f:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(v, 16) for v in head.split("-"))
                inside = lo <= address < hi
            elif inside and head == "VmFlags:":
                return line.split()[1:]
    raise AssertionError("the array's mapping is not in smaps")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise flags are read from /proc")
def test_arrays_made_inside_carry_no_huge_page_advice(advice_on):
    outside = np.ones(8 << 17)  # 8 MiB: numpy advises huge pages from 4 MiB
    if "hg" not in _vm_flags(outside):
        pytest.skip("this kernel or numpy gives no huge-page advice")
    with pages.small_pages(0):
        inside = np.ones(8 << 17)
    assert "hg" not in _vm_flags(inside)


def test_numpy_decides_for_arrays_beyond_the_mmap_threshold(advice_on):
    with pages.small_pages(pages.MMAP_THRESHOLD_MAX + 1):
        assert current() is True
    with pages.small_pages(pages.MMAP_THRESHOLD_MAX):
        assert current() is False
