from leaderboard import rank, top


def test_the_example():
    assert rank({"ann": 10, "bob": 7, "cid": 10, "dan": 3}) == [(1, "ann", 10), (1, "cid", 10), (3, "bob", 7),
                                                                (4, "dan", 3)]


def test_empty():
    assert rank({}) == []


def test_ties_are_alphabetical_and_skip_positions():
    assert rank({"zoe": 5, "amy": 5, "kim": 5, "max": 1}) == [(1, "amy", 5), (1, "kim", 5), (1, "zoe", 5),
                                                              (4, "max", 1)]


def test_no_ties():
    assert rank({"a": 1, "b": 2}) == [(1, "b", 2), (2, "a", 1)]


def test_top():
    scores = {"ann": 10, "bob": 7, "cid": 10, "dan": 3}
    assert top(scores, 3) == [(1, "ann", 10), (1, "cid", 10), (3, "bob", 7)]
    assert top(scores, 0) == []
