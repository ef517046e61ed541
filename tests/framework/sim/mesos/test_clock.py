"""The emulator on an injected ManualClock: heartbeats, task progress, filters and the
failover timeout move only when the test moves the clock."""
from __future__ import annotations

import time

from framework.clock import ManualClock
from framework.sim.mesos.master import EmulatedMaster
from tests.framework.sim.conftest import make_cluster
from tests.framework.sim.rawclient import Scheduler, eventually, is_update, launch, task_info
from tests.framework.sim.mesos.test_tasks import dc_offer, offers_of, status_of


def quiet_for(check, seconds: float = 0.15) -> bool:
    """``check`` stays false for ``seconds`` of wall time (the clock does not move)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return False
        time.sleep(0.02)
    return True


def test_everything_waits_for_the_manual_clock():
    clock = ManualClock(start=100.0)
    cluster = make_cluster(clock=clock)
    master = EmulatedMaster(cluster, heartbeat_s=5.0).start()
    sched = Scheduler("127.0.0.1", master.port, {"user": "u", "name": "clocked", "failover_timeout": 30.0})
    try:
        stream = sched.subscribe()
        offer = dc_offer(offers_of(stream))           # offers follow events, not the clock
        assert stream.count("HEARTBEAT") == 1          # the one right after SUBSCRIBED
        assert quiet_for(lambda: stream.count("HEARTBEAT") > 1)
        clock.advance(5.0)
        assert eventually(lambda: stream.count("HEARTBEAT") == 2)

        sched.call("ACCEPT", launch([offer], [task_info("t1", offer)]))
        assert quiet_for(lambda: any(is_update("t1")(e) for e in stream.events))
        clock.advance(0.01)                            # the simulated runner's starting_s
        starting = status_of(stream.wait(is_update("t1", "TASK_STARTING")))
        assert starting["timestamp"] == clock.wall()
        sched.ack(starting)
        clock.advance(0.02)
        sched.ack(status_of(stream.wait(is_update("t1", "TASK_RUNNING"))))

        stream.close()
        assert eventually(lambda: not cluster.frameworks[sched.framework_id].connected)
        clock.advance(29.0)
        assert quiet_for(lambda: sched.framework_id in cluster.removed_frameworks)
        clock.advance(1.5)
        assert eventually(lambda: sched.framework_id in cluster.removed_frameworks)
    finally:
        sched.close()
        master.stop()
        cluster.close()
