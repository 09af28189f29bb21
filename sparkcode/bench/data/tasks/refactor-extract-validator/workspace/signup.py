import re

_users = {}


def _check_email(email):
    return re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}", email) is not None


def register(email, password):
    """Create an account; returns the normalised email."""
    if not _check_email(email):
        raise ValueError(f"invalid email: {email}")
    if len(password) < 8:
        raise ValueError("password too short")
    _users[email.lower()] = password
    return email.lower()
