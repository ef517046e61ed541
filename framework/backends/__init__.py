"""Cluster backends behind one controller; BACKENDS names them (one module + one entry each)."""
