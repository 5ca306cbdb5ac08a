"""Deterministic variant assignment (pure, no I/O): a hash of (seed, bucket version, customer id).

One 64-bit BLAKE2b digest gives two independent uniform numbers: its high 32 bits decide coverage
(is the customer in the experiment at all?), its low 32 bits pick the variant by weight. The same
inputs give the same answer in every process and on every machine (no `hash()` randomisation).

Coverage is monotonic: a customer in at coverage 0.2 is still in at 0.5, so raising the coverage
only adds customers. The variant a customer got is persisted (experiments.models.Assignment), so
changing weights later never moves anyone; bumping the bucket version re-randomises on purpose.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import blake2b
from itertools import accumulate

_SPACE = 1 << 32


@dataclass(frozen=True)
class Plan:
    """What assignment needs of an experiment: precomputed once, used for every customer."""

    prefix: bytes  # seed and bucket version, hashed before the customer id
    coverage_cut: int  # customers whose coverage draw is below this are in the experiment
    keys: tuple[str, ...]
    cumulative: tuple[int, ...]  # cumulative weights scaled to [0, 2**32]


def plan_for(*, seed: str, bucket_version: int, coverage: float, variants: Sequence[tuple[str, int]]) -> Plan:
    """`variants` are (key, weight) in order; weights are positive integers (any scale)."""
    if not variants:
        raise ValueError("An experiment needs at least one variant.")
    total = sum(weight for _, weight in variants)
    if total <= 0 or any(weight < 0 for _, weight in variants):
        raise ValueError("Weights must be non-negative and not all zero.")
    cumulative = tuple(running * _SPACE // total for running in accumulate(w for _, w in variants))
    return Plan(
        prefix=f"{seed}:{bucket_version}:".encode(),
        coverage_cut=round(min(max(coverage, 0.0), 1.0) * _SPACE),
        keys=tuple(key for key, _ in variants),
        cumulative=cumulative,
    )


def assign(plan: Plan, customer_id: str) -> str | None:
    """The variant key for this customer, or None when the customer is outside the coverage."""
    value = int.from_bytes(blake2b(plan.prefix + customer_id.encode(), digest_size=8).digest(), "big")
    if (value >> 32) >= plan.coverage_cut:
        return None
    return plan.keys[min(bisect_right(plan.cumulative, value & 0xFFFFFFFF), len(plan.keys) - 1)]
