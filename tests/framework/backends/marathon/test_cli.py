"""``htcmesos marathon …``: arguments, refusals and exit codes (Marathon itself: the
emulator tests)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from framework.backends.marathon.render import render_group
from framework.cli import cli
from framework.spec import load_spec
from tests.conftest import EXAMPLES
from tests.framework.backends.marathon.test_client import server  # noqa: F401 - fixture

TWO = str(EXAMPLES / "two-sites.yaml")
KEY = b"pool-Key-bytes-never-printed-0123456789"


def run(*args: str, stdout_only: bool = False) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    return result.exit_code, result.stdout if stdout_only else result.output


def marathon_spec(tmp_path: Path, url: str = "http://127.0.0.1:9") -> str:
    text = (EXAMPLES / "two-sites.yaml").read_text().replace(
        "  type: sim\n", f"  type: marathon\n  marathon:\n    url: {url}\n") \
        .replace("signing_key_file: secrets/pool-signing-key", f"signing_key_file: {tmp_path}/key")
    (tmp_path / "key").write_bytes(KEY)
    (tmp_path / "key").chmod(0o600)
    path = tmp_path / "pool.yaml"
    path.write_text(text)
    return str(path)


def test_render_prints_the_group_as_json():
    code, out = run("marathon", "render", TWO, stdout_only=True)
    assert code == 0 and json.loads(out) == render_group(load_spec(TWO))


@pytest.mark.parametrize("args,words", [
    (["apply", TWO], "has no backend.marathon block"),
    (["status", TWO, "--marathon", "not a url"], "expected http(s)://host:port"),
    (["scale", TWO, "nowhere", "3", "--marathon", "http://m:8080"], "unknown site 'nowhere'"),
    (["scale", TWO, "dc", "-1", "--marathon", "http://m:8080"], "-1"),
    (["delete", TWO, "--marathon", "http://m:8080"], "add --yes"),
    (["apply", "/no/such/spec.yaml"], "cannot read spec"),
    (["apply", TWO, "--timeout", "-5"], "-5"),
    (["secrets", TWO], "--out"),
])
def test_bad_input_exits_2_with_one_reason(args, words):
    code, out = run("marathon", *args)
    assert code == 2 and words in out, out


def test_unreachable_marathon_exits_1_naming_the_url(tmp_path):
    code, out = run("marathon", "apply", marathon_spec(tmp_path))
    assert code == 1
    assert "no answer from Marathon at http://127.0.0.1:9" in out and len(out.splitlines()) == 1


def test_lowering_instances_is_refused_unless_forced(tmp_path, server):  # noqa: F811
    canned, url = server
    spec = marathon_spec(tmp_path, url)
    canned.body = {"app": {"id": "/htcondor/twosites/executor-dc", "instances": 4}}
    code, out = run("marathon", "scale", spec, "dc", "2")
    assert code == 2 and "running jobs" in out and "drains" in out and "--allow-lower" in out
    assert [r[0] for r in canned.requests] == ["GET"]            # nothing written
    canned.body = {"app": {"id": "/htcondor/twosites/executor-dc", "instances": 4},
                   "deploymentId": "d-1", "version": "v"}
    code, out = run("marathon", "scale", spec, "dc", "6")
    assert code == 0 and "4 → 6" in out
    assert canned.requests[-1][:3] == ("PUT", "/v2/apps/htcondor/twosites/executor-dc",
                                       {"instances": 6})
    code, out = run("marathon", "scale", spec, "dc", "2", "--allow-lower")
    assert code == 0 and canned.requests[-1][:3] == (
        "PUT", "/v2/apps/htcondor/twosites/executor-dc", {"instances": 2})
    code, out = run("marathon", "scale", spec, "dc", "2", "--allow-lower", "--force")
    assert code == 0 and canned.requests[-1][:3] == (
        "PUT", "/v2/apps/htcondor/twosites/executor-dc?force=true", {"instances": 2})


def test_invalid_group_exits_2_field_by_field(tmp_path, server):  # noqa: F811
    canned, url = server
    canned.by_method["GET"] = (404, {"message": "Group '/htcondor/twosites' does not exist"})
    canned.status, canned.body = 422, {"message": "Object is not valid", "details": [
        {"path": "/apps(2)/cpus", "errors": ["error.min"]}]}
    code, out = run("marathon", "apply", marathon_spec(tmp_path, url))
    assert code == 2
    assert "Marathon refused /htcondor/twosites/executor-dc: /cpus: error.min" in out


def test_secrets_writes_the_store_and_prints_no_secret(tmp_path):
    out_dir = tmp_path / "store"
    code, out = run("marathon", "secrets", marathon_spec(tmp_path), "--out", str(out_dir))
    assert code == 0, out
    files = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file())
    assert files == ["htcondor/twosites/executor", "htcondor/twosites/master",
                     "htcondor/twosites/submitter"]
    assert KEY.decode() not in out and "eyJ" not in out
    assert (out_dir / "htcondor/twosites/master").stat().st_mode & 0o077 == 0


def test_secrets_without_the_key_file_exits_1(tmp_path):
    spec = marathon_spec(tmp_path)
    (tmp_path / "key").unlink()
    code, out = run("marathon", "secrets", spec, "--out", str(tmp_path / "s"))
    assert code == 1 and "signing_key_file" in out


def test_help_lists_the_subcommands():
    code, out = run("marathon", "--help")
    assert code == 0
    for sub in ("render", "apply", "status", "scale", "delete", "secrets"):
        assert f"  {sub} " in out, out
    code, out = run("marathon", "apply", "--help")
    assert code == 0 and all(o in out for o in ("--force", "--no-wait", "--timeout",
                                                 "--dry-run", "--marathon"))


def test_run_sizes_the_group_until_its_duration_then_stops(tmp_path):
    """``marathon run`` against the emulator: the loop starts (the master app is healthy)
    and stops at --duration, leaving the apps to Marathon."""
    from framework.sim.marathon_run import MarathonRun

    spec = load_spec(marathon_spec(tmp_path))
    with MarathonRun(spec, tmp_path) as m:
        m.apply(wait=True, timeout_s=60)
        path = marathon_spec(tmp_path)
        with open(path, "a") as out:
            out.write('api: {listen: "127.0.0.1:0"}\n')
        code, out = run("marathon", "run", path, "--marathon", m.marathon.url, "--duration", "2")
        assert code == 0 and "stopped; Marathon keeps the apps running" in out, out
        # where the operators' dashboard is (any free port), and that changes need a token
        assert re.search(r"^dashboard: http://127\.0\.0\.1:\d+/  \(REST API .*; token for "
                         r"changes: none: set api.token_file\)$", out, re.M), out
        assert m.marathon.app(f"{spec.backend.marathon.group}/twosites/master")["instances"] == 1


def test_run_without_the_key_file_exits_1_naming_it(tmp_path, server):  # noqa: F811
    canned, url = server
    canned.body = "pong"
    path = marathon_spec(tmp_path, url)
    (tmp_path / "key").unlink()
    code, out = run("marathon", "run", path, "--duration", "1")
    assert code == 1 and "pool.signing_key_file" in out, out


def test_run_against_no_marathon_exits_1_naming_the_url(tmp_path):
    code, out = run("marathon", "run", marathon_spec(tmp_path), "--duration", "1")
    assert code == 1 and "127.0.0.1:9" in out, out
