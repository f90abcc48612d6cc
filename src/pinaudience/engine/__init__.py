"""The sync engine: resolve the destination, plan, upload with a write-ahead journal, finish, report.

`sync` orders the steps and runs one or many audiences; `resolve` finds or creates the list and the
audience; `planning` plans against the state and checks the guards; `upload` sends the batches under
the write-ahead rule (`upload.send_batch`); `events` are what an observer sees; `report` holds the
per-audience and per-run reports.
"""
