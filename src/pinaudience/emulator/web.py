"""The emulator's read-only web page at `/`: what Ads Manager would show after a sync.

Ad accounts, customer lists (status, counters, members and matched members), audiences (size, status, list),
conversion events received per ad account (counts) and the most recent Pinterest calls, as one server-rendered
HTML page with no script and no external asset. Names are user input, so every value is escaped, and a
Content-Security-Policy forbids scripts should one ever slip through. The page shows counts and ids only: never
a record, a token or a secret.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from pinaudience.emulator.conversions import event_counts_json
from pinaudience.emulator.pinterest_api import audience_json, list_status

if TYPE_CHECKING:
    from pinaudience.emulator.app import Emulator

MAX_ROWS = 200
"""Rows per table: the newest lists, audiences and calls (the page stays quick with thousands of lists)."""

REFRESH_MAX_S = 3600
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.4rem; margin: 0 0 .2rem; } h2 { font-size: 1.1rem; margin: 1.6rem 0 .4rem; }
table { border-collapse: collapse; } th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; }
th { background: #f3f3f3; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.meta, .note { color: #666; } .empty { color: #888; font-style: italic; }
"""


def routes(emu: Emulator) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        return render(emu, request)

    return [Route("/", page, methods=["GET"])]


def render(emu: Emulator, request: Request) -> Response:
    """The page; `?refresh=N` (1 to 3600) makes the browser reload it every N seconds."""
    refresh = request.query_params.get("refresh", "")
    refresh_s = int(refresh) if refresh.isascii() and refresh.isdigit() and len(refresh) <= 4 else 0
    head_refresh = f'<meta http-equiv="refresh" content="{refresh_s}">' if 1 <= refresh_s <= REFRESH_MAX_S else ""
    body = "\n".join(
        [
            "<h1>Pinterest emulator</h1>",
            f'<p class="meta">Emulator time {_esc(_time(emu.now()))} UTC. Read-only; '
            "the admin API is under <code>/_emulator/</code>, Pinterest's API under <code>/v5</code>.</p>",
            _ad_accounts(emu),
            _customer_lists(emu),
            _audiences(emu),
            _conversion_events(emu),
            _requests(emu),
        ]
    )
    document = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Pinterest emulator</title>{head_refresh}<style>{_STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )
    return HTMLResponse(
        document,
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-store"},
    )


def _ad_accounts(emu: Emulator) -> str:
    rows = [
        [account.id, account.name, account.owner, account.country, account.currency, _time(account.created_time)]
        for account in emu.store.ad_accounts()
    ]
    return _section(
        "ad-accounts", "Ad accounts", ["Id", "Name", "Owner", "Country", "Currency", "Created (UTC)"], rows, set()
    )


def _customer_lists(emu: Emulator) -> str:
    everything = emu.store.all_lists()
    newest = list(reversed(everything))[:MAX_ROWS]
    rows = [
        [
            c.name, str(c.id), c.ad_account_id, c.list_type, list_status(emu, c), c.num_batches, c.num_uploaded,
            c.num_removed, c.size, c.matched, _time(c.updated_time),
        ]
        for c in newest
    ]  # fmt: skip
    headers = ["Name", "Id", "Ad account", "Type", "Status", "Batches", "Uploaded records", "Removed records",
               "Members", "Matched members", "Updated (UTC)"]  # fmt: skip
    return _section("customer-lists", "Customer lists", headers, rows, {5, 6, 7, 8, 9}, total=len(everything))


def _audiences(emu: Emulator) -> str:
    everything = emu.store.all_audiences()
    newest = list(reversed(everything))[:MAX_ROWS]
    rows = []
    for audience in newest:
        shown = audience_json(emu, audience)
        size = "not known yet" if shown["size"] is None else shown["size"]
        status = "REMOVED" if audience.removed else shown["status"]
        rows.append(
            [audience.name, str(audience.id), audience.ad_account_id, audience.audience_type, size, status,
             str(audience.customer_list_id), _time(audience.updated_time)]
        )  # fmt: skip
    headers = ["Name", "Id", "Ad account", "Type", "Size", "Status", "Customer list", "Updated (UTC)"]
    return _section("audiences", "Audiences", headers, rows, {4}, total=len(everything))


def _conversion_events(emu: Emulator) -> str:
    counts = [event_counts_json(emu, account) for account in emu.store.conversion_accounts()]
    keys = ["ad_account_id", "received", "unique_event_ids", "reported", "events_failed", "requests", "test_requests",
            "test_events"]  # fmt: skip
    headers = ["Ad account", "Events recorded", "Distinct event ids", "Reported", "Events failed", "Calls",
               "Test calls", "Test events"]  # fmt: skip
    rows = [[c[key] for key in keys] for c in counts]
    return _section("conversion-events", "Conversion events", headers, rows, set(range(1, len(keys))))


def _requests(emu: Emulator) -> str:
    # The log holds no record values or tokens; only these fields are shown.
    recent = list(emu.requests)[-MAX_ROWS:][::-1]
    rows = [
        [
            _time(entry["at"]), entry["method"], entry["path"], entry["operation"],
            "dropped" if entry["status"] is None else entry["status"], entry["records"], entry.get("fault") or "",
        ]
        for entry in recent
    ]  # fmt: skip
    headers = ["Time (UTC)", "Method", "Path", "Operation", "Status", "Records", "Fault"]
    return _section("requests", "Last requests, newest first", headers, rows, {4, 5}, total=len(emu.requests))


def _section(
    anchor: str,
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    numeric: set[int],
    *,
    total: int | None = None,
) -> str:
    parts = [f'<section id="{anchor}"><h2>{_esc(title)}</h2>']
    if total is not None and total > len(rows):
        parts.append(f'<p class="note">Showing the {len(rows):,} newest of {total:,}.</p>')
    if not rows:
        parts.append('<p class="empty">None yet.</p></section>')
        return "".join(parts)
    parts.append("<table><thead><tr>")
    parts.extend(f'<th scope="col">{_esc(h)}</th>' for h in headers)
    parts.append("</tr></thead><tbody>")
    parts.extend(_row(row, numeric) for row in rows)
    parts.append("</tbody></table></section>")
    return "".join(parts)


def _row(cells: Iterable[Any], numeric: set[int]) -> str:
    return "<tr>" + "".join(_cell(i, value, numeric) for i, value in enumerate(cells)) + "</tr>"


def _cell(index: int, value: Any, numeric: set[int]) -> str:
    if index in numeric and isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="n">{value:,}</td>'
    return f"<td>{_esc(value)}</td>"


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _time(unix_s: float) -> str:
    try:
        return dt.datetime.fromtimestamp(unix_s, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):  # the admin clock can be moved past year 9999
        return f"{unix_s:.0f}"
