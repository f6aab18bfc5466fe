"""The collector's thresholds while a batch runs: raised inside, put back after, also for overlapping batches."""
import gc
import threading

import pytest

from pv_service.common import collector


@pytest.fixture
def thresholds():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_raised_keeps_higher_values_and_zero():
    assert collector.raised((700, 10, 10)) == (20_000, 50, 100)
    assert collector.raised((50_000, 10, 500)) == (50_000, 50, 500)
    assert collector.raised((0, 10, 10)) == (0, 50, 100)  # 0: collection switched off, left so


def test_thresholds_put_back_after_the_batch(thresholds):
    with collector.fewer_collections():
        assert gc.get_threshold() == (20_000, 50, 100)
    assert gc.get_threshold() == (700, 10, 10)


def test_put_back_when_the_batch_fails(thresholds):
    with pytest.raises(RuntimeError), collector.fewer_collections():
        raise RuntimeError("boom")
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_batches_the_last_puts_back(thresholds):
    """A in, B in, A out (B still running: still raised), B out: back to what A found."""
    a_in, b_in, a_out, b_out = (threading.Event() for _ in range(4))
    seen = {}

    def a():
        with collector.fewer_collections():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with collector.fewer_collections():
            b_in.set()
            a_out.wait(5)
            seen["after a"] = gc.get_threshold()
        b_out.set()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen["after a"] == (20_000, 50, 100)
    assert gc.get_threshold() == (700, 10, 10)
