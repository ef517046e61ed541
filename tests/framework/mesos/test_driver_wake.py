"""News of another master cuts the driver's reconnect back-off short: pymesos sleeps 2, 4,
8 and 15 s on its IO thread between failed connects, deaf meanwhile (issue: a new leader
was followed 4–8 s late)."""
from __future__ import annotations

import threading

from pymesos import process as pm_process

from framework.mesos import driver as drv


class _Scheduler:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def make_driver() -> drv.Driver:
    return drv.Driver(_Scheduler(), {"user": "u", "name": "n"}, "127.0.0.1:9")


def sleeping(driver: drv.Driver, seconds: float) -> tuple[threading.Thread, threading.Event]:
    """A thread standing in for the driver's IO thread, in pymesos' back-off sleep."""
    woke = threading.Event()

    def io() -> None:
        pm_process.time.sleep(seconds)          # the call under test: the back-off sleep
        woke.set()
    thread = threading.Thread(target=io, daemon=True)
    drv._SLEEPERS[thread] = driver
    thread.start()
    return thread, woke


def test_a_new_master_wakes_the_back_off_and_the_same_one_does_not():
    driver = make_driver()
    driver._stream_backoff_s = 16.0
    try:
        thread, woke = sleeping(driver, 120)
        driver.change_master(driver.master)        # no news: it sleeps on
        assert not woke.wait(0.5)
        driver.change_master("127.0.0.1:5999")      # a new leader
        assert woke.wait(10), "the back-off sleep went on after a new master was named"
        assert driver._stream_backoff_s == 0.0     # the first try goes out at once
        thread.join(5)
    finally:
        drv._SLEEPERS.pop(thread, None)


def test_sleeps_of_other_threads_are_plain_sleeps():
    """A thread that is no driver's IO thread sleeps its full time, news or not."""
    driver = make_driver()
    slept: list[float] = []
    started = threading.Event()

    def other() -> None:
        started.set()
        begin = drv.time.monotonic()
        pm_process.time.sleep(0.3)              # the call under test, not a wait for luck
        slept.append(drv.time.monotonic() - begin)
    thread = threading.Thread(target=other, daemon=True)
    thread.start()
    assert started.wait(10)
    driver.change_master("127.0.0.1:5999")      # news that must not cut it short
    thread.join(10)
    assert slept and slept[0] >= 0.3
    # pymesos' other uses of its time module are the real one's
    assert pm_process.time.time is drv.time.time
    assert pm_process.time.strftime is drv.time.strftime
