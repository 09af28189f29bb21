from pathlib import Path

import pytest

HERE = Path(__file__).parent


def test_is_valid_email():
    from validators import is_valid_email

    assert is_valid_email("ann@example.com") is True
    assert is_valid_email("nope") is False
    assert is_valid_email("a b@example.com") is False


def test_old_helpers_are_gone_and_both_modules_use_the_new_one():
    import newsletter
    import signup

    assert not hasattr(signup, "_check_email")
    assert not hasattr(newsletter, "_email_ok")
    assert "is_valid_email" in (HERE / "signup.py").read_text()
    assert "is_valid_email" in (HERE / "newsletter.py").read_text()


def test_register_behaves_as_before():
    import signup

    assert signup.register("Ann@Example.com", "longenough") == "ann@example.com"
    with pytest.raises(ValueError):
        signup.register("not-an-email", "longenough")
    with pytest.raises(ValueError):
        signup.register("bob@example.com", "short")


def test_subscribe_behaves_as_before():
    import newsletter

    assert newsletter.subscribe("  Zed@Example.org ") is True
    assert newsletter.subscribe("zed@example.org") is True
    assert newsletter.subscribers.count("zed@example.org") == 1
    assert newsletter.subscribe("broken@") is False
