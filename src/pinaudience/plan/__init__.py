"""The planner: desired records x confirmed membership -> adds and removes (`planner`), and the sync
modes (`mode`). Pure: no I/O beyond the record sets it is given.
"""
