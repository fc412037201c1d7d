"""facepipe from Python, as a notebook uses it: embed a folder of photos, find the people and the copies,
then read the results, through the public API only (`from pipeline import ...`).

    python docs/examples/python_api.py ~/Pictures ./faces-out

CI runs this script on a few dozen LFW photos (tests/integration/test_docs_example.py).
"""

import sys

import pyarrow.compute as pc

from pipeline import cluster, deduplicate, embed, load_config, read_table

photos, tables = sys.argv[1], sys.argv[2]
config = load_config()  # the defaults; load_config("my.yaml", ["cluster.method=hdbscan"]) layers a file and overrides

# Each job takes the library's lease, records its run in the runs table and returns a typed result.
embedded = embed(photos, tables, config)
print(f"embed: {embedded.processed} photos read, {embedded.faces} faces, {embedded.photos_per_s:.1f} photos/s")

people = cluster(tables, config)
print(f"cluster: {people.clusters} people among {people.faces} faces ({people.merge_rule['why']})")

copies = deduplicate(tables, config)
print(f"dedup: {copies.groups} groups of copies, {copies.bytes_reclaimable} bytes reclaimable")

# The tables are Arrow tables (pandas, DuckDB and Ray read them too).
clusters = read_table(tables, "clusters")
named = clusters.filter(pc.greater_equal(clusters["cluster_id"], 0))
sizes = (
    named.group_by("cluster_id").aggregate([("uri", "count_distinct")]).sort_by([("uri_count_distinct", "descending")])
)
for row in sizes.slice(0, 5).to_pylist():
    print(f"person {row['cluster_id']}: {row['uri_count_distinct']} photos")

for row in read_table(tables, "duplicates").sort_by("group_id").to_pylist():
    print(f"duplicate group {row['group_id'][:8]}: {row['role']:9} {row['kind']:14} {row['uri']}")

# One run, one id: the run ids the results returned are the rows' run_id and the runs table's.
runs = read_table(tables, "runs")
assert set(runs["run_id"].to_pylist()) >= {embedded.run_id, people.run_id, copies.run_id}
for row in runs.sort_by("started_at").to_pylist():
    print(f"run {row['run_id']}: {row['command']} -> exit {row['exit_code']}")
