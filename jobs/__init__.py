"""Thin entry points of the facepipe jobs and the CLI that maps verbs to them."""
