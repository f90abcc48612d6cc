"""Record sets: distinct records in a stable (hash prefix, record) order, in memory or spilled to disk.

Pure: imports nothing from pinaudience but `support`. `recordset` is the one module.
"""
