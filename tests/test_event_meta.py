"""meta_resolve: an event's two session layers folded into one, as Inngest folds them."""

import pytest

from controlplane.events.meta import meta_resolve


def test_the_senders_sessions_win_and_inherited_ones_fill_up_to_five_in_byte_order():
    inherited = {key: f"p-{key}" for key in ("é", "b", "a", "d", "c", "z")}
    resolved = meta_resolve({"sessions": {"z": "mine", "y": 1}, "propagated_sessions": inherited})
    assert resolved == {"sessions": {"z": "mine", "y": "1", "a": "p-a", "b": "p-b", "c": "p-c"}}


def test_a_null_cuts_one_inherited_session_and_a_null_layer_cuts_them_all():
    inherited = {"a": "1", "b": "2"}
    cut_one = meta_resolve({"sessions": {"a": None}, "propagated_sessions": inherited})
    assert cut_one == {"sessions": {"b": "2"}}
    assert meta_resolve({"sessions": None, "propagated_sessions": inherited}) == {}


def test_other_keys_are_kept_as_sent():
    assert meta_resolve({"x": [1], "propagated_sessions": None}) == {"x": [1]}


@pytest.mark.parametrize(
    "meta",
    [
        {"propagated_sessions": {"a": None}},  # only the sender may cut
        {"sessions": {"": "1"}},
        {"sessions": {"k" * 129: "1"}},
        {"sessions": {"a": "x" * 513}},
        {"sessions": {"a": {"nested": 1}}},
    ],
)
def test_sessions_inngest_would_refuse_are_refused(meta):
    with pytest.raises(ValueError):
        meta_resolve(meta)
