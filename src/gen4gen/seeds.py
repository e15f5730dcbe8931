"""Per-item seeds: derived from (run seed, stage, item id), never from counters or global RNG state.

So an item gets the same random choices whether it is made first, last, alone, after a crash, or on another worker.
"""

from __future__ import annotations

import hashlib


def derive_seed(run_seed: int, stage: str, item_id: str) -> int:
    """A 63-bit seed unique to this run seed, stage and item."""
    digest = hashlib.blake2b(f"{run_seed}\x1f{stage}\x1f{item_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1
