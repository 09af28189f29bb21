from pager import page_count, paginate


def test_first_page_is_page_one():
    assert paginate(list(range(10)), 1, 3) == [0, 1, 2]


def test_last_partial_page():
    assert paginate(list(range(10)), 4, 3) == [9]


def test_page_past_the_end_is_empty():
    assert paginate(list(range(10)), 5, 3) == []


def test_page_count_rounds_up():
    assert page_count(list(range(10)), 3) == 4
    assert page_count(list(range(9)), 3) == 3


def test_page_count_of_empty_list():
    assert page_count([], 3) == 0
