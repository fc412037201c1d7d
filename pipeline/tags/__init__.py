"""Names people give to faces: tag files, the tags table at DST, renames and removals."""
