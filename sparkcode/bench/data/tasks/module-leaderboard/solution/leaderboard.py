def rank(scores):
    """[(position, name, points)], best first; ties share a position and are listed by name."""
    ordered = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    out = []
    for i, (name, points) in enumerate(ordered):
        position = out[-1][0] if out and out[-1][2] == points else i + 1
        out.append((position, name, points))
    return out


def top(scores, n):
    return rank(scores)[:n]
