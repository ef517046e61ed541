"""Emulators standing in for what cannot be installed here: a strict Mesos master
(real HTTP on loopback), Marathon, and a simulated HTCondor pool; seeded, clock injected."""
