"""The raw store: every event as its producer sent it, compressed in units, with one small index row each.

keys.py names rows (event and session keys), codec.py compresses units, layout.py is the shape of an
index row, writer.py inserts a batch in one transaction, units.py reads events back, repack.py merges
small units, archive.py moves old ones to Parquet and back, progress.py records what each session has
stored. The fast path (telemetry.ingest) writes here; the slow path, selectors and admin read here.
"""
