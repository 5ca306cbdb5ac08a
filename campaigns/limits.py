"""Per-customer reward limits (SPEC §12, `max_rewards_per_customer`): race-free under concurrent batches.

A customer's rewards in a limited campaign are counted in `CustomerRewardCount`, one row per
(campaign, customer). Both changes are ONE statement for a whole batch, never read-then-write:

* `rewards_grant` -- the evaluation transaction asks, per (campaign, customer), for as many rewards
  as the batch has eligible purchases; one `INSERT … ON CONFLICT DO UPDATE … WHERE rewards < limit
  RETURNING` grants at most what is left under the limit (the row lock orders concurrent batches of
  the same customer; the second one sees the first's count once it commits). The caller keeps the
  first `granted` purchases of each pair, in purchase order, and gives the others the reason
  `customer_limit_reached`.
* `rewards_release` -- a refund (or a pair the budget then refused) gives rewards back: one
  conditional `UPDATE … WHERE rewards >= n`.

`reward_count_within_limit` (`0 <= rewards <= reward_limit`) is the last line: a bug here is an
IntegrityError, never a reward over the limit. A campaign whose limit is lowered below what a
customer already has keeps that customer's rewards and grants nothing more (the WHERE fails).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.db import connection

from campaigns.models import CustomerRewardCount

COUNT_TABLE = CustomerRewardCount._meta.db_table


@dataclass(frozen=True, slots=True)
class RewardRequest:
    """`wanted` rewards for one customer in one campaign whose limit is `limit`."""

    wanted: int
    limit: int


def rewards_grant(*, requests: Mapping[tuple[int, str], RewardRequest]) -> dict[tuple[int, str], int]:
    """Grant rewards in ONE statement: `{(campaign_id, customer_id): granted}` (0 when at the limit).

    Must run in the caller's transaction (the evaluation's): the counter rows stay locked until it
    commits, so a concurrent batch of the same customer waits and then sees the new count.
    """
    if not requests:
        return {}
    keys = sorted(requests)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {COUNT_TABLE} AS t (campaign_id, customer_id, rewards, reward_limit, last_granted)
            SELECT a.campaign_id, a.customer_id, LEAST(a.wanted, a.lim), a.lim, LEAST(a.wanted, a.lim)
            FROM unnest(%s::bigint[], %s::text[], %s::int[], %s::int[]) AS a(campaign_id, customer_id, wanted, lim)
            ORDER BY a.campaign_id, a.customer_id
            ON CONFLICT (campaign_id, customer_id) DO UPDATE SET
                rewards = t.rewards + LEAST(EXCLUDED.rewards, EXCLUDED.reward_limit - t.rewards),
                last_granted = LEAST(EXCLUDED.rewards, EXCLUDED.reward_limit - t.rewards),
                reward_limit = EXCLUDED.reward_limit
            WHERE t.rewards < EXCLUDED.reward_limit
            RETURNING t.campaign_id, t.customer_id, t.last_granted
            """,  # noqa: S608 - the table name is ours, every value is a parameter
            [
                [k[0] for k in keys],
                [k[1] for k in keys],
                [requests[k].wanted for k in keys],
                [requests[k].limit for k in keys],
            ],
        )
        granted = {(campaign_id, customer_id): n for campaign_id, customer_id, n in cursor.fetchall()}
    return {key: granted.get(key, 0) for key in keys}


def rewards_release(*, released: Mapping[tuple[int, str], int]) -> int:
    """Give rewards back (a refund, a pair the budget refused): ONE conditional UPDATE; rows changed.

    A counter never goes below zero: a pair asking back more than its counter holds is left alone
    (it cannot happen through the pipeline; the condition keeps a double release harmless).
    """
    keys = sorted(key for key, n in released.items() if n > 0)
    if not keys:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {COUNT_TABLE} t SET rewards = t.rewards - r.n
            FROM (
                SELECT * FROM unnest(%s::bigint[], %s::text[], %s::int[]) AS r(campaign_id, customer_id, n)
            ) r
            WHERE t.campaign_id = r.campaign_id AND t.customer_id = r.customer_id AND t.rewards >= r.n
            """,  # noqa: S608
            [[k[0] for k in keys], [k[1] for k in keys], [released[k] for k in keys]],
        )
        return cursor.rowcount
