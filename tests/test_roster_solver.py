"""The roster's solver (services.roster_solver) against brute force, on small random
instances; the candidates' availability and clash filters against naive references."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from volunteer_hub.services import roster_solver as rs
from volunteer_hub.services import volunteer_features

W = rs.Weights(place_value=1000, score_scale=1000, load_step=150, max_places=3)


@st.composite
def instances(draw, *, min_group: bool = False, max_pairs: int = 11):
    n_occ = draw(st.integers(1, 4))
    n_people = draw(st.integers(1, 4))
    starts = [draw(st.integers(0, 6)) for _ in range(n_occ)]
    ends = [s + draw(st.integers(1, 3)) for s in starts]
    places = [draw(st.integers(0, 3)) for _ in range(n_occ)]
    all_pairs = list(itertools.product(range(n_occ), range(n_people)))
    pairs = draw(
        st.lists(st.sampled_from(all_pairs), unique=True, max_size=min(max_pairs, len(all_pairs)))
    )
    scores = [draw(st.integers(0, 10)) / 10 for _ in pairs]
    load_before = [draw(st.integers(0, 2)) for _ in range(n_people)]
    groups = [draw(st.sampled_from([0, 0, 2, 3])) if min_group else 0 for _ in range(n_occ)]
    taken = [draw(st.integers(0, 1)) if min_group else 0 for _ in range(n_occ)]
    return rs.Instance(
        occ_start=starts,
        occ_end=ends,
        places=places,
        pair_occ=[p[0] for p in pairs],
        pair_person=[p[1] for p in pairs],
        pair_score=scores,
        n_people=n_people,
        load_before=load_before,
        min_group=groups,
        taken=taken,
    )


def brute_force(inst: rs.Instance, allowed: np.ndarray | None = None) -> int:
    """The best objective over every subset of the (allowed) pairs that keeps the model."""
    pairs = np.arange(len(inst.pair_occ))
    if allowed is not None:
        pairs = pairs[allowed]
    best = 0  # the empty plan
    for size in range(1, len(pairs) + 1):
        for subset in itertools.combinations(pairs.tolist(), size):
            chosen = np.array(subset, dtype=np.int64)
            if rs.is_feasible(inst, chosen, W):
                best = max(best, rs.objective(inst, chosen, W))
    return best


def overlaps(inst: rs.Instance, chosen: np.ndarray) -> bool:
    by_person: dict[int, list[int]] = {}
    for i in chosen.tolist():
        by_person.setdefault(int(inst.pair_person[i]), []).append(int(inst.pair_occ[i]))
    for occs in by_person.values():
        for a, b in itertools.combinations(occs, 2):
            if inst.occ_start[a] < inst.occ_end[b] and inst.occ_start[b] < inst.occ_end[a]:
                return True
    return False


@settings(max_examples=150, deadline=None)
@given(instances())
def test_the_flow_is_optimal_against_brute_force(inst: rs.Instance) -> None:
    solution = rs.solve(inst, W)
    assert rs.is_feasible(inst, solution.chosen, W)
    assert solution.objective == brute_force(inst)
    got = np.bincount(inst.pair_occ[solution.chosen], minlength=inst.n_occurrences)
    assert (got <= inst.places).all()  # never over capacity
    assert not overlaps(inst, solution.chosen)  # never a clash


@settings(max_examples=100, deadline=None)
@given(instances(), st.data())
def test_refused_pairs_are_never_chosen_and_the_rest_is_still_optimal(
    inst: rs.Instance, data
) -> None:
    refused = np.array(
        [data.draw(st.booleans()) for _ in range(len(inst.pair_occ))], dtype=bool
    ).reshape(-1)
    asked: list[int] = []

    def check(pairs: np.ndarray) -> np.ndarray:
        asked.extend(pairs.tolist())
        return refused[pairs]

    solution = rs.solve(inst, W, check=check)
    assert not refused[solution.chosen].any()
    assert set(solution.chosen.tolist()) <= set(asked)  # every chosen pair was asked
    assert len(asked) == len(set(asked))  # and asked once
    assert solution.objective == brute_force(inst, ~refused)


@settings(max_examples=150, deadline=None)
@given(instances(min_group=True))
def test_minimum_groups_are_never_left_short(inst: rs.Instance) -> None:
    solution = rs.solve(inst, W)
    assert rs.is_feasible(inst, solution.chosen, W)
    got = np.bincount(inst.pair_occ[solution.chosen], minlength=inst.n_occurrences)
    short = (inst.min_group > 0) & (got > 0) & (inst.taken + got < inst.min_group)
    assert not short.any()
    assert not overlaps(inst, solution.chosen)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 6),  # occurrences, one after the other (no clash)
    st.integers(1, 6),  # people, each a candidate for every occurrence
    st.data(),
)
def test_tied_scores_spread_the_load_evenly(n_occ: int, n_people: int, data) -> None:
    places = [data.draw(st.integers(1, 4)) for _ in range(n_occ)]
    pairs = list(itertools.product(range(n_occ), range(n_people)))
    inst = rs.Instance(
        occ_start=[10 * o for o in range(n_occ)],
        occ_end=[10 * o + 5 for o in range(n_occ)],
        places=places,
        pair_occ=[o for o, _ in pairs],
        pair_person=[p for _, p in pairs],
        pair_score=[0.5] * len(pairs),
        n_people=n_people,
    )
    w = rs.Weights(max_places=n_occ)
    solution = rs.solve(inst, w)
    loads = np.bincount(inst.pair_person[solution.chosen], minlength=n_people)
    assert loads.max() - loads.min() <= 1
    # every place that can be filled is filled (nobody can take one occurrence twice)
    assert loads.sum() == sum(min(p, n_people) for p in places)


def test_components_group_overlapping_shifts_and_keep_back_to_back_apart() -> None:
    labels = rs.components(np.array([0, 5, 10, 12, 30]), np.array([10, 8, 20, 13, 40]))
    assert labels.tolist() == [0, 0, 1, 1, 2]


def test_greedy_keeps_the_model_but_can_be_beaten() -> None:
    # Two places, two people: the greedy gives the best pair first and strands the other place.
    inst = rs.Instance(
        occ_start=[0, 10],
        occ_end=[5, 15],
        places=[1, 1],
        pair_occ=[0, 0, 1],
        pair_person=[0, 1, 0],
        pair_score=[1.0, 0.0, 0.9],
        n_people=2,
    )
    w = rs.Weights(max_places=1)
    plain = rs.greedy(inst, w)
    best = rs.solve(inst, w)
    assert rs.is_feasible(inst, plain, w)
    assert rs.objective(inst, plain, w) < best.objective
    assert best.chosen.tolist() == [1, 2]


# --- the filters of the roster's candidates, against naive references -------------------------

MONDAY = datetime(2026, 12, 7, tzinfo=ZoneInfo("Asia/Shanghai"))


def naive_available(slots: list[tuple[int, int, int]], start: datetime, end: datetime) -> bool:
    """Every minute of [start, end) lies in one of the weekly slots (none: always free)."""
    if not slots:
        return True
    zone = ZoneInfo("Asia/Shanghai")
    t = start
    while t < end:
        local = t.astimezone(zone)
        minute = local.hour * 60 + local.minute
        if not any(d == local.isoweekday() and s <= minute < e for d, s, e in slots):
            return False
        t += timedelta(minutes=1)
    return True


slot = st.tuples(st.integers(1, 7), st.integers(0, 1439), st.integers(1, 600)).map(
    lambda x: (x[0], x[1], min(1440, x[1] + x[2]))
)


def snapshot(n: int, **parts: list[tuple]) -> volunteer_features.Features:
    """A snapshot of ``n`` volunteers (ids 1..n) with the given parts' rows, no database."""
    people = [(i + 1, f"v{i}", None, None, [], 1) for i in range(n)]
    columns = {"availability": 4, "shifts": 3}
    tables = {
        name: tuple(np.array(c, dtype=np.int64).reshape(len(rows)) for c in zip(*rows, strict=True))
        if rows else tuple(np.zeros(0, dtype=np.int64) for _ in range(columns[name]))
        for name, rows in parts.items()
    }  # fmt: skip
    return volunteer_features.from_rows(1, "Asia/Shanghai", 0, people, tables)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(slot, max_size=4), min_size=1, max_size=4),
    st.lists(st.tuples(st.integers(0, 7 * 1440 - 1), st.integers(30, 600)), min_size=1, max_size=5),
)
def test_availability_agrees_with_a_minute_by_minute_reference(people_slots, shifts) -> None:
    """A roster's place needs the whole shift covered (``free_pairs`` with ``whole``)."""
    rows = [(p + 1, d, s, e) for p, ss in enumerate(people_slots) for d, s, e in ss]
    snap = snapshot(len(people_slots), availability=rows)
    starts = [MONDAY + timedelta(minutes=m) for m, _ in shifts]
    ends = [s + timedelta(minutes=d) for s, (_, d) in zip(starts, shifts, strict=True)]
    pairs = list(itertools.product(range(len(shifts)), range(len(people_slots))))
    got = volunteer_features.free_pairs(
        snap,
        np.array([int(s.timestamp()) for s in starts]),
        np.array([int(e.timestamp()) for e in ends]),
        np.array([o for o, _ in pairs]),
        np.array([p for _, p in pairs]),
        volunteer_features.claims(snap, []),
        whole=True,
    )
    want = [naive_available(people_slots[p], starts[o], ends[o]) for o, p in pairs]
    assert got.tolist() == want


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 50), st.integers(1, 20), st.booleans()),
        max_size=8,
    ),
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 60), st.integers(1, 20)), min_size=1),
)
def test_busy_clashes_agree_with_a_pairwise_reference(busy, asked) -> None:
    """Busy: a confirmed shift or a claimed wish's window (``claim``) overlapping."""
    intervals = [(p, s, s + d) for p, s, d, _ in busy]
    shifts = [(p + 1, s, s + d) for p, s, d, claim in busy if not claim]
    snap = snapshot(3, shifts=shifts)
    held = volunteer_features.claims(
        snap, [("c", p + 1, s, s + d, None) for p, s, d, claim in busy if claim]
    )
    s = np.array([a[1] for a in asked])
    e = np.array([a[1] + a[2] for a in asked])
    person = np.array([a[0] for a in asked])
    got = ~volunteer_features.free_pairs(
        snap, s, e, np.arange(len(asked)), person, held, whole=True
    )
    want = [
        any(bp == p and bs < ae and as_ < be for bp, bs, be in intervals)
        for p, as_, ae in zip(person.tolist(), s.tolist(), e.tolist(), strict=True)
    ]
    assert got.tolist() == want
