"""The emulated master's allocator: who gets which agent's free resources.

Like Mesos' hierarchical allocator, reduced to what frameworks can observe:
- an agent's whole free resources go into one offer to one framework;
- a framework holds at most one outstanding offer per agent;
- a framework is offered nothing while it is disconnected or all its roles are suppressed,
  and nothing from an agent it refused (DECLINE / unused ACCEPT remainder) until the
  filter's ``refuse_seconds`` have passed (REVIVE clears its filters);
- agents in a fault-domain region other than the master's go to REGION_AWARE frameworks
  only;
- among eligible frameworks the one with the smallest allocated cpus wins (DRF on cpus).
"""
from __future__ import annotations

from typing import Callable, Iterable

from .model import Agent, Framework, Offer
from .resources import EMPTY, add, allocatable


def region_allowed(agent: Agent, framework: Framework, master_region: str | None) -> bool:
    """May ``agent`` be offered to ``framework`` given the master's region?"""
    if master_region is None or agent.region is None or agent.region == master_region:
        return True
    return framework.region_aware


def allocate(agents: Iterable[Agent], frameworks: list[Framework], now: float,
             master_region: str | None, new_offer_id: Callable[[], str]) -> dict[str, list[Offer]]:
    """Offer every allocatable agent's free resources; returns new offers per framework id.

    Mutates the agents (``available``, ``offers``) and frameworks (``offers``,
    ``offered_agents``, ``filters`` — expired entries are dropped, ``allocated_cpus``).
    """
    candidates: list[tuple[Framework, str]] = []
    for framework in frameworks:
        role = framework.offer_role() if framework.connected else None
        if role is not None:
            candidates.append((framework, role))
    out: dict[str, list[Offer]] = {}
    if not candidates:
        return out
    for agent in agents:
        if agent.away or not allocatable(agent.available):
            continue
        best: tuple[Framework, str] | None = None
        for framework, role in candidates:
            if agent.agent_id in framework.offered_agents:
                continue
            until = framework.filters.get(agent.agent_id)
            if until is not None:
                if until > now:
                    continue
                del framework.filters[agent.agent_id]
            if not region_allowed(agent, framework, master_region):
                continue
            if best is None or framework.allocated_cpus < best[0].allocated_cpus:
                best = (framework, role)
        if best is None:
            continue
        framework, role = best
        offer = Offer(new_offer_id(), framework.framework_id, agent.agent_id, agent.available, role)
        agent.available = EMPTY
        agent.offers.add(offer.offer_id)
        framework.offers[offer.offer_id] = offer
        framework.offered_agents.add(agent.agent_id)
        framework.allocated_cpus += offer.resources.cpus
        out.setdefault(framework.framework_id, []).append(offer)
    return out


def take_back(offer: Offer, agent: Agent, framework: Framework | None) -> None:
    """Remove ``offer`` and return its resources to the agent's free pool."""
    agent.offers.discard(offer.offer_id)
    if not agent.lost:
        agent.available = add(agent.available, offer.resources)
    if framework is not None:
        framework.offers.pop(offer.offer_id, None)
        framework.offered_agents.discard(offer.agent_id)
        framework.allocated_cpus = max(0.0, framework.allocated_cpus - offer.resources.cpus)


def refuse(framework: Framework, agent_id: str, refuse_s: float, now: float) -> None:
    """Filter ``agent_id`` for ``framework`` for ``refuse_s`` seconds (0 or less: none)."""
    if refuse_s > 0:
        framework.filters[agent_id] = max(framework.filters.get(agent_id, 0.0), now + refuse_s)


def earliest_filter(frameworks: Iterable[Framework]) -> float | None:
    """When the next filter of a connected framework expires (clock seconds), if any."""
    best: float | None = None
    for framework in frameworks:
        if framework.connected and framework.filters:
            soonest = min(framework.filters.values())
            best = soonest if best is None else min(best, soonest)
    return best
