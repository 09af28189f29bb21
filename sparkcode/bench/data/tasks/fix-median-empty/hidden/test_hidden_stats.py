from stats import mean, median


def test_median_of_empty_list_is_none():
    assert median([]) is None


def test_median_of_even_length_list():
    assert median([4, 1, 3, 2]) == 2.5


def test_median_of_odd_length_list():
    assert median([5, 1, 3]) == 3


def test_mean_still_works():
    assert mean([1, 2, 3]) == 2
    assert mean([]) is None
