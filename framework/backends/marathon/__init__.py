"""Marathon mode: the pool as a Marathon group that htcmesos renders, applies and sizes."""
