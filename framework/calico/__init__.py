"""Calico for the pool: IPPools and policies rendered from the spec (render, validate),
written to Calico's etcd v3 datastore (etcd, datastore), and the sites' Docker networks
(networks). docs/calico.md describes what is written where and why."""
