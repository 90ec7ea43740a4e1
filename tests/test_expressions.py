import pytest

from controlplane.expressions import ExpressionError, evaluate, matches, validate

EVENT = {"event": {"name": "app/signup", "data": {"plan": "pro", "seats": 3, "user": {"id": "u1"}}}}


def test_it_evaluates_inngest_style_expressions():
    assert matches("event.data.plan == 'pro' && event.data.seats > 2", EVENT)
    assert not matches("event.data.plan == 'free'", EVENT)
    assert evaluate("event.data.user.id", EVENT) == "u1"
    waiting = {"event": {"data": {"user": 1}}, "async": {"data": {"user": 1}}}
    assert matches("event.data.user == async.data.user", waiting)


def test_a_missing_field_is_no_match_and_a_clear_error():
    assert not matches("event.data.missing == 1", EVENT)
    with pytest.raises(ExpressionError, match="missing"):
        evaluate("event.data.missing", EVENT)


def test_a_non_boolean_result_is_no_match():
    assert not matches("event.data.seats", EVENT)


@pytest.mark.parametrize(
    "source,message",
    [
        ("event.data.ok ==", "Failed to parse"),
        ("", "empty"),
        ("foo.bar == 1", "Unknown variable foo"),
    ],
)
def test_it_rejects_invalid_expressions(source, message):
    with pytest.raises(ExpressionError, match=message):
        validate(source, variables={"event"})


def test_it_accepts_async_where_allowed():
    validate("event.data.a == async.data.a", variables={"event", "async"})
    with pytest.raises(ExpressionError, match="Unknown variable async"):
        validate("event.data.a == async.data.a", variables={"event"})
