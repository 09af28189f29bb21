import re

subscribers = []


def _email_ok(address):
    return re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}", address) is not None


def subscribe(address):
    """Add an address to the mailing list; False if it is not a valid email."""
    address = address.strip()
    if not _email_ok(address):
        return False
    if address.lower() not in subscribers:
        subscribers.append(address.lower())
    return True
