"""The framework's HTTP API: CLUES' LRMS view and power requests (later the dashboard)."""
