"""HTCondor side of htcmesos: role configuration rendering and (later) the pool monitor."""
