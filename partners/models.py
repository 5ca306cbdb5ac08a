"""partners models (built by later issues)."""
