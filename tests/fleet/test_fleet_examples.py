"""The fleet examples of docs/fleet.md parse and run what they say: the Airflow DAG and the Kubernetes CronJob."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
DAG = EXAMPLES / "airflow_pinaudience_dag.py"
CRONJOB = EXAMPLES / "pinaudience-cronjob.yaml"
SHARED_SECRETS = ("PINAUDIENCE_STATE", "PINAUDIENCE_RATE_LIMIT_URL")
"""The state (PostgreSQL) and rate limiter (Redis) URLs every job shares, as environment variables."""
TOML = """\
[pinterest]
ad_account_id = "549755885175"

[[audience]]
input = "vip.csv"
list_name = "VIP customers"

[[audience]]
name = "app users"
input = "app.csv"
list_name = "App users"
"""


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _strings(tree: ast.AST) -> str:
    return "\n".join(
        node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
    )


def test_the_dag_compiles_and_fans_out_one_sync_per_audience() -> None:
    """The DAG is valid Python (compiled, not imported: no Airflow here); it lists the names with
    `pinaudience audiences --json`, maps a task over every config, and expands one `sync --audience` per name."""
    source = DAG.read_text()
    tree = ast.parse(source, filename=str(DAG))
    compile(tree, str(DAG), "exec")
    text = _strings(tree)
    assert '"audiences", "--config", config, "--json"' in source
    assert " sync --config " in text
    assert " --audience " in text
    expands = {
        (call.func.value.id if isinstance(call.func.value, ast.Name) else "partial", kw.arg)
        for call in _calls(tree)
        if isinstance(call.func, ast.Attribute) and call.func.attr == "expand"
        for kw in call.keywords
    }
    assert expands == {("audiences", "config"), ("partial", "bash_command")}
    partial = next(
        call for call in _calls(tree) if isinstance(call.func, ast.Attribute) and call.func.attr == "partial"
    )
    assert {kw.arg for kw in partial.keywords} >= {"task_id", "env", "pool", "retries"}
    (env,) = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "SECRETS_ENV" for t in node.targets)
        and isinstance(node.value, ast.Dict)
    ]
    assert set(SHARED_SECRETS) <= {key.value for key in env.keys if isinstance(key, ast.Constant)}
    code_strings = text.replace(ast.get_docstring(tree) or "", "")
    assert "postgresql://" not in code_strings  # URLs with passwords come from Variables, never from the code
    assert "redis://" not in code_strings


def _container(manifest: dict[str, Any]) -> dict[str, Any]:
    (container,) = manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = container
    return result


def test_the_cronjob_runs_one_sync_per_audience_with_the_shared_urls_from_secrets() -> None:
    """The manifest is a CronJob of an Indexed Job; its pods run `pinaudience sync --config ... --audience ...` and
    get the state and rate-limit URLs (and the Pinterest secrets) from a Secret, never on the command line."""
    manifest = yaml.safe_load(CRONJOB.read_text())
    assert (manifest["apiVersion"], manifest["kind"]) == ("batch/v1", "CronJob")
    assert manifest["spec"]["concurrencyPolicy"] == "Forbid"
    job = manifest["spec"]["jobTemplate"]["spec"]
    assert job["completionMode"] == "Indexed"
    assert job["parallelism"] == 6
    container = _container(manifest)
    script = " ".join(container["args"])
    assert "pinaudience sync --config /etc/pinaudience/pinaudience.toml --audience" in script
    assert "pinaudience audiences --config /etc/pinaudience/pinaudience.toml" in script
    assert "postgresql://" not in script
    assert "redis://" not in script
    from_secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert set(SHARED_SECRETS) | {"PINTEREST_APP_SECRET", "PINTEREST_REFRESH_ACCESS_TOKEN"} <= from_secrets.keys()
    assert all(ref["name"] == "pinaudience" for ref in from_secrets.values())
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == "/etc/pinaudience"


def test_the_cronjob_pod_picks_the_audience_of_its_index(tmp_path: Path) -> None:
    """The pod's shell, run for real with the index of the second audience, syncs that audience by its name
    (the sync itself replaced by `echo`)."""
    config = tmp_path / "pinaudience.toml"
    config.write_text(TOML)
    script = " ".join(_container(yaml.safe_load(CRONJOB.read_text()))["args"])
    script = script.replace("/etc/pinaudience/pinaudience.toml", str(config))
    script = script.replace("exec pinaudience sync", "echo sync")
    script = script.replace("pinaudience audiences", f"{sys.executable} -m pinaudience audiences")
    env = {**os.environ, "JOB_COMPLETION_INDEX": "1"}
    done = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"sync --config {config} --audience app users --log-format json --quiet"
    past_the_end = subprocess.run(
        ["/bin/sh", "-c", script], capture_output=True, text=True, env={**env, "JOB_COMPLETION_INDEX": "2"}, timeout=60
    )
    assert past_the_end.returncode != 0  # an index past the file's audiences fails, it does not sync nothing


class _Recorder:
    """Stands in for Airflow's decorators and operator, recording what the DAG file builds."""

    def __init__(self) -> None:
        self.tasks: dict[str, Any] = {}
        self.dag_kwargs: dict[str, Any] = {}
        self.partial_kwargs: dict[str, Any] = {}
        self.expanded: dict[str, Any] = {}

    def module(self) -> dict[str, types.ModuleType]:
        recorder = self
        airflow = types.ModuleType("airflow")
        decorators = types.ModuleType("airflow.decorators")
        operators = types.ModuleType("airflow.operators")
        bash = types.ModuleType("airflow.operators.bash")

        def dag(**kwargs: Any) -> Any:
            recorder.dag_kwargs = kwargs
            return lambda function: function

        class _Task:
            def __init__(self, function: Any) -> None:
                self.function = function
                recorder.tasks[function.__name__] = self

            def __call__(self, *args: Any) -> Any:
                return ("called", self.function.__name__, args)

            def expand(self, **kwargs: Any) -> Any:
                recorder.expanded[self.function.__name__] = kwargs
                return ("expanded", self.function.__name__)

        class BashOperator:
            @staticmethod
            def partial(**kwargs: Any) -> Any:
                recorder.partial_kwargs = kwargs
                return BashOperator()

            def expand(self, **kwargs: Any) -> None:
                recorder.expanded["BashOperator"] = kwargs

        decorators.dag = dag  # type: ignore[attr-defined]
        decorators.task = _Task  # type: ignore[attr-defined]
        bash.BashOperator = BashOperator  # type: ignore[attr-defined]
        return {"airflow": airflow, "airflow.decorators": decorators, "airflow.operators": operators,
                "airflow.operators.bash": bash}  # fmt: skip


def test_the_dag_builds_one_quoted_sync_command_per_audience(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Executed with stand-ins for Airflow, the DAG maps over its configs and, run for real on a config, its
    first task turns `pinaudience audiences --json` into one `sync --audience` command per name, each quoted
    so that a shell hands the name over whole (spaces included)."""
    recorder = _Recorder()
    for name, module in recorder.module().items():
        monkeypatch.setitem(sys.modules, name, module)
    namespace: dict[str, Any] = {"__name__": "pinaudience_dag_under_test"}
    exec(compile(DAG.read_text(), str(DAG), "exec"), namespace)  # noqa: S102 - the repository's own example
    assert recorder.dag_kwargs["dag_id"] == "pinaudience_fleet"
    assert recorder.expanded["audiences"] == {"config": namespace["CONFIGS"]}
    assert recorder.expanded["BashOperator"] == {"bash_command": ("called", "flatten", (("expanded", "audiences"),))}
    assert recorder.partial_kwargs["env"] == namespace["SECRETS_ENV"]

    config = tmp_path / "pinaudience.toml"
    config.write_text(TOML)
    wrapper = tmp_path / "pinaudience-cli"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m pinaudience "$@"\n')
    wrapper.chmod(0o755)
    namespace["PINAUDIENCE"] = str(wrapper)
    commands = recorder.tasks["audiences"].function(str(config))
    assert len(commands) == 2
    assert recorder.tasks["flatten"].function([commands, ["x"]]) == [*commands, "x"]
    echo = tmp_path / "echo-args"
    echo.write_text(f'#!/bin/sh\nexec {sys.executable} -c "import json, sys; print(json.dumps(sys.argv[1:]))" "$@"\n')
    echo.chmod(0o755)
    argv = [json.loads(subprocess.run(["/bin/sh", "-c", c.replace(str(wrapper), str(echo))], capture_output=True,
                                      text=True, check=True).stdout) for c in commands]  # fmt: skip
    assert argv[1] == ["sync", "--config", str(config), "--audience", "app users", "--log-format", "json", "--quiet"]
    assert argv[0][4] == "VIP customers"
