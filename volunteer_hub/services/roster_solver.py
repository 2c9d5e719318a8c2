"""The optimal fair roster as a min-cost flow: numpy arrays in, chosen pairs out.

This module knows nothing of the database (``services.rostering`` builds its input), so the
benchmark and the property tests call it bare.

The model
---------
*Occurrences* (index ``o``) have ``places[o]`` open places; *people* (index ``p``) are
candidates for some of them: the *pairs* ``(pair_occ[i], pair_person[i])`` with a fit
``pair_score[i]`` in [0, 1]. A plan chooses pairs so that

- no occurrence gets more people than its open places;
- nobody holds two places whose times overlap: occurrences are grouped into the connected
  components of their overlap graph (half-open intervals ``[start, end)``, so back-to-back
  shifts do not overlap), and a person holds at most one place per component. Where a
  component is a clique (the usual case: shifts at the same hours), that is exactly "no
  clash"; where it is a chain (A overlaps B, B overlaps C, A does not overlap C) it is
  stricter than needed: A and C are not given to one person in the same plan;
- a person holds at most ``max_places`` places in the period, counting the ``load_before``
  places they hold already, and gets at most ``extra_cap`` more (when given);
- an occurrence with a minimum group (``min_group[o] > 0``, e.g. night patrols walked in
  pairs) ends with 0 people or at least ``min_group[o]`` together with the ``taken[o]``
  people signed up already;
- pairs that ``check`` refuses (the registration rules) are never chosen.

Among those plans it maximises ``sum(place_value + round(score * score_scale))`` over the
chosen pairs minus, for each person, a convex load cost: their k-th place in the period
(counting ``load_before``) costs ``load_step * (k - 1)``, so the first place is free, the
second costs one step, the third two steps... Convexity is what spreads load: moving a
place from someone with many to someone with few always lowers the cost.

The flow
--------
source → occurrence (capacity: open places) → [person × component] → person → sink, with
``max_places - load_before`` parallel unit arcs from each person to the sink whose costs
increase (the convex load), and a source → sink arc for places left open. A pair arc has
capacity 1 and cost ``-(place_value + score)`` (shifted, with the bypass, by a constant
that makes every cost non-negative, which the solver handles faster). The
[person × component] node (capacity 1) exists only where a person is a candidate for two
or more occurrences of a component.

Optimality: without minimum groups the min-cost flow is an optimum of the model above
(integral, as every min-cost flow with integer capacities). Rules are checked lazily:
only the pairs of the optimum are asked (and, once the rules refuse a person a place,
that person's other pairs); refused pairs leave the graph and the flow is solved again,
until every chosen pair is allowed. The final plan is optimal over all
allowed pairs, because it is optimal over a superset of them (only refused pairs were
removed) and uses only allowed pairs. Minimum groups are not a flow constraint: an
occurrence left with 1..min-1 people is closed (its places stay open in this plan) and the
flow is solved again; the result respects every minimum group, but may fall short of the
best plan that respects them (it never leaves a group single, which is the rule).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from ortools.graph.python import min_cost_flow


@dataclass(frozen=True)
class Weights:
    """How the objective weighs a filled place, fit and load (all integers in the flow)."""

    place_value: int = 1000  # filling a place at all
    score_scale: int = 1000  # a perfect fit adds this much
    load_step: int = 150  # the k-th place of a person costs (k - 1) steps
    max_places: int = 7  # places a person may hold in the period, those held included


@dataclass
class Instance:
    """One roster problem as arrays (see the module's docstring)."""

    occ_start: np.ndarray  # int64, any unit (seconds since the epoch)
    occ_end: np.ndarray
    places: np.ndarray  # open places of each occurrence
    pair_occ: np.ndarray  # int, index into the occurrences
    pair_person: np.ndarray  # int, index into the people
    pair_score: np.ndarray  # float in [0, 1]
    n_people: int
    load_before: np.ndarray | None = None  # places each person holds in the period already
    min_group: np.ndarray | None = None  # 0: none
    taken: np.ndarray | None = None  # people signed up already (for the minimum group)
    extra_cap: np.ndarray | None = None  # more places each person may get (None: no limit)

    def __post_init__(self) -> None:
        n_occ = len(self.places)
        self.occ_start = np.asarray(self.occ_start, dtype=np.int64)
        self.occ_end = np.asarray(self.occ_end, dtype=np.int64)
        self.places = np.asarray(self.places, dtype=np.int64)
        self.pair_occ = np.asarray(self.pair_occ, dtype=np.int64)
        self.pair_person = np.asarray(self.pair_person, dtype=np.int64)
        self.pair_score = np.asarray(self.pair_score, dtype=np.float64)
        if self.load_before is None:
            self.load_before = np.zeros(self.n_people, dtype=np.int64)
        if self.min_group is None:
            self.min_group = np.zeros(n_occ, dtype=np.int64)
        if self.taken is None:
            self.taken = np.zeros(n_occ, dtype=np.int64)
        self.load_before = np.asarray(self.load_before, dtype=np.int64)
        self.min_group = np.asarray(self.min_group, dtype=np.int64)
        self.taken = np.asarray(self.taken, dtype=np.int64)
        if self.extra_cap is not None:
            self.extra_cap = np.asarray(self.extra_cap, dtype=np.int64)

    @property
    def n_occurrences(self) -> int:
        return len(self.places)


@dataclass
class Solution:
    chosen: np.ndarray  # indices into the pairs, sorted
    objective: int  # the model's objective (see ``objective``)
    rounds: int = 1  # flow solves (rules refused or groups closed in between)
    refused: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    closed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def components(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Connected components of the overlap graph of half-open intervals: a label per
    interval (0, 1, ...), in time order."""
    n = len(start)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(start, kind="stable")
    s, e = start[order], end[order]
    reach = np.maximum.accumulate(e)
    new = np.empty(n, dtype=bool)
    new[0] = True
    new[1:] = s[1:] >= reach[:-1]
    labels = np.empty(n, dtype=np.int64)
    labels[order] = np.cumsum(new) - 1
    return labels


def pair_values(inst: Instance, w: Weights) -> np.ndarray:
    """What each pair adds to the objective when chosen (before the load cost)."""
    return w.place_value + np.rint(np.clip(inst.pair_score, 0.0, 1.0) * w.score_scale).astype(
        np.int64
    )


def load_cost(loads: np.ndarray, load_before: np.ndarray, w: Weights) -> int:
    """The convex load cost of giving each person ``loads`` more places."""
    total = load_before + loads
    # sum over k = load_before+1 .. total of step*(k-1) = step * (T(T-1)/2 - B(B-1)/2)
    return int(
        w.load_step * ((total * (total - 1)) // 2 - (load_before * (load_before - 1)) // 2).sum()
    )


def objective(inst: Instance, chosen: np.ndarray, w: Weights) -> int:
    """The model's objective of a plan (``chosen``: indices into the pairs)."""
    chosen = np.asarray(chosen, dtype=np.int64)
    values = pair_values(inst, w)[chosen].sum()
    loads = np.bincount(inst.pair_person[chosen], minlength=inst.n_people)
    return int(values) - load_cost(loads, inst.load_before, w)


def solve(
    inst: Instance,
    w: Weights | None = None,
    check: Callable[[np.ndarray], np.ndarray] | None = None,
    max_rounds: int = 50,
) -> Solution:
    """The optimal plan (see the module's docstring). ``check(pairs)`` answers, for the
    given pair indices, a boolean array: True where the rules refuse the pair.

    The candidate graph falls apart into connected parts (people and occurrences linked by
    pairs; teams whose members serve no other team are parts of their own); parts share
    nothing, so the optimum is the union of each part's optimum, and a few small flows
    solve faster than one large one."""
    w = w or Weights()
    comp = components(inst.occ_start, inst.occ_end)
    n_comp = int(comp.max()) + 1 if inst.n_occurrences else 0
    part_of_pair = connected_parts(inst)
    chosen, refused, closed, rounds = [], [], [], 0
    order = np.argsort(part_of_pair, kind="stable")
    labels = part_of_pair[order]
    cuts = np.flatnonzero(np.diff(labels)) + 1
    for idx in np.split(order, cuts) if len(order) else []:
        occs, sub_occ = np.unique(inst.pair_occ[idx], return_inverse=True)
        people, sub_person = np.unique(inst.pair_person[idx], return_inverse=True)
        sub = Instance(
            occ_start=inst.occ_start[occs],
            occ_end=inst.occ_end[occs],
            places=inst.places[occs],
            pair_occ=sub_occ,
            pair_person=sub_person,
            pair_score=inst.pair_score[idx],
            n_people=len(people),
            load_before=inst.load_before[people],
            extra_cap=None if inst.extra_cap is None else inst.extra_cap[people],
            min_group=inst.min_group[occs],
            taken=inst.taken[occs],
        )
        part_check = None
        if check is not None:

            def part_check(pairs: np.ndarray, idx: np.ndarray = idx) -> np.ndarray:
                return check(idx[pairs])

        found = _solve_part(sub, w, part_check, max_rounds, comp[occs], n_comp)
        chosen.append(idx[found.chosen])
        refused.append(idx[found.refused])
        closed.append(occs[found.closed])
        rounds = max(rounds, found.rounds)
    picked = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)
    return Solution(
        chosen=picked,
        objective=objective(inst, picked, w),
        rounds=rounds,
        refused=np.concatenate(refused) if refused else np.zeros(0, dtype=np.int64),
        closed=np.unique(np.concatenate(closed)) if closed else np.zeros(0, dtype=np.int64),
    )


def connected_parts(inst: Instance) -> np.ndarray:
    """A label per pair: the connected part of the candidate graph it belongs to (label
    propagation over the bipartite graph, one numpy pass per step of its diameter)."""
    n_pairs = len(inst.pair_occ)
    if not n_pairs:
        return np.zeros(0, dtype=np.int64)
    person_label = np.arange(inst.n_people, dtype=np.int64)
    occ_label = np.full(inst.n_occurrences, np.iinfo(np.int64).max, dtype=np.int64)
    while True:
        np.minimum.at(occ_label, inst.pair_occ, person_label[inst.pair_person])
        new = person_label.copy()
        np.minimum.at(new, inst.pair_person, occ_label[inst.pair_occ])
        if np.array_equal(new, person_label):
            return person_label[inst.pair_person]
        person_label = new


def _solve_part(
    inst: Instance,
    w: Weights,
    check: Callable[[np.ndarray], np.ndarray] | None,
    max_rounds: int,
    comp: np.ndarray,
    n_comp: int,
) -> Solution:
    """``solve`` on one connected part (``comp``: the overlap components' labels)."""
    n_occ, n_people, n_pairs = inst.n_occurrences, inst.n_people, len(inst.pair_occ)

    source, sink = 0, 1
    occ_node0 = 2
    person_node0 = occ_node0 + n_occ
    mid_node0 = person_node0 + n_people

    # [person × component] nodes where a person has two or more pairs in a component.
    key = inst.pair_person * max(n_comp, 1) + comp[inst.pair_occ]
    uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    shared = counts[inverse] > 1
    mid_keys = uniq[counts > 1]
    mid_index = np.searchsorted(mid_keys, key[shared])
    mid_person = mid_keys // max(n_comp, 1)

    values = pair_values(inst, w)
    pair_head = person_node0 + inst.pair_person
    pair_head[shared] = mid_node0 + mid_index

    slots = _slots(inst, w)
    if n_pairs:  # nobody needs more load arcs than the components they are a candidate in
        comps_per_person = np.bincount(uniq // max(n_comp, 1), minlength=n_people)
        slots = np.minimum(slots, comps_per_person)
    load_person = np.repeat(np.arange(n_people), slots)
    rank_in_person = np.arange(len(load_person)) - np.repeat(np.cumsum(slots) - slots, slots)
    load_arc_cost = w.load_step * (inst.load_before[load_person] + rank_in_person)

    total = int(inst.places.sum())
    tails = np.concatenate(
        [
            np.full(n_occ, source),
            [source],
            occ_node0 + inst.pair_occ,
            mid_node0 + np.arange(len(mid_keys)),
            person_node0 + load_person,
        ]
    ).astype(np.int32)
    heads = np.concatenate(
        [
            occ_node0 + np.arange(n_occ),
            [sink],
            pair_head,
            person_node0 + mid_person,
            np.full(len(load_person), sink),
        ]
    ).astype(np.int32)
    caps = np.concatenate(
        [
            inst.places,
            [total],
            np.ones(n_pairs, dtype=np.int64),
            np.ones(len(mid_keys), dtype=np.int64),
            np.ones(len(load_person), dtype=np.int64),
        ]
    ).astype(np.int64)
    # Every unit of flow passes one pair arc or the bypass: adding ``shift`` to both moves
    # every plan's cost by the same amount and keeps the costs non-negative (faster).
    shift = w.place_value + w.score_scale
    costs = np.concatenate(
        [
            np.zeros(n_occ, dtype=np.int64),
            [shift],
            shift - values,
            np.zeros(len(mid_keys), dtype=np.int64),
            load_arc_cost,
        ]
    ).astype(np.int64)

    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    supplies = np.zeros(mid_node0 + len(mid_keys), dtype=np.int64)
    supplies[source], supplies[sink] = total, -total
    flow.set_nodes_supplies(np.arange(len(supplies), dtype=np.int32), supplies)

    pair_arc0 = n_occ + 1
    pair_arcs = np.arange(pair_arc0, pair_arc0 + n_pairs, dtype=np.int64)
    allowed = np.zeros(n_pairs, dtype=bool)  # pairs the rules have allowed already
    refused: list[np.ndarray] = []
    closed: list[np.ndarray] = []
    rounds = 0
    while True:
        rounds += 1
        status = flow.solve()
        if status != flow.OPTIMAL:  # cannot happen: the bypass arc makes every instance feasible
            raise RuntimeError(f"min-cost flow failed: {status}")
        chosen = np.flatnonzero(flow.flows(pair_arcs) > 0)
        changed = False
        if check is not None:
            fresh = chosen[~allowed[chosen]]
            if len(fresh):
                bad = np.asarray(check(fresh), dtype=bool)
                allowed[fresh[~bad]] = True
                if bad.any():
                    gone = fresh[bad]
                    # A rule that refuses someone for one shift often refuses them for
                    # others (an age, a lapsed certificate): ask about their other pairs
                    # now rather than one flow round each. Still exact: only pairs the
                    # rules refuse leave the graph.
                    asked = np.zeros(n_pairs, dtype=bool)
                    asked[fresh] = True
                    for done in refused:
                        asked[done] = True
                    them = np.isin(inst.pair_person, np.unique(inst.pair_person[gone]))
                    more = np.flatnonzero(them & ~allowed & ~asked)
                    if len(more):
                        more_bad = np.asarray(check(more), dtype=bool)
                        allowed[more[~more_bad]] = True
                        gone = np.concatenate([gone, more[more_bad]])
                    refused.append(gone)
                    flow.set_arc_capacities(pair_arcs[gone], np.zeros(len(gone), dtype=np.int64))
                    changed = True
        if not changed and inst.min_group.any():
            got = np.bincount(inst.pair_occ[chosen], minlength=n_occ)
            single = np.flatnonzero(
                (inst.min_group > 0) & (got > 0) & (inst.taken + got < inst.min_group)
            )
            if len(single):
                closed.append(single)
                flow.set_arc_capacities(single, np.zeros(len(single), dtype=np.int64))
                changed = True
        if not changed or rounds >= max_rounds:
            break
    if changed:  # out of rounds: drop what is still unchecked or single, never break a rule
        chosen = _settle(inst, chosen, allowed if check is not None else None)
    return Solution(
        chosen=np.sort(chosen),
        objective=0,  # the caller sums the parts
        rounds=rounds,
        refused=np.concatenate(refused) if refused else np.zeros(0, dtype=np.int64),
        closed=np.concatenate(closed) if closed else np.zeros(0, dtype=np.int64),
    )


def _settle(inst: Instance, chosen: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    if allowed is not None:
        chosen = chosen[allowed[chosen]]
    got = np.bincount(inst.pair_occ[chosen], minlength=inst.n_occurrences)
    single = (inst.min_group > 0) & (got > 0) & (inst.taken + got < inst.min_group)
    return chosen[~single[inst.pair_occ[chosen]]]


def _slots(inst: Instance, w: Weights) -> np.ndarray:
    """How many more places each person may get: up to ``max_places`` in all, and no more
    than their ``extra_cap``."""
    slots = np.clip(w.max_places - inst.load_before, 0, None)
    if inst.extra_cap is not None:
        slots = np.minimum(slots, np.clip(inst.extra_cap, 0, None))
    return slots


def greedy(inst: Instance, w: Weights | None = None) -> np.ndarray:
    """A plain greedy for comparison: pairs by value, best first, each taken while its
    occurrence has a place, its person a slot and no place in the same component; the
    load cost is ignored when choosing (it is counted in the objective). Minimum groups
    are settled as in ``solve``."""
    w = w or Weights()
    comp = components(inst.occ_start, inst.occ_end)
    order = np.argsort(-pair_values(inst, w), kind="stable")
    left = inst.places.copy()
    slots = _slots(inst, w)
    used: set[tuple[int, int]] = set()
    chosen = []
    pair_occ, pair_person = inst.pair_occ.tolist(), inst.pair_person.tolist()
    comp_list = comp.tolist()
    for i in order.tolist():
        o, p = pair_occ[i], pair_person[i]
        key = (p, comp_list[o])
        if left[o] > 0 and slots[p] > 0 and key not in used:
            left[o] -= 1
            slots[p] -= 1
            used.add(key)
            chosen.append(i)
    return _settle(inst, np.array(chosen, dtype=np.int64), None)


def is_feasible(inst: Instance, chosen: np.ndarray, w: Weights | None = None) -> bool:
    """Whether a plan keeps every constraint of the model (for tests and the benchmark)."""
    w = w or Weights()
    chosen = np.asarray(chosen, dtype=np.int64)
    if len(np.unique(chosen)) != len(chosen):
        return False
    got = np.bincount(inst.pair_occ[chosen], minlength=inst.n_occurrences)
    if (got > inst.places).any():
        return False
    loads = np.bincount(inst.pair_person[chosen], minlength=inst.n_people)
    if (loads > _slots(inst, w)).any():
        return False
    comp = components(inst.occ_start, inst.occ_end)
    keys = inst.pair_person[chosen] * (int(comp.max(initial=0)) + 1) + comp[inst.pair_occ[chosen]]
    if len(np.unique(keys)) != len(keys):
        return False
    single = (inst.min_group > 0) & (got > 0) & (inst.taken + got < inst.min_group)
    return not single.any()
