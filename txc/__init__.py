"""txc package."""
