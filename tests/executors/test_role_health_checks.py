"""Role health checks against hand-written fake collectors (no daemons needed).

``FakeCollector`` evaluates the constraint the check sends with HTCondor's own ClassAd
parser (classad2), so the tests also prove the constraint text and its quoting.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import classad2
import htcondor2
import pytest

from htcmesos_role import checks
from htcmesos_role.checks import (
    TASK_ID_ATTR, check_executor, check_master, check_submitter, quote, quote_fallback,
    run_check, schedd_name_candidates,
)
from htcmesos_role.health import make_checker
from htcmesos_role.pool import BindingsPoolQuery, address_for_role, collector_address

MY_TYPES = {"Collector": "Collector", "Schedd": "Scheduler", "Startd": "Machine"}


class FakeCollector:
    """A collector holding plain-dict ads; constraints evaluated by classad2."""

    address = "fake-cm:9618?sock=collector"

    def __init__(self, ads: List[Dict[str, Any]]) -> None:
        self.ads = ads
        self.calls: List[tuple] = []

    def query(self, ad_type: str, constraint: Optional[str], projection: Sequence[str]) -> List[Dict[str, Any]]:
        self.calls.append((ad_type, constraint, list(projection)))
        out = []
        for ad in self.ads:
            if ad.get("MyType") != MY_TYPES[ad_type]:
                continue
            if constraint and classad2.ExprTree(constraint).eval(classad2.ClassAd(ad)) is not True:
                continue
            out.append({k: v for k, v in ad.items() if k in projection})
        return out


class CarelessCollector(FakeCollector):
    """Ignores the constraint: the check itself must still pick only its own ad."""

    def query(self, ad_type: str, constraint: Optional[str], projection: Sequence[str]) -> List[Dict[str, Any]]:
        return FakeCollector.query(self, ad_type, None, projection)


class RaisingCollector:
    """Raises what the bindings raise when no collector answers."""

    address = "127.0.0.1:1?sock=collector"

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def query(self, ad_type: str, constraint: Optional[str], projection: Sequence[str]) -> List[Dict[str, Any]]:
        raise self.exc


def startd(task_id: str, name: str = "slot1@exec-1") -> Dict[str, Any]:
    return {"MyType": "Machine", "Name": name, "Machine": name.split("@")[-1], "State": "Unclaimed",
            "Activity": "Idle", TASK_ID_ATTR: task_id}


# --- executor ---------------------------------------------------------------------

def test_executor_own_ad_present_is_ok():
    pool = FakeCollector([startd("task-other", "slot1@exec-9"), startd("task-mine", "slot1@exec-1")])
    result = check_executor(pool, "task-mine")
    assert result.ok, result.detail
    assert "slot1@exec-1" in result.detail and "task-mine" in result.detail
    ad_type, constraint, projection = pool.calls[0]
    assert ad_type == "Startd" and constraint == 'HTCMESOS_TASK_ID =?= "task-mine"'
    assert TASK_ID_ATTR in projection


@pytest.mark.parametrize("collector_class", [FakeCollector, CarelessCollector])
def test_executor_only_another_tasks_ad_is_not_ok(collector_class):
    pool = collector_class([startd("task-other")])
    result = check_executor(pool, "task-mine")
    assert not result.ok
    assert "task-mine" in result.detail


def test_executor_task_id_match_is_exact_and_case_sensitive():
    assert not check_executor(FakeCollector([startd("Task-Mine")]), "task-mine").ok
    assert not check_executor(FakeCollector([startd("task-mine-2")]), "task-mine").ok


@pytest.mark.parametrize("task_id", ['t"1', "t\\1", 'a" || true || "', "x\\\" || true || \"\\", "é-ünï"])
def test_executor_quotes_hostile_task_ids(task_id):
    pool = FakeCollector([startd("victim"), startd(task_id, "slot1@mine")])
    result = check_executor(pool, task_id)
    assert result.ok, result.detail
    assert "slot1@mine" in result.detail
    assert not check_executor(FakeCollector([startd("victim")]), task_id).ok


def test_executor_without_task_id_is_not_ok():
    result = check_executor(FakeCollector([startd("")]), "")
    assert not result.ok and "HTCMESOS_TASK_ID is not set" in result.detail


@pytest.mark.parametrize("check, args", [(check_executor, ("t",)), (check_master, ()), (check_submitter, (["s"], ["h"]))])
def test_bindings_raising_is_not_ok_with_reason(check, args):
    pool = RaisingCollector(htcondor2.HTCondorException("Failed communication with collector."))
    result = check(pool, *args)
    assert not result.ok
    assert "HTCondorException" in result.detail and "Failed communication with collector." in result.detail
    assert "127.0.0.1:1" in result.detail


def test_any_exception_is_not_ok():
    result = check_executor(RaisingCollector(RuntimeError()), "t")
    assert not result.ok and "RuntimeError" in result.detail


# --- master ----------------------------------------------------------------------

def test_master_collector_answers():
    result = check_master(FakeCollector([{"MyType": "Collector", "Name": "My Pool - cm", "Machine": "cm"}]))
    assert result.ok and "My Pool - cm" in result.detail


def test_master_without_collector_ad_is_not_ok():
    assert not check_master(FakeCollector([startd("t")])).ok


# --- submitter -------------------------------------------------------------------

def schedd(name: str, machine: str) -> Dict[str, Any]:
    return {"MyType": "Scheduler", "Name": name, "Machine": machine}


def test_submitter_matches_own_schedd_by_name_or_machine():
    hosts = ["sub-1", "sub-1.pool.example"]
    pool = FakeCollector([schedd("sub-2.pool.example", "sub-2.pool.example"), schedd("sub-1.pool.example", "sub-1.pool.example")])
    result = run_check("submitter", pool, {}, hosts)
    assert result.ok and "sub-1.pool.example" in result.detail
    named = FakeCollector([schedd("ap10@sub-1", "other"), schedd("ap1@whatever-condor-thinks", "other")])
    result = run_check("submitter", named, {"HTCMESOS_SCHEDD_NAME": "ap1"}, ["sub-1"])
    assert result.ok and "ap1@whatever-condor-thinks" in result.detail
    assert not run_check("submitter", FakeCollector([schedd("ap10@sub-1", "other")]), {"HTCMESOS_SCHEDD_NAME": "ap1"}, ["sub-1"]).ok
    named_host = FakeCollector([schedd("ap1@sub-1", "10.0.0.5")])
    assert run_check("submitter", named_host, {"HTCMESOS_SCHEDD_NAME": "ap1"}, ["sub-1"]).ok
    by_machine = FakeCollector([schedd("ap1@x", "SUB-1")])
    assert run_check("submitter", by_machine, {}, ["sub-1"]).ok


@pytest.mark.parametrize("collector_class", [FakeCollector, CarelessCollector])
def test_submitter_only_other_schedd_is_not_ok(collector_class):
    pool = collector_class([schedd("sub-2", "sub-2")])
    result = run_check("submitter", pool, {"HTCMESOS_SCHEDD_NAME": "sub-1"}, ["sub-1"])
    assert not result.ok and "sub-1" in result.detail


def test_schedd_name_candidates():
    assert schedd_name_candidates("", ["h", "h.d", "h"]) == ["h", "h.d"]
    assert schedd_name_candidates("ap", ["h", "h.d"]) == ["ap", "ap@"]
    assert schedd_name_candidates("ap@x", ["h"]) == ["ap@x"]


def test_unknown_role_is_not_ok():
    assert not run_check("frontend", FakeCollector([]), {}).ok


# --- quoting and addresses ---------------------------------------------------------

TRICKY = ["", "plain", 'q"uote', "back\\slash", "new\nline\ttab\rcr", "\x01\x7f", "é€😀", '\\"']


@pytest.mark.parametrize("value", TRICKY)
def test_quote_fallback_matches_classad2(value):
    assert quote_fallback(value) == classad2.quote(value)
    assert classad2.unquote(quote_fallback(value)) == value
    assert quote(value) == classad2.quote(value)


def test_quote_rejects_nul():
    with pytest.raises(ValueError):
        quote_fallback("a\x00b")


def test_quote_without_bindings_uses_fallback(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_bindings(name, *args, **kwargs):
        if name in ("classad2", "classad"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_bindings)
    assert checks.quote('a"b') == '"a\\"b"'


@pytest.mark.parametrize("given, expected", [
    (None, None), ("", None), ("cm", "cm:9618?sock=collector"), ("cm:9700", "cm:9700?sock=collector"),
    ("10.0.0.1", "10.0.0.1:9618?sock=collector"), ("fd00::1", "[fd00::1]:9618?sock=collector"),
    ("[fd00::1]", "[fd00::1]:9618?sock=collector"), ("[fd00::1]:9700", "[fd00::1]:9700?sock=collector"),
    ("cm:9618?sock=collector2", "cm:9618?sock=collector2"), ("<10.0.0.1:9618?sock=c>", "<10.0.0.1:9618?sock=c>"),
])
def test_collector_address(given, expected):
    assert collector_address(given) == expected


def test_address_for_role():
    env = {"HTCMESOS_MASTER_ADDRESS": "cm.pool"}
    assert address_for_role("master", env) == "localhost:9618?sock=collector"
    assert address_for_role("executor", env) == "cm.pool:9618?sock=collector"
    assert address_for_role("submitter", {}) is None


# --- the real bindings query ---------------------------------------------------------

class FakeAd(dict):
    """Enough of a bindings ClassAd: ``in``, ``[]`` and ``eval``."""

    def eval(self, attr: str) -> Any:
        value = self[attr]
        if isinstance(value, Exception):
            raise value
        return value


class FakeBindingsV1:
    """The shape of the version-1 ``htcondor`` module: ``AdTypes`` and ``Collector``."""

    class AdTypes:
        Collector, Schedd, Startd = "AT.Collector", "AT.Schedd", "AT.Startd"

    calls: List[tuple] = []

    class Collector:
        def __init__(self, pool: Optional[str] = None) -> None:
            FakeBindingsV1.calls.append(("Collector", pool))

        def query(self, ad_type: Any, constraint: str, projection: List[str]) -> List[FakeAd]:
            FakeBindingsV1.calls.append(("query", ad_type, constraint, projection))
            return [FakeAd(Name="slot1@x", State=ValueError("not a literal"), HTCMESOS_TASK_ID="t", Other=1)]


def test_bindings_query_with_v1_shaped_module():
    FakeBindingsV1.calls = []
    query = BindingsPoolQuery("cm:9618?sock=collector", bindings=FakeBindingsV1)  # type: ignore[arg-type]
    result = check_executor(query, "t")
    assert result.ok, result.detail
    assert FakeBindingsV1.calls[0] == ("Collector", "cm:9618?sock=collector")
    kind, ad_type, constraint, projection = FakeBindingsV1.calls[1]
    assert ad_type == "AT.Startd" and constraint == 'HTCMESOS_TASK_ID =?= "t"'
    assert projection == ["Name", "Machine", "State", "Activity", "HTCMESOS_TASK_ID"]


def test_real_bindings_without_collector_is_not_ok():
    result = make_checker("executor", {"HTCMESOS_MASTER_ADDRESS": "127.0.0.1:1", "HTCMESOS_TASK_ID": "t"})()
    assert not result.ok
    assert "collector" in result.detail.lower() and "127.0.0.1:1?sock=collector" in result.detail


def test_query_factory_raising_is_not_ok():
    def factory():
        raise ImportError("no HTCondor Python bindings")

    result = make_checker("master", {}, query_factory=factory)()
    assert not result.ok and "ImportError" in result.detail


@pytest.mark.parametrize("name", ['ap"1', "ap\\1", 'x" || true || "', "ап-é"])
def test_submitter_quotes_hostile_schedd_names(name):
    pool = FakeCollector([schedd("victim@h", "h"), schedd(name + "@condor-fqdn", "10.1.1.1")])
    result = run_check("submitter", pool, {"HTCMESOS_SCHEDD_NAME": name}, ["sub-1"])
    assert result.ok, result.detail
    assert not run_check("submitter", FakeCollector([schedd("victim@h", "h")]), {"HTCMESOS_SCHEDD_NAME": name}, ["sub-1"]).ok


def test_submitter_matches_own_task_id_but_not_another_tasks():
    mine = {"MyType": "Scheduler", "Name": "condor-thinks-so", "Machine": "10.0.0.9", TASK_ID_ATTR: "sub.1"}
    other = dict(mine, **{TASK_ID_ATTR: "sub.2", "Name": "other"})
    env = {"HTCMESOS_TASK_ID": "sub.1"}
    assert run_check("submitter", FakeCollector([other, mine]), env, ["container-host"]).ok
    for collector_class in (FakeCollector, CarelessCollector):
        result = run_check("submitter", collector_class([other]), env, ["container-host"])
        assert not result.ok and "sub.1" in result.detail
