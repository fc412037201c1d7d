"""How results are scored: verification over labelled pairs, open-set identification, clustering."""
