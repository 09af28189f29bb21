def count_words(text):
    """How often each word occurs in text."""
    counts = {}
    for word in text.split():
        counts[word] = counts.get(word, 0) + 1
    return counts


def most_common(text, n=1):
    """The n most frequent (word, count) pairs, most frequent first."""
    counts = count_words(text)
    return sorted(counts.items(), key=lambda kv: -kv[1])[:n]
