import pytest

from stack import Stack


def test_peek_returns_top_without_removing():
    s = Stack()
    s.push(1)
    s.push(2)
    assert s.peek() == 2
    assert s.size() == 2


def test_peek_on_empty_stack_raises_index_error():
    with pytest.raises(IndexError):
        Stack().peek()


def test_is_empty():
    s = Stack()
    assert s.is_empty() is True
    s.push("a")
    assert s.is_empty() is False


def test_push_pop_size_still_work():
    s = Stack()
    s.push("a")
    s.push("b")
    assert s.pop() == "b"
    assert s.size() == 1
    s.pop()
    with pytest.raises(IndexError):
        s.pop()
