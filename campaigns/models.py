"""campaigns models (built by later issues)."""
