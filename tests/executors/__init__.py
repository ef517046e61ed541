"""Tests of executors/: what runs inside the role containers."""
