"""Record sets: distinct records in a stable (hash prefix, record) order, in memory or spilled to disk.

Pure: imports nothing from pinaudience but `support`. `recordset` holds the sets; `distinct` counts distinct
strings exactly without keeping a set.
"""
