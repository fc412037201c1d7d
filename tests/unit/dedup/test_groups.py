"""Groups from links, and group ids that survive reruns."""

from __future__ import annotations

import numpy as np

from pipeline.dedup.groups import carry_group_ids, connected_groups, constrained_groups, new_group_id


def test_connected_groups_number_linked_photos_and_leave_loners_out():
    labels = connected_groups(7, np.array([0, 1, 4]), np.array([1, 2, 5]))
    assert labels[3] == labels[6] == -1
    assert labels[0] == labels[1] == labels[2] != labels[4] == labels[5]
    assert (connected_groups(3, np.array([], int), np.array([], int)) == -1).all()


def test_carried_group_ids_keep_the_earlier_id_of_most_members_once():
    uris = ["a", "b", "c", "d", "e", "f"]
    labels = np.array([0, 0, 0, 1, 1, -1])
    earlier = {"a": "g1", "b": "g1", "c": "g2", "d": "g2", "e": "g2"}
    ids = carry_group_ids(labels, uris, earlier)
    assert ids == {0: "g1", 1: "g2"}
    merged = carry_group_ids(np.array([0, 0, 0, 0, 0, -1]), uris, earlier)
    assert merged == {0: "g2"}, "a merge keeps the id most of its photos had"
    split = carry_group_ids(np.array([0, 1, -1, -1, -1, -1]), uris, {"a": "g1", "b": "g1"})
    assert split[0] == "g1" and split[1] == new_group_id(["b"]), "an id goes to one group only"


def test_constrained_groups_never_join_two_exposures_through_a_copy():
    # 0 and 1: two exposures; 2: a copy of 0 that also looks like 1 (farther); 3: a copy of 1
    labels = constrained_groups(5, np.array([0, 1, 1]), np.array([2, 3, 2]), np.array([[0, 1]]))
    assert labels[0] == labels[2] != labels[1] == labels[3]
    assert labels[4] == -1
    free = constrained_groups(5, np.array([0, 1, 1]), np.array([2, 3, 2]), np.zeros((0, 2), int))
    assert len(set(free[:4])) == 1, "without the constraint the copy joins them"
