"""Health checks of the three roles, against an injected pool query object.

Each check takes a :class:`PoolQuery` (the real one is
:class:`htcmesos_role.pool.BindingsPoolQuery`; tests pass hand-written fakes) and returns
a :class:`CheckResult`. Checks never raise: any exception, e.g. from the HTCondor
bindings, becomes a failed result naming the reason.
"""

from __future__ import annotations

import functools
import socket
from dataclasses import dataclass
from typing import Any, Callable, Iterable, List, Mapping, Optional, Protocol, Sequence

TASK_ID_ATTR = "HTCMESOS_TASK_ID"
"""Startd attribute (and environment variable) carrying the Mesos task id."""

Ad = Mapping[str, Any]


class PoolQuery(Protocol):
    """What the checks need from a collector: one query call."""

    address: str
    """Human-readable collector address, used in messages."""

    def query(self, ad_type: str, constraint: Optional[str], projection: Sequence[str]) -> List[Ad]:
        """Return ads of ``ad_type`` (``Collector``, ``Schedd``, ``Startd``) matching
        the ClassAd ``constraint`` (None: all), each a mapping of projected attributes."""
        ...  # pragma: no cover


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one health check; ``detail`` says what was found or what is wrong.

    ``unreachable``: the collector could not be asked (the query raised);
    ``collector_age_s``: when our ad is missing, how long ago the collector started (None:
    unknown), so a collector that just restarted is not blamed on us."""

    ok: bool
    role: str
    detail: str
    unreachable: bool = False
    collector_age_s: Optional[float] = None

    def as_json(self) -> dict:
        """The body of ``GET /health``."""
        return {"ok": self.ok, "role": self.role, "detail": self.detail}


_SIMPLE_ESCAPES = {
    "\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r",
    "\b": "\\b", "\f": "\\f", "\a": "\\a", "\v": "\\v",
}


def quote_fallback(value: str) -> str:
    """ClassAd string literal for ``value`` without the bindings (same as classad2.quote).

    Backslash and double quote are escaped; other non-printable or non-ASCII characters
    become octal escapes of their UTF-8 bytes. NUL cannot be expressed: ValueError.
    """
    if "\x00" in value:
        raise ValueError("embedded null character in ClassAd string")
    out = ['"']
    for ch in value:
        if ch in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[ch])
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.extend("\\%03o" % byte for byte in ch.encode("utf-8"))
    out.append('"')
    return "".join(out)


def quote(value: str) -> str:
    """ClassAd string literal for ``value``: the bindings' ``quote`` when importable."""
    for name in ("classad2", "classad"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        bound = getattr(module, "quote", None)
        if bound is not None:
            return bound(value)
    return quote_fallback(value)


def _guarded(check: Callable[..., CheckResult]) -> Callable[..., CheckResult]:
    """Turn any exception of ``check`` into a failed result for its role."""
    role = check.__name__.replace("check_", "")

    @functools.wraps(check)
    def wrapper(*args: Any, **kwargs: Any) -> CheckResult:
        try:
            return check(*args, **kwargs)
        except Exception as exc:  # bindings raise HTCondorException, RuntimeError, ...
            query = args[0] if args else kwargs.get("query")
            reason = str(exc) or "(no message)"
            return CheckResult(
                False, role, "%s: %s (asking %s)" % (type(exc).__name__, reason, _where(query)),
                unreachable=_communication_failure(exc),
            )

    return wrapper


def _communication_failure(exc: Exception) -> bool:
    """The collector could not be talked to (as opposed to a bug or bad data): socket
    errors, and the bindings' ``HTCondorException`` / ``RuntimeError`` (what they raise
    when a query's connection fails)."""
    return isinstance(exc, (OSError, RuntimeError)) or type(exc).__name__ == "HTCondorException"


def _where(query: PoolQuery) -> str:
    return str(getattr(query, "address", "") or "the collector")


@_guarded
def check_master(query: PoolQuery) -> CheckResult:
    """The local collector answers with a Collector ad."""
    ads = query.query("Collector", None, ["Name", "Machine"])
    if not ads:
        return CheckResult(False, "master", "collector at %s returned no Collector ad" % _where(query))
    return CheckResult(True, "master", "collector %s answers at %s" % (ads[0].get("Name"), _where(query)))


def collector_age(query: PoolQuery) -> Optional[float]:
    """Seconds since the collector started: its ad's ``StatsLifetime`` (a collector's ad
    carries no ``DaemonStartTime``; checked on HTCondor 23.9), else ``MyCurrentTime -
    DaemonStartTime``; 0 when it answers without an ad of its own yet (it has just
    started); None when it cannot be told."""
    try:
        ads = query.query("Collector", None, ["StatsLifetime", "DaemonStartTime",
                                              "MyCurrentTime"])
        if not ads:
            return 0.0
        ad = ads[0]
        if ad.get("StatsLifetime") is not None:
            return float(ad["StatsLifetime"])
        return float(ad["MyCurrentTime"]) - float(ad["DaemonStartTime"])
    except Exception:  # noqa: BLE001 - no attributes, or the query failed
        return None


def schedd_name_candidates(schedd_name: str, hostnames: Iterable[str]) -> List[str]:
    """Schedd names to accept; an entry ending in ``@`` is a prefix.

    Without ``HTCMESOS_SCHEDD_NAME`` the schedd is named after the host. A ``SCHEDD_NAME``
    without ``@`` gets ``@<full hostname>`` appended by HTCondor, whose idea of the full
    hostname may differ from Python's, so ``name@`` is accepted as a prefix.
    """
    hosts = [h for h in hostnames if h]
    if not schedd_name:
        return list(dict.fromkeys(hosts))
    if "@" in schedd_name:
        return [schedd_name]
    return [schedd_name, schedd_name + "@"]


def local_hostnames() -> List[str]:
    """This container's hostname and fully qualified name (deduplicated, non-empty)."""
    names = [socket.gethostname()]
    try:
        names.append(socket.getfqdn())
    except OSError:  # pragma: no cover
        pass
    return [n for n in dict.fromkeys(names) if n]


def _name_term(name: str) -> str:
    if name.endswith("@"):
        return "substr(Name, 0, %d) == %s" % (len(name.encode("utf-8")), quote(name))
    return "Name == %s" % quote(name)


def _name_matches(value: Any, name: str) -> bool:
    if not isinstance(value, str):
        return False
    if name.endswith("@"):
        return value.lower().startswith(name.lower())
    return value.lower() == name.lower()


@_guarded
def check_submitter(query: PoolQuery, names: Sequence[str], hostnames: Sequence[str],
                    task_id: str = "") -> CheckResult:
    """This container's schedd ad is in the collector: its Name is one of ``names``
    (entries ending in ``@`` are prefixes), its Machine one of ``hostnames``, or (when
    given) it advertises ``HTCMESOS_TASK_ID`` equal to ``task_id``."""
    if not names and not hostnames and not task_id:
        return CheckResult(False, "submitter", "no schedd name, hostname or task id to look for")
    terms = [_name_term(n) for n in names] + ["Machine == %s" % quote(h) for h in hostnames]
    if task_id:
        terms.append("%s =?= %s" % (TASK_ID_ATTR, quote(task_id)))
    ads = query.query("Schedd", " || ".join(terms), ["Name", "Machine", TASK_ID_ATTR])
    mine = [
        ad for ad in ads
        if any(_name_matches(ad.get("Name"), n) for n in names)
        or any(_name_matches(ad.get("Machine"), h) for h in hostnames)
        or (task_id and ad.get(TASK_ID_ATTR) == task_id)
    ]
    wanted = ", ".join(list(names) + list(hostnames) + (["%s=%s" % (TASK_ID_ATTR, task_id)] if task_id else []))
    if not mine:
        return CheckResult(
            False, "submitter",
            "no schedd ad matching %s in %s (%d other schedd ads)" % (wanted, _where(query), len(ads)),
            collector_age_s=collector_age(query),
        )
    return CheckResult(True, "submitter", "schedd %s is advertised in %s" % (mine[0].get("Name"), _where(query)))


@_guarded
def check_executor(query: PoolQuery, task_id: str) -> CheckResult:
    """A startd ad with ``HTCMESOS_TASK_ID`` equal to this task's id is in the collector.

    Another task's startd ad does not count, even if the query object returns it.
    """
    if not task_id:
        return CheckResult(False, "executor", "%s is not set in the environment" % TASK_ID_ATTR)
    constraint = "%s =?= %s" % (TASK_ID_ATTR, quote(task_id))
    ads = query.query("Startd", constraint, ["Name", "Machine", "State", "Activity", TASK_ID_ATTR])
    mine = [ad for ad in ads if ad.get(TASK_ID_ATTR) == task_id]
    if not mine:
        return CheckResult(
            False, "executor",
            "no startd ad with %s == %r in %s (%d ads of other tasks)"
            % (TASK_ID_ATTR, task_id, _where(query), len(ads)),
            collector_age_s=collector_age(query),
        )
    ad = mine[0]
    return CheckResult(
        True, "executor",
        "startd %s (%s/%s) advertises %s=%s in %s"
        % (ad.get("Name"), ad.get("State"), ad.get("Activity"), TASK_ID_ATTR, task_id, _where(query)),
    )


def run_check(role: str, query: PoolQuery, env: Mapping[str, str], hostnames: Sequence[str] = ()) -> CheckResult:
    """Dispatch to the check of ``role`` with its inputs taken from ``env``.

    ``hostnames`` defaults to :func:`local_hostnames`; the submitter also accepts
    ``HTCMESOS_SCHEDD_NAME`` and ``HTCMESOS_TASK_ID``, the executor needs
    ``HTCMESOS_TASK_ID``.
    """
    if role == "master":
        return check_master(query)
    if role == "submitter":
        hosts = list(hostnames) or local_hostnames()
        names = schedd_name_candidates(env.get("HTCMESOS_SCHEDD_NAME", ""), hosts)
        return check_submitter(query, names, hosts, env.get(TASK_ID_ATTR, ""))
    if role == "executor":
        return check_executor(query, env.get(TASK_ID_ATTR, ""))
    return CheckResult(False, role, "unknown role %r" % role)
