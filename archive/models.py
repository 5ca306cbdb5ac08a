"""archive models (built by later issues)."""
