"""The read-only web page at `/`: in process for its content, and in a real headless chromium for what a person sees."""

from __future__ import annotations

import html
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pinaudience.clock import FakeClock
from pinaudience.emulator import (
    RID_HEADER,
    SEED_ACCESS_TOKEN,
    SEED_AD_ACCOUNT_ID,
    SEED_APP_SECRET,
    SEED_REFRESH_TOKEN,
    Emulator,
    serving,
)
from pinaudience.emulator.web import MAX_ROWS
from tests.emulator.emulator_helpers import (
    audiences_url,
    conversion_event,
    create_audience,
    create_list,
    emails,
    events_url,
    lists_url,
    update_list,
)

HTML_NAME = '<b id="injected">VIP</b> & "friends" <script>document.title = "pwned"</script>'
"""A list name a person could type in a CDP: it must show as text, never as markup."""

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these chromium reaches out to Google's services, and on a closed network its connections fail.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str | None:
    found = shutil.which("chromium")
    if found is not None:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


async def _page(client: httpx.AsyncClient, query: str = "") -> str:
    response = await client.get("/" + query)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def _section(page: str, anchor: str) -> str:
    start = page.index(f'<section id="{anchor}">')
    return page[start : page.index("</section>", start)]


@pytest.mark.anyio
async def test_page_counts_conversion_events(emulator_client: httpx.AsyncClient) -> None:
    """Conversion events show as counts per ad account (received, distinct, failed, calls, test calls), no values."""
    events = [conversion_event(1), conversion_event(1), conversion_event(2, user_data={"em": ["plain@example.com"]})]
    await emulator_client.post(events_url(), json={"data": events})
    await emulator_client.post(events_url(), json={"data": events[:1]}, params={"test": "true"})
    section = _section(await _page(emulator_client), "conversion-events")
    row = section[section.index(f"<td>{SEED_AD_ACCOUNT_ID}</td>") :]
    cells = [cell.split("</td>")[0] for cell in row.split('<td class="n">')[1:8]]
    assert cells == ["2", "1", "1", "1", "1", "1", "1"]
    assert "plain@example.com" not in section
    assert "order-1" not in section


@pytest.mark.anyio
async def test_page_shows_accounts_lists_audiences_and_requests(emulator_client: httpx.AsyncClient) -> None:
    """After a create, an update and an audience, the page shows each with its ids, counters, size and status."""
    created = await create_list(emulator_client, emails(400), name="Newsletter")
    updated = (await update_list(emulator_client, created["id"], "REMOVE", emails(3))).json()
    audience = (await create_audience(emulator_client, created["id"], name="Newsletter audience")).json()
    records = (await emulator_client.get(f"/_emulator/customer_lists/{created['id']}/records")).json()["records"]
    matched = audience["size"]

    page = await _page(emulator_client)

    assert SEED_AD_ACCOUNT_ID in _section(page, "ad-accounts")
    lists = _section(page, "customer-lists")
    for cell in ("Newsletter", created["id"], updated["status"], "2", "400", "3", f"{len(records):,}", str(matched)):
        assert f">{cell}</td>" in lists, cell
    audiences = _section(page, "audiences")
    for cell in ("Newsletter audience", audience["id"], str(matched), audience["status"], created["id"]):
        assert f">{cell}</td>" in audiences, cell
    calls = _section(page, "requests")
    assert calls.index("audiences/create") < calls.index("customer_lists/update") < calls.index("customer_lists/create")
    assert f">{lists_url()}</td>" in calls
    assert f">{audiences_url()}</td>" in calls


@pytest.mark.anyio
async def test_page_escapes_names(emulator_client: httpx.AsyncClient) -> None:
    """A list name holding HTML reaches the page escaped: no tag or script of it survives as markup."""
    created = await create_list(emulator_client, emails(200), name=HTML_NAME)
    await create_audience(emulator_client, created["id"], name=HTML_NAME)

    page = await _page(emulator_client)

    assert page.count(html.escape(HTML_NAME, quote=True)) == 2
    assert "<script" not in page
    assert 'id="injected"' not in page


@pytest.mark.anyio
async def test_page_never_shows_records_or_secrets(emulator_client: httpx.AsyncClient) -> None:
    """Records, tokens and the app secret never reach the page, only counts and ids."""
    sent = emails(150, domain="private.example")
    created = await create_list(emulator_client, sent)
    await update_list(emulator_client, created["id"], "ADD", ["late@private.example"])

    page = await _page(emulator_client)

    assert "private.example" not in page
    for secret in (SEED_ACCESS_TOKEN, SEED_REFRESH_TOKEN, SEED_APP_SECRET):
        assert secret not in page


@pytest.mark.anyio
async def test_page_marks_removed_audiences_and_dropped_calls(emulator_client: httpx.AsyncClient) -> None:
    """A removed audience shows REMOVED (it is gone from the API), and a dropped call shows as dropped."""
    created = await create_list(emulator_client, emails(300))
    audience = (await create_audience(emulator_client, created["id"], name="Old audience")).json()
    removed = await emulator_client.patch(f"{audiences_url()}/{audience['id']}", json={"operation_type": "REMOVE"})
    assert removed.status_code == 200
    plan = {"rules": [{"operation": "customer_lists/get", "calls": [1], "drop": True}]}
    assert (await emulator_client.put("/_emulator/faults", json=plan)).status_code == 200
    with pytest.raises(httpx.RemoteProtocolError):
        await emulator_client.get(f"{lists_url()}/{created['id']}")

    page = await _page(emulator_client)

    assert ">REMOVED</td>" in _section(page, "audiences")
    calls = _section(page, "requests")
    assert ">dropped</td>" in calls
    assert ">drop</td>" in calls


@pytest.mark.anyio
async def test_page_headers_forbid_scripts(emulator_client: httpx.AsyncClient) -> None:
    """The page carries a request id, is never cached and its Content-Security-Policy allows no script."""
    response = await emulator_client.get("/")
    assert response.headers[RID_HEADER]
    assert response.headers["cache-control"] == "no-store"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy


@pytest.mark.anyio
@pytest.mark.parametrize(("query", "meta"), [("?refresh=5", True), ("?refresh=0", False), ("?refresh=x", False),
                                             ("?refresh=99999", False), ("", False)])  # fmt: skip
async def test_page_refreshes_only_when_asked(emulator_client: httpx.AsyncClient, query: str, meta: bool) -> None:
    """`?refresh=N` with N from 1 to 3600 reloads the page every N seconds; anything else is ignored."""
    page = await _page(emulator_client, query)
    assert ('http-equiv="refresh"' in page) is meta


@pytest.mark.anyio
async def test_page_shows_only_the_newest_rows(clock: FakeClock) -> None:
    """With more lists than fit, the page shows the newest and says how many there are."""
    emulator = Emulator(clock=clock)
    for index in range(MAX_ROWS + 5):
        emulator.store.create_list(
            ad_account_id=SEED_AD_ACCOUNT_ID, name=f"list-{index}", list_type="EMAIL", records=[],
            match_rate=0.5, now=clock.now(), processing_until=0.0,
        )  # fmt: skip
    async with httpx.AsyncClient(transport=emulator.transport(), base_url="http://emulator.test") as client:
        lists = _section(await _page(client), "customer-lists")
    emulator.close()
    assert f"Showing the {MAX_ROWS} newest of {MAX_ROWS + 5}." in lists
    assert f">list-{MAX_ROWS + 4}</td>" in lists
    assert ">list-4</td>" not in lists


# --- a real browser ----------------------------------------------------------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[str, httpx.Client]]:
    """The emulator on a loopback port, and a client of its API authorised with the seed token."""
    emulator = Emulator()
    with (
        serving(emulator) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {SEED_ACCESS_TOKEN}"}) as client,
    ):
        yield url, client
    emulator.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Playwright; skips where either is missing."""
    executable = _chromium()
    if executable is None:
        pytest.skip("no chromium installed (`apt-get install chromium`; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is in the `test` extra")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, timeout=30_000)
        try:
            yield launched
        finally:
            launched.close()


@pytest.mark.browser
def test_browser_shows_what_a_sync_did(served: tuple[str, httpx.Client], browser: Any) -> None:
    """In chromium the page shows the list and audience made through the API, and an HTML name as plain text."""
    url, client = served
    records = ",".join(emails(300))
    created = client.post(lists_url(), json={"name": HTML_NAME, "records": records})
    assert created.status_code == 200, created.text
    list_id = created.json()["id"]
    audience = client.post(
        audiences_url(),
        json={"audience_type": "CUSTOMER_LIST", "name": "Browser audience", "rule": {"customer_list_id": list_id}},
    )
    assert audience.status_code == 200, audience.text

    page = browser.new_page()
    page.set_default_timeout(10_000)
    page.goto(url + "/")

    assert page.title() == "Pinterest emulator"
    lists = page.locator("#customer-lists")
    assert HTML_NAME in lists.inner_text()
    assert list_id in lists.inner_text()
    assert page.locator("#injected").count() == 0
    assert page.locator("script").count() == 0
    audiences = page.locator("#audiences").inner_text()
    assert "Browser audience" in audiences
    assert str(audience.json()["size"]) in audiences
    assert list_id in audiences
    calls = page.locator("#requests tbody tr")
    assert calls.count() == 2
    assert "audiences/create" in calls.nth(0).inner_text()
    assert "customer_lists/create" in calls.nth(1).inner_text()
