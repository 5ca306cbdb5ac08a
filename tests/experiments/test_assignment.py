"""Deterministic, sticky assignment: the same in another process, unchanged after a weight change."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from decimal import Decimal

import pytest

from experiments import assignment
from experiments.models import Assignment, Variant
from experiments.services import VariantSpec, experiment_assign, experiment_create
from tests.campaigns.factories import CampaignFactory

CUSTOMERS = [f"cust-{i}" for i in range(2000)]


def _plan(**overrides):
    return assignment.plan_for(
        **(
            {"seed": "s33d", "bucket_version": 1, "coverage": 1.0, "variants": [("A", 1), ("B", 1)]}
            | overrides
        )
    )


def test_same_answer_in_another_process():
    here = [assignment.assign(_plan(), c) for c in CUSTOMERS]
    code = (
        "import json, sys; from experiments.assignment import plan_for, assign; "
        "p = plan_for(seed='s33d', bucket_version=1, coverage=1.0, variants=[('A', 1), ('B', 1)]); "
        "print(json.dumps([assign(p, f'cust-{i}') for i in range(2000)]))"
    )
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123"}, cwd=".")  # fmt: skip
    assert json.loads(there.stdout) == here


def test_weights_split_the_traffic_and_coverage_is_monotonic():
    plan = _plan(variants=[("A", 1), ("B", 3)])
    counts = Counter(assignment.assign(plan, f"c{i}") for i in range(40_000))
    assert counts["B"] / 40_000 == pytest.approx(0.75, abs=0.01)
    small, large = _plan(coverage=0.2), _plan(coverage=0.5)
    inside_small = {c for c in CUSTOMERS if assignment.assign(small, c) is not None}
    assert len(inside_small) == pytest.approx(400, abs=60)
    assert all(assignment.assign(large, c) == assignment.assign(small, c) for c in inside_small)


def test_bucket_version_re_randomises():
    first, second = _plan(), _plan(bucket_version=2)
    moved = sum(assignment.assign(first, c) != assignment.assign(second, c) for c in CUSTOMERS)
    assert 800 < moved < 1200


@pytest.mark.django_db
def test_sticky_after_a_weight_change(brand_a):
    experiment = experiment_create(
        campaign=CampaignFactory(), actor="system", variants=[VariantSpec("A", 1), VariantSpec("B", 1)]
    )
    before = {c: experiment_assign(experiment=experiment, customer_id=c) for c in CUSTOMERS[:300]}
    Variant.objects.filter(experiment=experiment, key="B").update(weight=99)
    after = {c: experiment_assign(experiment=experiment, customer_id=c) for c in CUSTOMERS[:300]}
    assert after == before
    assert Assignment.objects.filter(experiment=experiment).count() == 300
    # New customers follow the new weights.
    newcomers = Counter(experiment_assign(experiment=experiment, customer_id=f"new-{i}") for i in range(300))
    assert newcomers["B"] > 270


@pytest.mark.django_db
def test_outside_coverage_is_null_and_not_persisted(brand_a):
    experiment = experiment_create(
        campaign=CampaignFactory(), actor="system", coverage=Decimal("0.1"),
        variants=[VariantSpec("A", 1), VariantSpec("B", 1)],
    )  # fmt: skip
    answers = [experiment_assign(experiment=experiment, customer_id=c) for c in CUSTOMERS[:500]]
    assert answers.count(None) == pytest.approx(450, abs=30)
    assert Assignment.objects.filter(experiment=experiment).count() == 500 - answers.count(None)
