"""The executor (SPEC §19): due enrollments advance, in batches, inside the maintenance tick.

One batch is one transaction: up to `batch_size` due enrollments of active journeys taken with
`SELECT … FOR UPDATE SKIP LOCKED` on the partial due index (O(due), and two executors never take
the same enrollment), then rounds: every enrollment of the batch runs its current step, all of
one kind together (the sends of a round pass the gate in set queries, the branches read the
customers' snapshots in one query), until each one waits or finishes. The step runs, the messages
and the enrollments are written before commit; the queued messages are delivered after it, with no
transaction open (a lost delivery is the notification sweep's: queued for over a minute, or a
lease expired).

Crash safety: a worker killed before commit loses nothing (the batch rolls back and is taken
again; its message ids are derived from the step runs, so they come out the same); killed after
commit, the messages are queued rows delivered by the sweep under their own ids; killed after a
provider accepted a message and before the outcome was recorded, the resend carries the same
message id, which providers dedupe on (webhook-id, Idempotency-Key).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from customers.dsl import event_names, max_window_days, parse_tree
from customers.dsl_python import compile_python
from customers.models import Customer, Event
from customers.snapshots import customer_snapshots
from experiments.models import Experiment
from experiments.services import experiment_assign
from journeys import flow
from journeys.models import Enrollment, Journey, JourneyStep, StepKind, StepRun
from journeys.rows import insert_rows, update_rows
from journeys.sending import Send, decide_sends
from notifications.broadcasts import messages_deliver_batch
from notifications.messages import _zone, brand_zone
from tenants.work_due import work_due_at

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
MAX_ROUNDS = 101  # more than a journey's steps: an acyclic walk ends within them
Outcome = StepRun.Outcome


@dataclass
class Graph:
    """One version of a journey's steps, compiled once per batch."""

    journey: Journey
    steps: dict[str, JourneyStep]
    branch_predicates: dict[str, list[Any]] = field(default_factory=dict)
    event_names: set[str] = field(default_factory=set)
    window_days: int = 0


def _graphs(keys: set[tuple[int, int]]) -> dict[tuple[int, int], Graph]:
    journeys = Journey.objects.in_bulk({journey_id for journey_id, _ in keys})
    graphs = {key: Graph(journey=journeys[key[0]], steps={}) for key in keys}
    condition = Q()
    for journey_id, version in keys:
        condition |= Q(journey_id=journey_id, version=version)
    for step in JourneyStep.objects.filter(condition):
        graph = graphs[(step.journey_id, step.version)]
        graph.steps[step.key] = step
        if step.kind == StepKind.BRANCH:
            trees = [parse_tree(branch["condition"]) for branch in step.branches]
            graph.branch_predicates[step.key] = [compile_python(tree) for tree in trees]
            for tree in trees:
                graph.event_names |= event_names(tree)
                graph.window_days = max(graph.window_days, max_window_days(tree))
    return graphs


@dataclass
class Batch:
    """What one batch writes, collected while its rounds run."""

    now: datetime
    new_runs: list[dict[str, Any]] = field(default_factory=list)
    finished_runs: list[tuple[int, int, str, str, str]] = field(default_factory=list)
    message_ids: list[uuid.UUID] = field(default_factory=list)
    deferred_until: list[datetime] = field(default_factory=list)

    def run(
        self,
        enrollment: Enrollment,
        step: JourneyStep,
        outcome: str,
        *,
        detail: str = "",
        next_key: str = "",
        message_id: uuid.UUID | None = None,
        finished: bool = True,
    ) -> None:
        self.new_runs.append(
            {
                "enrollment_id": enrollment.pk,
                "step_id": step.pk,
                "outcome": outcome,
                "detail": detail[:100],
                "next_key": next_key,
                "message_id": message_id,
                "started_at": self.now,
                "finished_at": self.now if finished else None,
            }
        )

    def finish(
        self, enrollment: Enrollment, step: JourneyStep, outcome: str, *, next_key: str, detail: str = ""
    ) -> None:
        """A waiting step's run (written by the batch that started the wait) ends now."""
        self.finished_runs.append((enrollment.pk, step.pk, outcome, next_key, detail[:100]))


def _move(enrollment: Enrollment, next_key: str, now: datetime) -> bool:
    """Go to the next step (True: it runs in this batch's next round), or complete the walk."""
    if not next_key:
        _end(enrollment, Enrollment.State.COMPLETED, "", now)
        return False
    enrollment.step_key = next_key
    enrollment.state = Enrollment.State.ACTIVE
    enrollment.step_entered_at = now
    enrollment.next_run_at = now
    return True


def _end(enrollment: Enrollment, state: str, reason: str, now: datetime) -> None:
    enrollment.state = state
    enrollment.exit_reason = reason
    enrollment.finished_at = now
    enrollment.next_run_at = None


def _wait(enrollment: Enrollment, until: datetime) -> None:
    enrollment.state = Enrollment.State.WAITING
    enrollment.next_run_at = until


def _exit_events(enrollments: list[Enrollment], graphs: dict, now: datetime) -> set[int]:
    """Enrollments whose journey's exit event arrived since they entered (the ingest hook usually
    ends them at once; this catches events stored before the journey's exit event was set)."""
    wanted = [e for e in enrollments if graphs[(e.journey_id, e.version)].journey.exit_event]
    if not wanted:
        return set()
    since = min(e.entered_at for e in wanted)
    names = {graphs[(e.journey_id, e.version)].journey.exit_event for e in wanted}
    seen: dict[tuple[str, str], datetime] = {}
    for cid, name, at in Event.objects.filter(
        customer__customer_id__in={e.customer_id for e in wanted}, name__in=names, occurred_at__gte=since
    ).values_list("customer__customer_id", "name", "occurred_at"):
        seen[(cid, name)] = max(at, seen.get((cid, name), at))
    return {
        e.pk
        for e in wanted
        if (at := seen.get((e.customer_id, graphs[(e.journey_id, e.version)].journey.exit_event)))
        and at >= e.entered_at
    }


def _awaited_events(enrollments: list[Enrollment], graphs: dict) -> set[int]:
    """Waiting wait_for_event enrollments whose event arrived since they entered the step."""
    if not enrollments:
        return set()
    since = min(e.step_entered_at for e in enrollments)
    names = {graphs[(e.journey_id, e.version)].steps[e.step_key].event_name for e in enrollments}
    latest: dict[tuple[str, str], datetime] = {}
    for cid, name, at in Event.objects.filter(
        customer__customer_id__in={e.customer_id for e in enrollments}, name__in=names, occurred_at__gte=since
    ).values_list("customer__customer_id", "name", "occurred_at"):
        latest[(cid, name)] = max(at, latest.get((cid, name), at))
    found = set()
    for e in enrollments:
        at = latest.get((e.customer_id, graphs[(e.journey_id, e.version)].steps[e.step_key].event_name))
        if at is not None and at >= e.step_entered_at:
            found.add(e.pk)
    return found


def _zones(customer_ids: set[str]) -> dict[str, Any]:
    fallback = brand_zone()
    zones = {cid: fallback for cid in customer_ids}
    for cid, name in (
        Customer.objects.filter(customer_id__in=customer_ids)
        .exclude(timezone="")
        .values_list("customer_id", "timezone")
    ):
        zones[cid] = _zone(name) or fallback
    return zones


def _run_round(pending: list[Enrollment], graphs: dict, batch: Batch) -> list[Enrollment]:
    """Every pending enrollment runs (or resumes) its current step; those that move on come back."""
    now = batch.now
    by_kind: dict[str, list[Enrollment]] = defaultdict(list)
    for e in pending:
        step = graphs[(e.journey_id, e.version)].steps.get(e.step_key)
        if step is None:  # cannot happen for a validated version; never leave a walk stuck on it
            logger.error("enrollment on an unknown step", extra={"enrollment": e.pk, "step": e.step_key})
            _end(e, Enrollment.State.EXITED, "unknown_step", now)
            continue
        by_kind[step.kind].append(e)
    moving: list[Enrollment] = []

    def step_of(e: Enrollment) -> JourneyStep:
        return graphs[(e.journey_id, e.version)].steps[e.step_key]

    for e in by_kind[StepKind.EXIT]:
        batch.run(e, step_of(e), Outcome.EXITED)
        _end(e, Enrollment.State.EXITED, "exit_step", now)

    waits = by_kind[StepKind.WAIT]
    arriving = [e for e in waits if e.state == Enrollment.State.ACTIVE]
    zones = _zones({e.customer_id for e in arriving if step_of(e).wait_until_local is not None})
    for e in waits:
        step = step_of(e)
        if e.state == Enrollment.State.WAITING:
            batch.finish(e, step, Outcome.WAITED, next_key=step.next_key)
            if _move(e, step.next_key, now):
                moving.append(e)
            continue
        until = flow.wait_ends_at(
            now=now,
            seconds=step.wait_seconds,
            local_time=step.wait_until_local,
            zone=zones.get(e.customer_id),
        )
        if until <= now:
            batch.run(e, step, Outcome.WAITED, next_key=step.next_key)
            if _move(e, step.next_key, now):
                moving.append(e)
        else:
            batch.run(e, step, Outcome.WAITING, finished=False)
            _wait(e, until)

    event_waits = by_kind[StepKind.WAIT_FOR_EVENT]
    resuming = [e for e in event_waits if e.state == Enrollment.State.WAITING]
    arrived = _awaited_events(resuming, graphs)
    for e in event_waits:
        step = step_of(e)
        if e.state == Enrollment.State.ACTIVE:
            batch.run(e, step, Outcome.WAITING, finished=False)
            e.step_entered_at = now
            _wait(e, now + timedelta(seconds=step.timeout_seconds))
            continue
        deadline = e.step_entered_at + timedelta(seconds=step.timeout_seconds)
        if e.pk in arrived:
            batch.finish(e, step, Outcome.EVENT, next_key=step.next_key, detail=step.event_name)
            target = step.next_key
        elif now >= deadline:
            batch.finish(e, step, Outcome.TIMEOUT, next_key=step.timeout_next_key)
            target = step.timeout_next_key
        else:
            e.next_run_at = deadline  # woken early without the event (an event of another name)
            continue
        if _move(e, target, now):
            moving.append(e)

    branching = by_kind[StepKind.BRANCH]
    if branching:
        names = set().union(*(graphs[(e.journey_id, e.version)].event_names for e in branching))
        days = max(graphs[(e.journey_id, e.version)].window_days for e in branching)
        snapshots = customer_snapshots(
            customer_ids={e.customer_id for e in branching},
            event_names=names,
            events_since=now - timedelta(days=days) if names else None,
        )
        for e in branching:
            step = step_of(e)
            index = flow.first_match(
                graphs[(e.journey_id, e.version)].branch_predicates[step.key],
                snapshots.get(e.customer_id),
                now,
            )
            if index is None:
                batch.run(e, step, Outcome.DEFAULT, next_key=step.next_key)
                target = step.next_key
            else:
                target = step.branches[index]["next"]
                batch.run(e, step, Outcome.MATCHED, detail=str(index), next_key=target)
            if _move(e, target, now):
                moving.append(e)

    splitting = by_kind[StepKind.SPLIT]
    if splitting:
        experiments = Experiment.objects.in_bulk({step_of(e).experiment_id for e in splitting})
        for e in splitting:
            step = step_of(e)
            variant = experiment_assign(experiment=experiments[step.experiment_id], customer_id=e.customer_id)
            if variant is None:
                batch.run(e, step, Outcome.DEFAULT, next_key=step.next_key)
                target = step.next_key
            else:
                e.variant = variant
                target = step.variant_next.get(variant) or step.next_key
                batch.run(e, step, Outcome.ASSIGNED, detail=variant, next_key=target)
            if _move(e, target, now):
                moving.append(e)

    sending = by_kind[StepKind.SEND]
    if sending:
        schema = connection.schema_name
        sends = []
        for e in sending:
            step = step_of(e)
            journey = graphs[(e.journey_id, e.version)].journey
            sends.append(
                Send(
                    message_id=flow.send_message_id(schema=schema, enrollment_id=e.pk, step_id=step.pk),
                    customer_id=e.customer_id,
                    channel=step.channel,
                    category=step.category,
                    topic=step.topic,
                    subject=step.subject,
                    body_text=step.body_text,
                    campaign_id=journey.campaign_id,
                    variant=e.variant,
                    journey_step=f"{journey.pk}:{step.key}"[:100],
                )
            )
        messages = decide_sends(sends, now=now)
        for e, message in zip(sending, messages, strict=True):
            step = step_of(e)
            if message["status"] == "queued":
                outcome, detail = Outcome.SENT, message["channel"]
                batch.message_ids.append(message["id"])
            elif message["status"] == "deferred":
                outcome, detail = Outcome.DEFERRED, message["skip_reason"]
                if message["next_attempt_at"]:
                    batch.deferred_until.append(message["next_attempt_at"])
            elif message["status"] == "dead":  # its text could not be rendered (journeys/sending.py)
                outcome, detail = Outcome.SKIPPED, message["last_error"][:100]
            else:
                outcome, detail = Outcome.SKIPPED, message["skip_reason"]
            batch.run(e, step, outcome, detail=detail, next_key=step.next_key, message_id=message["id"])
            if _move(e, step.next_key, now):
                moving.append(e)
    return moving


_ENROLLMENT_COLUMNS = (
    "id",
    "state",
    "step_key",
    "next_run_at",
    "step_entered_at",
    "variant",
    "exit_reason",
    "finished_at",
)


def _save_enrollments(enrollments: list[Enrollment]) -> None:
    update_rows(
        Enrollment, [{c: getattr(e, c) for c in _ENROLLMENT_COLUMNS} for e in enrollments], keys=["id"]
    )


def _finish_runs(finished: list[tuple[int, int, str, str, str]], now: datetime) -> None:
    """Close the waiting steps' runs (written by the batches that started the waits)."""
    update_rows(
        StepRun,
        [
            {"enrollment_id": e, "step_id": s, "outcome": o, "next_key": n, "detail": d, "finished_at": now}
            for e, s, o, n, d in finished
        ],
        keys=["enrollment_id", "step_id"],
    )


Cursor = tuple[datetime, int] | None


def _advance_batch(
    *, now: datetime, batch_size: int, after: Cursor = None
) -> tuple[int, list[uuid.UUID], Cursor]:
    with transaction.atomic():
        due = Enrollment.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            state__in=["active", "waiting"], next_run_at__lte=now, journey__status=Journey.Status.ACTIVE
        )
        if after is None:
            enrollments = list(due.order_by("next_run_at", "id")[:batch_size])
        else:
            # Two index ranges, each starting at the cursor: the rest of its instant by id, then
            # what is due later (a row comparison would start the scan at the instant's first row).
            at, last_id = after
            enrollments = list(due.filter(next_run_at=at, id__gt=last_id).order_by("id")[:batch_size])
            if len(enrollments) < batch_size:
                enrollments += list(
                    due.filter(next_run_at__gt=at).order_by("next_run_at", "id")[
                        : batch_size - len(enrollments)
                    ]
                )
        if not enrollments:
            return 0, [], after
        cursor = (enrollments[-1].next_run_at, enrollments[-1].pk)
        graphs = _graphs({(e.journey_id, e.version) for e in enrollments})
        batch = Batch(now=now)
        exiting = _exit_events(enrollments, graphs, now)
        pending = []
        for e in enrollments:
            if e.pk in exiting:
                _end(e, Enrollment.State.EXITED, "exit_event", now)
            else:
                pending.append(e)
        for _ in range(MAX_ROUNDS):
            if not pending:
                break
            pending = _run_round(pending, graphs, batch)
        for e in pending:  # only a graph longer than MAX_ROUNDS: the next batch carries on
            e.next_run_at = now
        insert_rows(StepRun, batch.new_runs)
        if batch.finished_runs:
            _finish_runs(batch.finished_runs, now)
        _save_enrollments(enrollments)
        live = [e.next_run_at for e in enrollments if e.next_run_at is not None]
        due = min([*live, *batch.deferred_until], default=None)
        if due is not None:
            work_due_at(at=due)
    return len(enrollments), batch.message_ids, cursor


def enrollments_advance_due(
    *, now: datetime | None = None, batch_size: int = BATCH_SIZE, time_budget_seconds: float | None = None
) -> int:
    """Advance every due enrollment (or as many as fit in the time budget); how many were taken."""
    now = now or timezone.now()
    started = time.monotonic()
    total = 0
    cursor: Cursor = None  # each batch starts after the last row of the one before
    while True:
        taken, message_ids, cursor = _advance_batch(now=now, batch_size=batch_size, after=cursor)
        total += taken
        if message_ids:
            messages_deliver_batch(message_ids=message_ids, now=now)
        if taken < batch_size:
            break
        if time_budget_seconds is not None and time.monotonic() - started > time_budget_seconds:
            break
    return total
