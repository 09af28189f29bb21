from validators import is_valid_email

subscribers = []


def subscribe(address):
    """Add an address to the mailing list; False if it is not a valid email."""
    address = address.strip()
    if not is_valid_email(address):
        return False
    if address.lower() not in subscribers:
        subscribers.append(address.lower())
    return True
