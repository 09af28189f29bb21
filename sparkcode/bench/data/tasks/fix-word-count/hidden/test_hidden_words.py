from words import count_words, most_common


def test_the_example():
    assert count_words("The cat and the hat.") == {"the": 2, "cat": 1, "and": 1, "hat": 1}


def test_case_and_punctuation_ignored():
    assert count_words("Hello, hello! HELLO?") == {"hello": 3}


def test_apostrophe_inside_a_word():
    assert count_words("don't stop") == {"don't": 1, "stop": 1}


def test_empty_text():
    assert count_words("") == {}


def test_most_common():
    assert most_common("Dog cat dog. DOG, cat bird", 2) == [("dog", 3), ("cat", 2)]
