"""Input and output: listing and reading photos in a folder or a bucket, the Delta tables at DST, and
readers of labelled files."""
