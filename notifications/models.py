"""notifications models (built by later issues)."""
