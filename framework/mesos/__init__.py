"""Mesos v1 scheduler API: wire helpers, the pymesos driver wrapped, leader detection."""
