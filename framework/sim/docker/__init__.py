"""Emulated agents that run TaskInfos as real containers: the Docker containerizer and
executor, the fetcher, site networks and their firewall."""
