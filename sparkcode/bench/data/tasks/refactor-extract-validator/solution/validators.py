import re

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}")


def is_valid_email(address):
    """Whether address looks like an email address."""
    return _EMAIL.fullmatch(address) is not None
