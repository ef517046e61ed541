"""Task lifecycles, back-off, and (later) the elastic planner and its actuator."""
