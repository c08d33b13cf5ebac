"""dbproxy package."""
