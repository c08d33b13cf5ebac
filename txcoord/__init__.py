"""txcoord package."""
