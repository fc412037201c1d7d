"""Erasure: what remains of a library's, a photo's or a face's data under DST (audit)."""
