"""realphoto."""
