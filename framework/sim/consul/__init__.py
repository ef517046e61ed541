"""A strict Consul agent emulator (real HTTP on loopback) for the discovery tests:
service registration with really-run TCP/HTTP checks, health and catalog reads, blocking
queries. Upstream facts: docs/discovery.md; the agent API is hashicorp/consul
``website/content/api-docs/agent/service.mdx``, ``health.mdx``, ``catalog.mdx``."""
from .agent import AgentState, Check
from .server import EmulatedConsul

__all__ = ["AgentState", "Check", "EmulatedConsul"]
