"""Airflow DAG: every night, one `pinaudience sync` task per audience, fanned out with dynamic task mapping.

docs/fleet.md explains the fleet this runs. In short: one config file per ad account lists its audiences
(`[[audience]]` tables, each with a distinct `name`); `pinaudience audiences --config FILE --json` prints their
names; each name becomes one mapped task running `pinaudience sync --config FILE --audience NAME`. Every task
shares the state and the tokens (PostgreSQL) and the rate limiter (Redis) through the environment, so the
fleet never overruns the limits of its one Pinterest user and app, and a rotated refresh token is never lost.

Needs Airflow 2.4 or later (dynamic task mapping; the `schedule` argument), the `pinaudience` command on the
workers, an Airflow pool `pinterest_api` (6 slots, say: how many syncs run at once for this Pinterest user and
app), and these Airflow Variables (keep the secret ones in a secrets backend):

- `pinterest_app_id`, `pinterest_app_secret`: the Pinterest app;
- `pinterest_refresh_token`: the refresh token of the first `pinaudience auth login` (a seed: the rotated
  tokens live in the PostgreSQL state from then on);
- `pinaudience_state`: `postgresql://USER:PASSWORD@HOST:5432/pinaudience`;
- `pinaudience_rate_limit_url`: `redis://:PASSWORD@HOST:6379/0`.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from datetime import datetime, timedelta, timezone

from airflow.decorators import dag, task
from airflow.operators.bash import BashOperator

PINAUDIENCE = "/opt/pinaudience/.venv/bin/pinaudience"
CONFIGS = [
    "/opt/pinaudience/config/account-549755885175.toml",
    "/opt/pinaudience/config/account-549755885176.toml",
    "/opt/pinaudience/config/account-549755885177.toml",
]
"""One config file per ad account, each with its [[audience]] tables (docs/fleet.md, "One audience per job")."""

SECRETS_ENV = {
    "PINTEREST_APP_ID": "{{ var.value.pinterest_app_id }}",
    "PINTEREST_APP_SECRET": "{{ var.value.pinterest_app_secret }}",
    "PINTEREST_REFRESH_ACCESS_TOKEN": "{{ var.value.pinterest_refresh_token }}",
    "PINAUDIENCE_STATE": "{{ var.value.pinaudience_state }}",
    "PINAUDIENCE_RATE_LIMIT_URL": "{{ var.value.pinaudience_rate_limit_url }}",
}
"""Secrets reach the command through its environment, never its command line (which Airflow shows and logs)."""


@dag(
    dag_id="pinaudience_fleet",
    schedule="30 2 * * *",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["pinterest", "pinaudience"],
    doc_md=__doc__,
)
def pinaudience_fleet() -> None:
    @task
    def audiences(config: str) -> list[str]:
        """The names of one config file's audiences (`pinaudience audiences --json`: reads the file only)."""
        done = subprocess.run(
            [PINAUDIENCE, "audiences", "--config", config, "--json"], capture_output=True, text=True, check=True
        )
        names: list[str] = json.loads(done.stdout)["names"]
        return [
            f"{PINAUDIENCE} sync --config {shlex.quote(config)} --audience {shlex.quote(name)} "
            "--log-format json --quiet"
            for name in names
        ]

    @task
    def flatten(per_config: list[list[str]]) -> list[str]:
        """One list of commands over every config file."""
        return [command for commands in per_config for command in commands]

    commands = flatten(audiences.expand(config=CONFIGS))

    # One mapped task per audience. Exit code 1 is an error a person can fix, or a passing one (rate_limited,
    # pinterest_unavailable, state_locked, state_error while PostgreSQL restarts): the retries cover the passing
    # ones, and a rerun resends at most what was in flight. Exit code 2 is a bug.
    BashOperator.partial(
        task_id="sync",
        env=SECRETS_ENV,
        append_env=True,
        pool="pinterest_api",
        retries=2,
        retry_delay=timedelta(minutes=5),
        execution_timeout=timedelta(hours=2),
    ).expand(bash_command=commands)


pinaudience_fleet()
