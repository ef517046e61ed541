"""How big a site's IPPool blocks are, and whether the pool holds the site's tasks.

Calico IPAM hands a host addresses in blocks of ``2^(bits - blockSize)``, claimed by the
host (block affinity) as its workloads need them; a host that finds no free block may
borrow addresses from another host's block, at the cost of a /32 route per borrowed
address (libcalico-go/lib/ipam/ipam.go). The rule here:

1. an explicit ``block_size`` is kept (the spec already checked Calico's range, 20–32 for
   IPv4 and 116–128 for IPv6, and that it is not larger than the pool);
2. else Calico's default, 26 (IPv4) / 122 (IPv6) (api/pkg/apis/projectcalico/v3/ippool.go),
   clamped so that a block is never larger than the pool (``blockSize >= prefix``);
3. then, if the pool holds fewer blocks than tasks that may land on distinct hosts
   (the site's ``executors_max`` plus the central tasks placed there), blocks shrink until
   each may have one of its own (no borrowing), but never below one address;
4. the pool must have an address for every one of those tasks, else an error naming the
   site (no block size helps then).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..errors import CalicoInvalid

DEFAULT_BLOCK = {4: 26, 6: 122}
LIMITS = {4: (20, 32), 6: (116, 128)}


@dataclass(frozen=True)
class PoolSize:
    block_size: int
    tasks: int            # addresses the site may need at once
    addresses: int        # addresses in the pool
    blocks: int           # blocks in the pool at block_size

    @property
    def spare(self) -> int:
        return self.addresses - self.tasks


def block_size(site: str, cidr: ipaddress.IPv4Network | ipaddress.IPv6Network,
               tasks: int, explicit: int | None = None) -> PoolSize:
    """The block size for ``site``'s pool ``cidr`` holding up to ``tasks`` tasks (pure)."""
    lo, hi = LIMITS[cidr.version]
    if cidr.num_addresses < tasks:
        raise CalicoInvalid([f"site {site}: its pool {cidr} has {cidr.num_addresses} "
                             f"address(es) for up to {tasks} task(s) (executors.max plus "
                             f"the central tasks placed there): give it a larger cidr"])
    if explicit is not None:
        if not (lo <= explicit <= hi) or explicit < cidr.prefixlen:
            raise CalicoInvalid([f"site {site}: block_size {explicit} must be between "
                                 f"{max(lo, cidr.prefixlen)} and {hi} for {cidr}"])
        size = explicit
    else:
        size = max(DEFAULT_BLOCK[cidr.version], cidr.prefixlen)
        while 2 ** (size - cidr.prefixlen) < tasks and size < hi:
            size += 1
    return PoolSize(size, tasks, cidr.num_addresses, 2 ** (size - cidr.prefixlen))
