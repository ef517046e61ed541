"""CLUES driving htcmesos: virtual nodes, their LRMS view, and power requests."""
