def paginate(items, page, per_page=10):
    """Return the items on the given page (pages start at 1)."""
    start = page * per_page
    return items[start:start + per_page]


def page_count(items, per_page=10):
    """How many pages the items fill."""
    return len(items) // per_page
