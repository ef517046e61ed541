"""The htcmesos CLI: exit codes, help, and no secret in any output."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from framework.cli import cli
from framework.spec import load_spec
from tests.conftest import EXAMPLES, ROOT

SECRET = "S3cr3t-Pool-Key-0xDEADBEEF"
MESOS_SECRET = "m3sos-Principal-Secret-42"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_validate_example_ok():
    code, out = run("validate", str(EXAMPLES / "two-sites.yaml"))
    assert code == 0, out
    assert "valid" in out and "campus (private" in out


def test_validate_reports_all_three_problems_exit_2(tmp_path):
    text = (EXAMPLES / "two-sites.yaml").read_text()
    text = text.replace("    private: true", "    privat: true").replace("cpus: 8", "cpus: -8") \
        .replace("executors: {min: 0, max: 30}", "executors: {min: 40, max: 30}")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "framework.cli", "validate", str(bad)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    lines = {n + 1: line for n, line in enumerate(text.splitlines())}
    found = {}
    for path, needle in [("sites[1].privat", "privat: true"),
                         ("roles.executor.cpus", "cpus: -8"),
                         ("sites[1].executors.min", "min: 40")]:
        line = next(n for n, t in lines.items() if needle in t)
        found[path] = line
        assert f"{bad}:{line}: {path}: " in proc.stderr, proc.stderr
    assert "3 problem(s)" in proc.stderr
    assert len(set(found.values())) == 3


def test_render_config_prints_executor_config():
    code, out = run("render-config", str(EXAMPLES / "two-sites.yaml"), "--role", "executor",
                    "--site", "campus", "--master-address", "10.1.0.5")
    assert code == 0
    assert "CCB_ADDRESS = $(COLLECTOR_HOST)" in out and "CONDOR_HOST = 10.1.0.5" in out


@pytest.mark.parametrize("args,words", [
    (["--role", "executor"], "per site"),
    (["--role", "executor", "--site", "nowhere"], "unknown site"),
    (["--role", "wizard"], "'wizard' is not one of"),
    (["--role", "master", "--master-address", "a b"], "neither an IP"),
])
def test_render_config_bad_arguments_exit_2(args, words):
    code, out = run("render-config", str(EXAMPLES / "two-sites.yaml"), *args)
    assert code == 2 and words in out, out


def test_init_writes_a_valid_commented_spec(tmp_path):
    target = tmp_path / "pool.yaml"
    code, out = run("init", str(target))
    assert code == 0 and target.exists()
    assert load_spec(target).pool.name == "htc"
    assert target.read_text().count("#") > 10
    code, out = run("init", str(target))
    assert code == 2 and "--force" in out
    assert run("init", str(target), "--force")[0] == 0


@pytest.mark.parametrize("command", [["--help"], ["init", "--help"], ["validate", "--help"],
                                     ["render-config", "--help"], ["demo", "--help"]])
def test_help(command):
    code, out = run(*command)
    assert code == 0 and "Usage:" in out and len(out.splitlines()) > 4


def test_missing_spec_file_exit_2(tmp_path):
    code, out = run("validate", str(tmp_path / "none.yaml"))
    assert code == 2 and "cannot read spec" in out


def secret_spec(tmp_path: Path) -> Path:
    keys = tmp_path / "secrets"
    keys.mkdir()
    (keys / "pool-signing-key").write_text(SECRET)
    (keys / "pool-signing-key").chmod(0o644)  # also exercises the permission warning
    (keys / "mesos-secret").write_text(MESOS_SECRET)
    text = (EXAMPLES / "two-sites.yaml").read_text().replace(
        "    role: htcondor", "    role: htcondor\n    principal: htcmesos\n"
                             "    secret_file: secrets/mesos-secret")
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    return spec


def test_no_secret_in_any_output(tmp_path):
    spec = str(secret_spec(tmp_path))
    outputs = []
    commands = [["-vv", "validate", spec], ["-vv", "demo", "--simulated", "--duration", "0"]]
    commands += [["-vv", "render-config", spec, "--role", r] for r in ("master", "submitter")]
    commands += [["-vv", "render-config", spec, "--role", "executor", "--site", s]
                 for s in ("dc", "campus")]
    for args in commands:
        proc = subprocess.run([sys.executable, "-m", "framework.cli", *args],
                              capture_output=True, text=True, cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.returncode == 0, (args, proc.stderr)
        outputs.append(proc.stdout + proc.stderr)
    joined = "\n".join(outputs)
    assert "DEBUG" in joined  # logging was on
    assert "readable by others" in joined
    assert SECRET not in joined and MESOS_SECRET not in joined
    assert SECRET[:12] not in joined


def test_missing_key_file_is_a_warning_not_an_error():
    code, out = run("validate", str(EXAMPLES / "two-sites.yaml"))
    assert code == 0 and "does not exist yet" in out


def test_demo_runs_the_pool_on_the_emulated_cluster():
    proc = subprocess.run([sys.executable, "-m", "framework.cli", "demo", "--simulated",
                           "--duration", "15"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    final = proc.stdout.split("final pool state:")[1]
    for row in ("master    dc       running=1", "submitter dc       running=1",
                "executor  campus   running=3", "executor  dc       running=3"):
        assert row in final, proc.stdout
    # half-way an agent is lost and its executor replaced: 1 failure, 9 launches
    assert "*** demo: agent" in proc.stdout
    assert "9 task launches, 1 failures" in final, proc.stdout


@pytest.mark.docker
def test_images_build_reuses_up_to_date_images_and_names_the_base(role_images):
    proc = subprocess.run([sys.executable, "-m", "framework.cli", "images", "build"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    for role in ("master", "submitter", "executor"):
        assert f"htcmesos/{role}:0.1" in proc.stdout
    assert proc.stdout.count("up to date") == 3, proc.stdout
    assert "base: " in proc.stdout and ("local base" in proc.stdout or "official" in proc.stdout)


def test_images_build_without_an_engine_is_a_clear_error(tmp_path):
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no.sock"}
    proc = subprocess.run([sys.executable, "-m", "framework.cli", "images", "build"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert proc.returncode == 1 and "no Docker engine answers" in proc.stderr


# The real demo (the README's first command) is tested with its dashboard open in
# Chromium: tests/test_demo_dashboard.py.


def test_simulated_marathon_demo_replaces_a_lost_executor():
    proc = subprocess.run([sys.executable, "-m", "framework.cli", "demo", "--backend",
                           "marathon", "--simulated", "--duration", "60"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    final = proc.stdout.split("final Marathon group:")[1]
    for row in ("master    dc       healthy=1", "submitter dc       healthy=1",
                "executor  campus   healthy=3", "executor  dc       healthy=3"):
        assert row in final, proc.stdout
    assert "Marathon replaced the lost executor" in proc.stdout


@pytest.mark.docker
def test_marathon_demo_of_60_seconds_applies_the_group_runs_jobs_and_cleans_up(
        docker_engine, role_images):
    """``htcmesos demo --backend marathon --duration 60``: the group is applied (master
    first), the executor apps grow for the jobs, exit 0, nothing left behind."""
    proc = subprocess.run([sys.executable, "-m", "framework.cli", "demo", "--backend",
                           "marathon", "--duration", "60"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert "as Marathon group /htcondor/twosites" in out
    assert re.search(r"master and submitter running and healthy \(t\+ *[\d.]+s\)", out)
    assert re.search(r"^>>> t\+ *[\d.]+s elastic: launch dc\+\d", out, re.M), out[-3000:]
    assert re.search(r"elastic: .*launch campus\+\d", out), out[-3000:]
    assert re.search(r"jobs: .*running=", out), out[-3000:]     # jobs ran
    runner = re.search(r"cleaning up containers, networks and firewall rules \(emulator "
                       r"runner (\w+)\)", out)
    assert runner, out[-1500:]
    label = {"label": f"htcmesos.runner={runner[1]}"}
    assert not docker_engine.containers.list(all=True, filters=label)
    assert not docker_engine.networks.list(filters=label)


@pytest.mark.parametrize("content, line, words", [
    (b"pool:\n  name: x\x01y\n", 2, "U+0001 is not allowed"),
    (b"pool:\n  name: \x1b[31mred\n", 2, "U+001B is not allowed"),
    (b"pool:\n  name: \xff\xfe\n", 2, "not valid UTF-8: byte 0xff at column 9"),
])
def test_control_characters_and_invalid_utf8_exit_2_naming_the_line(tmp_path, content, line,
                                                                     words):
    spec = tmp_path / "bad.yaml"
    spec.write_bytes(content)
    code, out = run("validate", str(spec))
    assert code == 2 and "Traceback" not in out, out
    assert f"bad.yaml:{line}: " in out and words in out, out


def test_plan_prints_brokers_descriptors_and_nat(tmp_path):
    from tests.framework.condor.test_brokers import BIG
    spec = tmp_path / "big.yaml"
    spec.write_text(BIG % {"campus": 2000, "cap": 2100})
    code, out = run("plan", str(spec))
    assert code == 0, out
    assert "brokers: 2 (ceil(6000 private registrations / 5000 per broker))" in out
    assert "broker 1   10.1.0.3" in out and "file descriptors 12304" in out
    assert "TCP_FORWARDING_HOST = 192.0.2.10" in out
    code, out = run("render-config", str(spec), "--role", "broker", "--broker", "1")
    assert code == 0 and out.startswith("# plan: brokers: 2") and "ENABLE_CCB_SERVER" in out
    code, out = run("render-config", str(spec), "--role", "broker", "--broker", "5")
    assert code == 2 and "broker 5 is not planned" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(BIG % {"campus": 10, "cap": 110} + "network: {brokers: {count: 0}}\n")
    code, out = run("plan", str(bad))
    assert code == 2


@pytest.mark.parametrize("args,words", [
    (["--role", "master", "--broker", "1"], "the master takes no broker number"),
    (["--role", "submitter", "--broker", "1"], "the submitter registers with no broker"),
    (["--role", "executor", "--site", "dc", "--broker", "1"], "site dc is public"),
])
def test_render_config_refuses_a_broker_it_would_ignore(tmp_path, args, words):
    """--broker was silently ignored for the master, a public site's executor and a
    one-broker pool: usage errors (exit 2) naming why."""
    from tests.framework.condor.test_brokers import BIG
    spec = tmp_path / "big.yaml"
    spec.write_text(BIG % {"campus": 2000, "cap": 2100})          # two brokers
    code, out = run("render-config", str(spec), *args)
    assert code == 2 and f"--broker 1: {words}" in out, out
    code, out = run("render-config", str(spec), "--role", "executor", "--site", "campus",
                    "--broker", "1")
    assert code == 0 and "CCB_ADDRESS = 10.1.0.3:9618?sock=collector" in out, out


def test_render_config_refuses_a_broker_in_a_one_broker_pool():
    code, out = run("render-config", str(EXAMPLES / "two-sites.yaml"), "--role", "executor",
                    "--site", "campus", "--broker", "1")
    assert code == 2 and "--broker 1: this pool plans one broker" in out, out


@pytest.mark.parametrize("role", ["master", "submitter"])
def test_render_config_without_site_is_what_the_task_gets(tmp_path, role):
    """The master and the submitter run at the master's site (Marathon's group; the
    framework's master): without --site the CLI renders that site's config, NAT
    forwarding included, byte for byte the config their task carries."""
    import base64

    from framework.backends.roleparts import ENV_CONFIG, role_environment
    from framework.model import Role

    text = (EXAMPLES / "two-sites.yaml").read_text().replace(
        "    calico: {network: calico-dc, cidr: 10.1.0.0/16}\n",
        "    calico: {network: calico-dc, cidr: 10.1.0.0/16}\n    nat_address: 198.51.100.7\n")
    spec = tmp_path / "nat.yaml"
    spec.write_text(text)
    code, out = run("render-config", str(spec), "--role", role)
    assert code == 0, out
    assert "TCP_FORWARDING_HOST = 198.51.100.7" in out
    cluster = load_spec(spec)
    task = base64.b64decode(role_environment(cluster, Role(role), cluster.master_site.name)
                            [ENV_CONFIG]).decode()
    assert "".join(line + "\n" for line in out.splitlines()
                   if not line.startswith("# plan: ")) == task
