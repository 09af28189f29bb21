import pytest

from versions import compare, sort_versions


@pytest.mark.parametrize("a, b, want", [("1.10.0", "1.9.0", 1), ("1.9.0", "1.10.0", -1), ("1.2", "1.2.0", 0),
                                        ("2.0.1", "2.0.1", 0), ("0.0.1", "0.1", -1)])
def test_compare(a, b, want):
    assert compare(a, b) == want


def test_sort_versions_oldest_first():
    versions = ["1.10.0", "1.2", "1.9.3", "0.9"]
    assert sort_versions(versions) == ["0.9", "1.2", "1.9.3", "1.10.0"]
    assert versions == ["1.10.0", "1.2", "1.9.3", "0.9"]


def test_equal_versions_keep_input_order():
    assert sort_versions(["1.2.0", "1.0", "1.2"]) == ["1.0", "1.2.0", "1.2"]
    assert sort_versions(["1.2", "1.2.0"]) == ["1.2", "1.2.0"]


@pytest.mark.parametrize("bad", ["1.x", "", "1..2"])
def test_invalid(bad):
    with pytest.raises(ValueError):
        compare(bad, "1.0")
    with pytest.raises(ValueError):
        sort_versions(["1.0", bad])
