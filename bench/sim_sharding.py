"""`python -m bench.sim_sharding`: a seller-to-store router on paper, simulated.

Sellers' parcel volumes follow a Zipf law (a few big sellers, a long tail). Each seller
goes to one PostgreSQL cluster (all of a seller's parcels, addresses and views in one
place, so no command spans two stores). The simulation answers: how uneven do the
shards get for 2..16 clusters (max shard / mean shard), and how many sellers move when
one cluster is added, with a plain modulo router versus jump consistent hashing.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from typing import Any

SELLERS = 20_000
ZIPF_S = 1.1


def volumes(sellers: int = SELLERS, s: float = ZIPF_S, seed: int = 7) -> list[float]:
    """Parcels per seller, by Zipf rank, shuffled so the rank says nothing about the id."""
    weights = [1 / (rank ** s) for rank in range(1, sellers + 1)]
    random.Random(seed).shuffle(weights)
    return weights


def _key(seller: int) -> int:
    return int.from_bytes(hashlib.sha256(f"seller-{seller}".encode()).digest()[:8], "big")


def jump_hash(key: int, buckets: int) -> int:
    """Lamping and Veach's jump consistent hash: adding a bucket moves ~1/n of the keys."""
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) % (1 << 64)
        j = int((b + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return b


def simulate(shards_list: tuple[int, ...] = (2, 4, 8, 16)) -> dict[str, Any]:
    vols = volumes()
    total = sum(vols)
    keys = [_key(s) for s in range(len(vols))]
    out: dict[str, Any] = {"sellers": len(vols), "zipf_s": ZIPF_S,
                           "biggest_seller_share": max(vols) / total, "shards": {}}
    for n in shards_list:
        load = [0.0] * n
        for key, vol in zip(keys, vols, strict=True):
            load[jump_hash(key, n)] += vol
        moved_jump = sum(jump_hash(k, n) != jump_hash(k, n + 1) for k in keys) / len(keys)
        moved_mod = sum(k % n != k % (n + 1) for k in keys) / len(keys)
        out["shards"][n] = {"max_over_mean": max(load) / (total / n),
                            "sellers_moved_adding_one_jump": moved_jump,
                            "sellers_moved_adding_one_modulo": moved_mod}
    return out


def main() -> int:
    print(json.dumps(simulate(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
