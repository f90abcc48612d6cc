"""Events upload utilisation: how close `pinaudience events` comes to the `ads_conversions` limit, on a real socket.

    python benchmarks/events_upload.py                          # 500 calls of 10 events at 5,000/60 s
    python benchmarks/events_upload.py --calls 100 --scale 0.2  # a quick look: 1,000 calls per 5 minutes

The emulator runs as `pinaudience emulator serve` in a process of its own; its `ads_conversions` limit is
Pinterest's (5,000 calls a minute per ad account) with the window divided by `--scale` (and the overall
per-second limit multiplied by it), and the client's `ads_conversions_limit` is set to the same. The file holds
`calls x batch_size` distinct events, sent in batches of `--batch-size` (small batches, so that the limit on
calls, not the emulator's judging of events, is what bounds the run). Figure: events/create calls per window
achieved during the upload (calls / upload seconds x window) divided by the ceiling; goal at least 0.95, with zero
429s. Also checks that the emulator recorded every event once (no loss, no double count), and that a rerun sends
nothing. Exits with status 1 if the run failed or an event was lost.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

from measure import load, machine
from pinaudience.config import Credentials, EventsSettings, PinterestSettings, Secret, Settings
from pinaudience.engine.conversions import send_events_file
from pinaudience.engine.events import PhaseStarted, UploadProgress
from pinaudience.pinterest import limits
from served import Server

REAL = limits.ADS_CONVERSIONS


def write_events(path: Path, count: int) -> None:
    when = int(time.time()) - 600
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("email", "event_time", "order_id"))
        writer.writerows((f"buyer{i}@example.com", when, f"A-{i}") for i in range(count))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=500, help="events/create calls the file needs")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--scale", type=float, default=1.0, help="Pinterest's window divided by this")
    parser.add_argument("--in-flight", type=int, default=4, help="writes_in_flight of the client")
    args = parser.parse_args()

    window = REAL.window_s / args.scale
    per_second = round(limits.STANDARD.per_second * args.scale)
    events = args.calls * args.batch_size
    with tempfile.TemporaryDirectory() as tmp, Server() as server:
        root = Path(tmp)
        server.reset()
        server.call("PUT", "/settings", {"ads_conversions_per_window": REAL.requests, "window_s": window,
                                         "per_second": per_second})  # fmt: skip
        path = root / "events.csv"
        write_events(path, events)
        pinterest = PinterestSettings(
            ad_account_id=server.ad_account_id,
            credentials=Credentials(access_token=Secret(server.access_token)),
            api_base=server.api_base,
            ads_conversions_limit=limits.RateLimit(REAL.requests, window),
            per_second=per_second,
            writes_in_flight=args.in_flight,
        )
        spec = EventsSettings(input=path, event_name="checkout", action_source="web", batch_size=args.batch_size)
        settings = Settings(pinterest=pinterest, state=str(root / "state"), events=(spec,))
        marks: dict[str, float] = {}

        def observe(event: object) -> None:
            if isinstance(event, PhaseStarted) and event.phase == "uploading":
                marks["upload_started"] = time.monotonic()
            elif isinstance(event, UploadProgress):
                marks["upload_done"] = time.monotonic()

        started = time.monotonic()
        report = send_events_file(settings, observer=observe)
        wall = time.monotonic() - started
        if report.status != "ok":
            print(f"the run failed: {report.error}")
            return 1
        calls = [c for c in server.requests() if c["operation"] == "events/create"]
        calls_429 = sum(1 for c in calls if c["status"] == 429)
        counts = server.call("GET", f"/ad_accounts/{server.ad_account_id}/events")
        again = send_events_file(settings)

    upload_s = marks.get("upload_done", 0.0) - marks.get("upload_started", 0.0)
    achieved = report.batches / upload_s * window if upload_s else 0.0
    ratio = achieved / REAL.requests
    no_loss = counts["unique_event_ids"] == counts["received"] == events
    print(f"machine: {machine()}; load: {load()}")
    print(f"ads_conversions: {REAL.requests} calls per {window:.2f} s (Pinterest's per {REAL.window_s:.0f} s / "
          f"{args.scale:g}); {args.in_flight} calls in flight; {args.batch_size} events a call")  # fmt: skip
    print(f"events: {events:,} in {report.batches:,} calls; upload {upload_s:.2f} s (whole run {wall:.2f} s)")
    print(f"calls per window achieved / ceiling = {achieved:.0f} / {REAL.requests} = ratio {ratio:.3f} (goal 0.95)")
    print(f"429s: {calls_429} seen by the server, {report.requests.get('rate_limited', 0)} by the client")
    print(f"no loss, no double count (every event recorded once): {'yes' if no_loss else 'NO'}")
    print(f"rerun sends nothing: {'yes' if again.sent == 0 and again.already_acknowledged == events else 'NO'}")
    return 0 if no_loss and again.sent == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
