"""numpy reference of segevo._core."""
