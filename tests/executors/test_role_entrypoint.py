"""The role entrypoint run as a real subprocess in a temporary HTCMESOS_ROOT."""

from __future__ import annotations

import json
import stat
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CONFIG = 'use ROLE : Execute\nHTCMESOS_TASK_ID = "$ENV(HTCMESOS_TASK_ID)"\nSTARTD_ATTRS = $(STARTD_ATTRS) HTCMESOS_TASK_ID\n'


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def get(url: str, timeout: float = 10.0) -> "tuple[int, dict]":
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def assert_no_secrets(result, secret_values) -> None:
    for value in secret_values:
        assert value not in result.output


def test_executor_start_installs_secrets_config_and_execs_master(role_root, run_entrypoint, b64_config, secret_values):
    role_root.mount_pool_key()
    role_root.mount_token("executor.token")
    role_root.put("/etc/condor/tokens-orig.d/.hidden", "x")
    role_root.path("/etc/condor/tokens-orig.d/subdir").mkdir()
    role_root.path("/etc/condor/passwords.d").mkdir(parents=True, mode=0o755)
    role_root.path("/etc/condor/passwords.d").chmod(0o755)

    result = run_entrypoint(env={"HTCMESOS_ROLE": "executor", "HTCMESOS_TASK_ID": "exec.site-a.42",
                                 "HTCMESOS_CONDOR_CONFIG_B64": b64_config(CONFIG)})

    assert result.returncode == 0, result.output
    # exec, not spawn: condor_master replaced the entrypoint process
    assert result.record is not None
    assert result.record["pid"] == result.pid
    assert result.record["argv"][1:] == ["-f"]
    assert result.record["env"]["HTCMESOS_ROLE"] == "executor"

    passwords = role_root.path("/etc/condor/passwords.d")
    tokens = role_root.path("/etc/condor/tokens.d")
    assert mode(passwords) == 0o700 and mode(tokens) == 0o700
    assert mode(passwords / "POOL") == 0o600 and mode(tokens / "executor.token") == 0o600
    assert (passwords / "POOL").read_bytes() == role_root.path("/etc/condor/passwords-orig.d/POOL").read_bytes()
    assert (tokens / "executor.token").read_bytes() == role_root.path("/etc/condor/tokens-orig.d/executor.token").read_bytes()
    assert sorted(p.name for p in tokens.iterdir()) == ["executor.token"]

    written = role_root.path("/etc/condor/config.d/50-htcmesos.conf").read_text()
    assert written.startswith("#") and written.endswith(CONFIG)
    assert "POOL" in result.stderr and "executor.token" in result.stderr
    assert_no_secrets(result, secret_values)
    assert result.health_pid is not None


def test_health_server_started_by_entrypoint_answers(role_root, run_entrypoint, b64_config):
    role_root.mount_token()
    result = run_entrypoint(["executor"], env={"HTCMESOS_TASK_ID": "t-1", "HTCMESOS_CONDOR_CONFIG_B64": b64_config(CONFIG)})
    assert result.returncode == 0, result.output
    base = "http://127.0.0.1:%d" % result.health_port
    status, body = get(base + "/health")
    assert status == 503  # no collector at HTCMESOS_MASTER_ADDRESS=127.0.0.1:1
    assert body["ok"] is False and body["role"] == "executor" and body["detail"]
    assert get(base + "/nothing-here")[0] == 404


def test_config_from_mounted_files_sorted_and_role_from_argv(role_root, run_entrypoint, secret_values):
    role_root.mount_token("submit.token")
    role_root.put("/etc/htcmesos/config.d/20-second.conf", "SECOND = 2")
    role_root.put("/etc/htcmesos/config.d/10-first.conf", "FIRST = 1\n")
    role_root.put("/etc/htcmesos/config.d/notes.txt", "IGNORED = yes\n")

    result = run_entrypoint(["submitter"])

    assert result.returncode == 0, result.output
    assert result.record["env"]["HTCMESOS_ROLE"] == "submitter"
    text = role_root.path("/etc/condor/config.d/50-htcmesos.conf").read_text()
    assert text.index("FIRST = 1\n") < text.index("SECOND = 2\n")
    assert "IGNORED" not in text
    assert_no_secrets(result, secret_values)


def test_b64_config_wins_over_mounted_files(role_root, run_entrypoint, b64_config):
    role_root.mount_pool_key()
    role_root.put("/etc/htcmesos/config.d/10-file.conf", "FROM_FILE = 1\n")
    wrapped = "\n".join(b64_config(CONFIG)[i:i + 20] for i in range(0, len(b64_config(CONFIG)), 20))
    result = run_entrypoint(["master"], env={"HTCMESOS_CONDOR_CONFIG_B64": wrapped})
    assert result.returncode == 0, result.output
    text = role_root.path("/etc/condor/config.d/50-htcmesos.conf").read_text()
    assert text.endswith(CONFIG) and "FROM_FILE" not in text


def test_token_only_executor_needs_no_password_dir(role_root, run_entrypoint, b64_config):
    role_root.mount_token()
    result = run_entrypoint(["executor"], env={"HTCMESOS_CONDOR_CONFIG_B64": b64_config(CONFIG)})
    assert result.returncode == 0, result.output
    assert mode(role_root.path("/etc/condor/passwords.d")) == 0o700


def test_master_with_only_a_token_warns(role_root, run_entrypoint, b64_config):
    role_root.mount_token()
    result = run_entrypoint(["master"], env={"HTCMESOS_CONDOR_CONFIG_B64": b64_config(CONFIG)})
    assert result.returncode == 0, result.output
    assert "warning" in result.stderr and "signing key" in result.stderr


@pytest.mark.parametrize(
    "case, args, env, files, code, message",
    [
        ("no config", ["executor"], {}, {}, 1, "no HTCondor config"),
        ("bad base64", ["executor"], {"HTCMESOS_CONDOR_CONFIG_B64": "not*base64!"}, {}, 1, "not valid base64"),
        ("NUL in b64 config", ["executor"], {"HTCMESOS_CONDOR_CONFIG_B64": "QT0xAEI9Mg=="}, {}, 1, "NUL byte"),
        ("NUL in mounted config", ["executor"], {}, {"/etc/htcmesos/config.d/a.conf": b"A=1\x00"}, 1, "a.conf contains a NUL byte"),
        ("empty config", ["executor"], {"HTCMESOS_CONDOR_CONFIG_B64": "ICAK"}, {}, 1, "is empty"),
        ("unknown role", ["scheduler"], {"HTCMESOS_CONDOR_CONFIG_B64": "QT0x"}, {}, 2, "unknown role 'scheduler'"),
        ("unknown env role", [], {"HTCMESOS_ROLE": "worker", "HTCMESOS_CONDOR_CONFIG_B64": "QT0x"}, {}, 2, "unknown role 'worker'"),
        ("no role", [], {"HTCMESOS_CONDOR_CONFIG_B64": "QT0x"}, {}, 2, "no role given"),
        ("inherited CMD", ["/bin/bash", "-x", "/start.sh"], {}, {}, 2, "at most one argument"),
        ("bad health port", ["executor"], {"HTCMESOS_CONDOR_CONFIG_B64": "QT0x", "HTCMESOS_HEALTH_PORT": "http"}, {}, 1, "HTCMESOS_HEALTH_PORT"),
    ],
)
def test_setup_errors_exit_non_zero_naming_the_problem(role_root, run_entrypoint, secret_values,
                                                      case, args, env, files, code, message):
    role_root.mount_pool_key()
    role_root.mount_token()
    for path, data in files.items():
        role_root.put(path, data)
    result = run_entrypoint(args, env=env)
    assert result.returncode == code, result.output
    assert message in result.stderr, result.stderr
    assert "error:" in result.stderr
    assert result.record is None  # condor_master never ran
    assert result.health_pid is None
    assert_no_secrets(result, secret_values)


@pytest.mark.parametrize("empty_key", [False, True])
def test_no_secrets_is_an_error(role_root, run_entrypoint, b64_config, empty_key):
    if empty_key:
        role_root.put("/etc/condor/passwords-orig.d/POOL", b"")
    result = run_entrypoint(["submitter"], env={"HTCMESOS_CONDOR_CONFIG_B64": b64_config(CONFIG)})
    assert result.returncode == 1
    assert "no HTCondor credentials" in result.stderr
    assert "passwords-orig.d" in result.stderr and "tokens-orig.d" in result.stderr
    assert result.record is None


def test_missing_condor_master_stops_health_server(role_root, run_entrypoint, b64_config, secret_values, process_alive):
    role_root.mount_pool_key()
    result = run_entrypoint(["master"], env={"HTCMESOS_CONDOR_CONFIG_B64": b64_config(CONFIG)},
                            exec_cmd="/nonexistent/condor_master -f")
    assert result.returncode == 127
    assert "cannot exec /nonexistent/condor_master" in result.stderr
    assert result.health_pid is not None
    deadline = time.monotonic() + 5
    while process_alive(result.health_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(result.health_pid)
    assert_no_secrets(result, secret_values)


def _bundle(files: "dict[str, bytes]") -> str:
    import base64
    return json.dumps({name: base64.b64encode(data).decode("ascii") for name, data in files.items()})


def test_marathon_bundle_installs_credentials_and_never_reaches_the_daemons(
        role_root, run_entrypoint, b64_config, secret_values):
    # Marathon mode: the credentials arrive as one environment secret, the task id as
    # Mesos' MESOS_TASK_ID (Marathon names the tasks)
    pool, token = secret_values[0].encode(), secret_values[1].encode()
    result = run_entrypoint(["executor"], env={
        "HTCMESOS_CONDOR_CONFIG_B64": b64_config(CONFIG),
        "HTCMESOS_CREDENTIALS": _bundle({"passwords/HTCMESOS_EXECUTORS": pool,
                                         "tokens/executor": token}),
        "MESOS_TASK_ID": "htcondor_p1_executor-dc.instance-1234._app.1"})
    assert result.returncode == 0, result.output
    passwords = role_root.path("/etc/condor/passwords.d")
    tokens = role_root.path("/etc/condor/tokens.d")
    assert (passwords / "HTCMESOS_EXECUTORS").read_bytes() == pool
    assert (tokens / "executor").read_bytes() == token
    assert mode(passwords / "HTCMESOS_EXECUTORS") == 0o600 and mode(tokens) == 0o700
    env = result.record["env"]
    assert "HTCMESOS_CREDENTIALS" not in env
    assert env["HTCMESOS_TASK_ID"] == "htcondor_p1_executor-dc.instance-1234._app.1"
    assert_no_secrets(result, secret_values)


@pytest.mark.parametrize("bundle, named", [
    ("not json", "not a JSON object"),
    ("{}", "non-empty JSON object"),
    ('{"keys/POOL": "eA=="}', "'keys/POOL' is not passwords/NAME"),
    ('{"passwords/../POOL": "eA=="}', "is not passwords/NAME"),
    ('{"tokens/executor": "not base64!"}', "'tokens/executor' is not base64"),
])
def test_a_bad_marathon_bundle_is_named_not_shown(role_root, run_entrypoint, b64_config,
                                                 bundle, named):
    result = run_entrypoint(["submitter"], env={"HTCMESOS_CONDOR_CONFIG_B64": b64_config(CONFIG),
                                               "HTCMESOS_CREDENTIALS": bundle})
    assert result.returncode == 1
    assert "HTCMESOS_CREDENTIALS" in result.stderr and named in result.stderr
    assert result.record is None
