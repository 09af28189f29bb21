from validators import is_valid_email

_users = {}


def register(email, password):
    """Create an account; returns the normalised email."""
    if not is_valid_email(email):
        raise ValueError(f"invalid email: {email}")
    if len(password) < 8:
        raise ValueError("password too short")
    _users[email.lower()] = password
    return email.lower()
