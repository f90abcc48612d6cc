"""The sync engine: resolve the destination, plan, upload with a write-ahead journal, finish, report.

`sync` runs one or many audiences; `report` holds the per-audience and per-run reports.
"""
