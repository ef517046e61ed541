"""The real pool query: the HTCondor Python bindings against one collector.

Uses ``htcondor2`` when importable, else ``htcondor`` (the EL9 images ship
python3-condor; both expose ``Collector.query(ad_type, constraint, projection)``). The
bindings are imported on first query, so a missing module is a failed check, not a crash.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .paths import paths_from_env

COLLECTOR_PORT = 9618
"""Shared port of the collector (``SHARED_PORT_PORT``)."""

_PRIMITIVES = (str, int, float, bool, type(None))


def collector_address(address: Optional[str]) -> Optional[str]:
    """Turn ``host``, ``host:port`` or ``[v6]`` into a shared-port collector address.

    ``<sinful>`` strings and addresses with ``?`` already are kept; empty gives None
    (the bindings then use ``COLLECTOR_HOST`` from the local config).
    """
    if not address or not address.strip():
        return None
    addr = address.strip()
    if addr.startswith("<") or "?" in addr:
        return addr
    if addr.startswith("["):
        has_port = "]:" in addr
    elif addr.count(":") > 1:  # bare IPv6 literal
        addr, has_port = "[%s]" % addr, False
    else:
        has_port = ":" in addr
    if not has_port:
        addr = "%s:%d" % (addr, COLLECTOR_PORT)
    return addr + "?sock=collector"


def address_for_role(role: str, env: Mapping[str, str]) -> Optional[str]:
    """The collector a role's health check asks: the master asks its own (localhost), the
    others the central manager the discovery follower found (:mod:`.discovery`), else
    ``HTCMESOS_MASTER_ADDRESS``."""
    if role == "master":
        return collector_address("localhost")
    # where the discovery follower found the central manager, else the rendered address
    try:
        found = paths_from_env(env).central_manager_file.read_text().strip()
    except OSError:
        found = ""
    return collector_address(found or env.get("HTCMESOS_MASTER_ADDRESS"))


def load_bindings() -> ModuleType:
    """Import ``htcondor2``, falling back to ``htcondor``; ImportError names both."""
    try:
        import htcondor2 as bindings  # type: ignore[import-not-found]
    except ImportError:
        try:
            import htcondor as bindings  # type: ignore[import-not-found,no-redef]
        except ImportError:
            raise ImportError("no HTCondor Python bindings: neither htcondor2 nor htcondor is importable") from None
    return bindings


def _plain(value: Any) -> Any:
    return value if isinstance(value, _PRIMITIVES) else str(value)


def _project(ad: Any, projection: Sequence[str]) -> Dict[str, Any]:
    """The projected attributes of a bindings ClassAd, evaluated to plain values."""
    out: Dict[str, Any] = {}
    for attr in projection:
        if attr not in ad:
            continue
        try:
            out[attr] = _plain(ad.eval(attr))
        except Exception:  # an expression that does not evaluate: keep its text
            out[attr] = str(ad[attr])
    return out


class BindingsPoolQuery:
    """:class:`htcmesos_role.checks.PoolQuery` over the HTCondor bindings."""

    def __init__(self, address: Optional[str], bindings: Optional[ModuleType] = None) -> None:
        """``address``: collector address (None: the configured ``COLLECTOR_HOST``)."""
        self.pool = address
        self.address = address or "COLLECTOR_HOST"
        self._bindings = bindings

    def query(self, ad_type: str, constraint: Optional[str], projection: Sequence[str]) -> List[Dict[str, Any]]:
        """One collector query; exceptions of the bindings propagate to the check."""
        bindings = self._bindings or load_bindings()
        types = getattr(bindings, "AdType", None) or getattr(bindings, "AdTypes")
        collector = bindings.Collector(self.pool) if self.pool else bindings.Collector()
        ads = collector.query(
            ad_type=getattr(types, ad_type),
            constraint=constraint or "",
            projection=list(projection),
        )
        return [_project(ad, projection) for ad in ads]
