"""The steps of a journey as clients write them: one pydantic model per kind, and the graph checks.

A journey is a list of steps; the first is where an enrollment starts. Each names the next step by
`key` (`next`; none: the enrollment completes), so a flow reads top to bottom:

    {"key": "welcome", "kind": "send", "channel": "email", "subject": "Hi", "body_text": "…", "next": "pause"}
    {"key": "pause", "kind": "wait", "duration_seconds": 172800, "next": "bought?"}          (or "until_local_time": "10:00")
    {"key": "bought?", "kind": "branch", "branches": [{"condition": <DSL>, "next": "thanks"}], "next": "nudge"}
    {"key": "reply", "kind": "wait_for_event", "event": "open", "timeout_seconds": 86400, "next": "…", "timeout_next": "…"}
    {"key": "ab", "kind": "split", "experiment_id": 7, "variants": {"A": "…", "B": "…"}, "next": "…"}
    {"key": "done", "kind": "exit"}

A send's subject and text are message templates (the variables of MESSAGE_TEMPLATE_VARIABLES:
`{{ customer.customer_id }}`, `{{ campaign.name }}`…), checked here and rendered per customer when
the step runs (journeys/sending.py).

The graph must be acyclic (a step runs at most once per enrollment, so a loop could never run its
second lap) and every key named must exist. Pure: no I/O; the services check the experiment exists.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from core.templating import message_template_errors
from customers.dsl import DefinitionError, parse_tree

MAX_STEPS = 100
MAX_BRANCHES = 20
MAX_WAIT_SECONDS = 366 * 86400
MAX_WAIT_FOR_EVENT_SECONDS = 31 * 86400
KEY = r"^[-a-zA-Z0-9_]{1,50}$"
_LOCAL_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

Key = Annotated[str, Field(pattern=KEY)]


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: Key


class SendStep(_Step):
    kind: Literal["send"]
    channel: Literal["email", "sms", "push", "in_app"]
    category: Literal["marketing", "transactional"] = "marketing"
    topic: str = Field(default="", max_length=100)
    subject: str = Field(default="", max_length=255)
    body_text: str = Field(min_length=1, max_length=20_000)
    next: Key | None = None


class WaitStep(_Step):
    kind: Literal["wait"]
    duration_seconds: int | None = Field(default=None, ge=1, le=MAX_WAIT_SECONDS)
    until_local_time: str | None = Field(
        default=None, description="HH:MM in the customer's timezone (else the brand's): the next such time."
    )
    next: Key | None = None

    @field_validator("until_local_time")
    @classmethod
    def _clock(cls, value: str | None) -> str | None:
        if value is not None and not _LOCAL_TIME.match(value):
            raise ValueError("until_local_time is HH:MM (24 h)")
        return value

    def model_post_init(self, context: Any) -> None:
        if (self.duration_seconds is None) == (self.until_local_time is None):
            raise ValueError("a wait takes duration_seconds or until_local_time, one of them")

    @property
    def local_time(self) -> time | None:
        if self.until_local_time is None:
            return None
        hours, minutes = self.until_local_time.split(":")
        return time(int(hours), int(minutes))


class WaitForEventStep(_Step):
    kind: Literal["wait_for_event"]
    event: str = Field(min_length=1, max_length=100)
    timeout_seconds: int = Field(ge=1, le=MAX_WAIT_FOR_EVENT_SECONDS, description="At most 31 days.")
    next: Key | None = None
    timeout_next: Key | None = None


class Branch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    condition: dict[str, Any] = Field(description="A condition of the customers DSL (SPEC §11).")
    next: Key | None = None


class BranchStep(_Step):
    kind: Literal["branch"]
    branches: list[Branch] = Field(min_length=1, max_length=MAX_BRANCHES)
    next: Key | None = Field(default=None, description="Where a customer no condition matches goes.")


class SplitStep(_Step):
    kind: Literal["split"]
    experiment_id: int = Field(ge=1, lt=2**63)
    variants: dict[str, Key | None] = Field(min_length=1, description="variant key → next step key")
    next: Key | None = Field(default=None, description="Where a customer outside the coverage goes.")


class ExitStep(_Step):
    kind: Literal["exit"]


Step = Annotated[
    SendStep | WaitStep | WaitForEventStep | BranchStep | SplitStep | ExitStep, Field(discriminator="kind")
]
_STEPS = TypeAdapter(list[Step])


class StepsError(ValueError):
    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("the steps are not valid")
        self.fields = fields


def _where(location: tuple[Any, ...]) -> str:
    where = "steps"
    for part in location:
        if isinstance(part, int):
            where += f"[{part}]"
        elif part in Step.__metadata__[0].discriminator or part in (
            "send",
            "wait",
            "wait_for_event",
            "branch",
            "split",
            "exit",
        ):
            continue
        else:
            where += f".{part}"
    return where


def targets(step: Any) -> list[str | None]:
    """Every step key this step can lead to (None: the enrollment completes)."""
    if isinstance(step, ExitStep):
        return []
    out: list[str | None] = [step.next]
    if isinstance(step, WaitForEventStep):
        out.append(step.timeout_next)
    elif isinstance(step, BranchStep):
        out += [branch.next for branch in step.branches]
    elif isinstance(step, SplitStep):
        out += list(step.variants.values())
    return out


def parse_steps(data: Any) -> list[Any]:
    """The validated steps, in order; `StepsError` with readable messages by field otherwise."""
    if not isinstance(data, list) or not data:
        raise StepsError({"steps": ["A journey needs a non-empty list of steps."]})
    if len(data) > MAX_STEPS:
        raise StepsError({"steps": [f"A journey has at most {MAX_STEPS} steps."]})
    try:
        steps = _STEPS.validate_python(data)
    except ValidationError as error:
        fields: dict[str, list[str]] = {}
        for item in error.errors():
            fields.setdefault(_where(item["loc"]), []).append(item["msg"])
        raise StepsError(fields) from None
    fields = {}
    keys: dict[str, int] = {}
    for index, step in enumerate(steps):
        if step.key in keys:
            fields.setdefault(f"steps[{index}].key", []).append(f"The key {step.key!r} is used twice.")
        keys[step.key] = index
    for index, step in enumerate(steps):
        if isinstance(step, SendStep):
            for name, label in (("subject", "The subject"), ("body_text", "The text")):
                problems = message_template_errors(label, getattr(step, name))
                if problems:
                    fields.setdefault(f"steps[{index}].{name}", []).extend(problems)
        for target in targets(step):
            if target is not None and target not in keys:
                fields.setdefault(f"steps[{index}]", []).append(f"No step has the key {target!r}.")
        if isinstance(step, BranchStep):
            for n, branch in enumerate(step.branches):
                try:
                    parse_tree(branch.condition, field=f"steps[{index}].branches[{n}].condition")
                except DefinitionError as error:
                    for where, messages in error.fields.items():
                        fields.setdefault(where, []).extend(messages)
    if fields:
        raise StepsError(fields)
    cycle = _cycle(steps, keys)
    if cycle:
        raise StepsError(
            {"steps": [f"The steps loop ({' → '.join(cycle)}); a step runs at most once per enrollment."]}
        )
    return steps


def _cycle(steps: list[Any], keys: dict[str, int]) -> list[str]:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(key: str) -> list[str]:
        state[key] = 1
        path.append(key)
        for target in targets(steps[keys[key]]):
            if target is None:
                continue
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[key] = 2
        return []

    for step in steps:
        if step.key not in state and (found := visit(step.key)):
            return found
    return []


def step_fields(step: Any) -> dict[str, Any]:
    """The JourneyStep columns of a validated step (without journey, version, position)."""
    fields: dict[str, Any] = {
        "key": step.key,
        "kind": step.kind,
        "next_key": getattr(step, "next", None) or "",
    }
    if isinstance(step, SendStep):
        fields.update(
            channel=step.channel,
            category=step.category,
            topic=step.topic,
            subject=step.subject,
            body_text=step.body_text,
        )
    elif isinstance(step, WaitStep):
        fields.update(wait_seconds=step.duration_seconds, wait_until_local=step.local_time)
    elif isinstance(step, WaitForEventStep):
        fields.update(
            event_name=step.event,
            timeout_seconds=step.timeout_seconds,
            timeout_next_key=step.timeout_next or "",
        )
    elif isinstance(step, BranchStep):
        fields["branches"] = [{"condition": b.condition, "next": b.next or ""} for b in step.branches]
    elif isinstance(step, SplitStep):
        fields.update(
            experiment_id=step.experiment_id, variant_next={k: v or "" for k, v in step.variants.items()}
        )
    return fields


def step_document(step: Any) -> dict[str, Any]:
    """A JourneyStep row as the API shows it (the same shape clients write)."""
    data: dict[str, Any] = {"key": step.key, "kind": step.kind}
    if step.kind == "send":
        data.update(
            channel=step.channel,
            category=step.category,
            topic=step.topic,
            subject=step.subject,
            body_text=step.body_text,
        )
    elif step.kind == "wait":
        if step.wait_seconds is not None:
            data["duration_seconds"] = step.wait_seconds
        else:
            data["until_local_time"] = step.wait_until_local.strftime("%H:%M")
    elif step.kind == "wait_for_event":
        data.update(
            event=step.event_name,
            timeout_seconds=step.timeout_seconds,
            timeout_next=step.timeout_next_key or None,
        )
    elif step.kind == "branch":
        data["branches"] = [{"condition": b["condition"], "next": b["next"] or None} for b in step.branches]
    elif step.kind == "split":
        data.update(
            experiment_id=step.experiment_id, variants={k: v or None for k, v in step.variant_next.items()}
        )
    if step.kind != "exit":
        data["next"] = step.next_key or None
    return data


def steps_json_schema() -> dict[str, Any]:
    return _STEPS.json_schema()
