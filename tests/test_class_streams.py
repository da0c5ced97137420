"""Per-class shuffled streams: the random subsets' draws."""

import numpy as np
import pytest

from sklearn_crest.selection._class_streams import ClassStreams, draw_per_class


def _members():
    # Classes of 7, 0 and 30 positions (an absent class in the middle).
    return [np.arange(0, 7), np.arange(0), np.arange(100, 130)]


def test_each_example_is_drawn_once_per_pass_before_any_twice():
    streams = ClassStreams(_members(), np.random.RandomState(0))
    drawn = {0: [], 2: []}
    for _ in range(40):
        for c, part in zip((0, 2), streams.draw([3, 2, 4])):
            drawn[c].extend(part.tolist())
    for c, size in ((0, 7), (2, 30)):
        sequence = np.array(drawn[c])
        # Every complete pass is a permutation of the class.
        for start in range(0, len(sequence) - size + 1, size):
            assert sorted(sequence[start:start + size]) == sorted(_members()[c])
    # 40 draws of 3 from 7: counts differ by at most one.
    counts = np.bincount(drawn[0])
    assert counts.max() - counts.min() <= 1


def test_a_draw_has_no_repeats_even_across_a_pass_boundary():
    streams = ClassStreams([np.arange(5)], np.random.RandomState(1))
    for _ in range(200):
        (part,) = streams.draw([4])
        assert len(np.unique(part)) == 4


def test_quotas_are_capped_by_the_class_and_empty_draws_are_left_out():
    streams = ClassStreams(_members(), np.random.RandomState(0))
    parts = streams.draw([50, 5, 0])
    # Class 0 gives all of its 7; class 1 has nothing; class 2 was asked none.
    assert len(parts) == 1
    assert sorted(parts[0]) == list(range(7))


def test_draws_are_reproducible_from_the_random_state():
    first = ClassStreams(_members(), np.random.RandomState(3))
    second = ClassStreams(_members(), np.random.RandomState(3))
    for _ in range(10):
        for a, b in zip(first.draw([2, 1, 5]), second.draw([2, 1, 5])):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("quota", [1, 4, 13])
def test_draws_are_uniform_over_the_class(quota):
    # Over many passes every member is drawn equally often.
    streams = ClassStreams([np.arange(13)], np.random.RandomState(0))
    counts = np.zeros(13)
    for _ in range(13 * 50):
        (part,) = streams.draw([quota])
        counts[part] += 1
    assert counts.max() - counts.min() <= 1


def test_an_independent_draw_takes_each_quota_from_its_class():
    rng = np.random.RandomState(0)
    positions = np.arange(40, 80)
    labels = np.repeat([2, 0, 1, 0], 10)  # unsorted, class 0 in two blocks
    counts = np.zeros(40)
    for _ in range(300):
        parts = draw_per_class(positions, labels, np.array([5, 0, 20]), rng)
        assert len(parts) == 2  # class 1 was asked none
        zero, two = parts
        assert len(zero) == 5 and len(np.unique(zero)) == 5
        assert set(labels[zero - 40]) == {0}
        # A quota above the class size takes the whole class.
        assert sorted(two) == list(range(40, 50))
        counts[zero - 40] += 1
    # Uniform over class 0's 20 members: 300 * 5 / 20 = 75 each.
    assert counts[labels == 0].min() > 40 and counts[labels == 0].max() < 115
