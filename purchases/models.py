"""purchases models (built by later issues)."""
