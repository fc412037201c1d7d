"""Duplicate photos: find copies in a library, set them aside (apply) and put them back (undo)."""
