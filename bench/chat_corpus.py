"""Generated chat lines shared by the benchmarks: varied, about one in twelve abusive."""

import random

_WORDS = [
    "gg", "nice", "shot", "lol", "what", "a", "play", "love", "this", "stream", "hello", "chat", "pog",
    "kappa", "that", "was", "close", "can", "you", "explain", "the", "build", "again", "which", "game",
    "is", "next", "the", "music", "is", "great", "first", "time", "here", "greetings", "from", "germany",
    "sub", "hype", "clip", "it", "no", "way", "he", "missed", "that", "let's", "go",
]  # fmt: skip
_ABUSE = [
    "you are a complete idiot",
    "shut up you moron",
    "what the fuck man",
    "i will find you",
    "trash player",
]


def corpus(size: int, seed: int) -> list[str]:
    """Return ``size`` chat lines of 2 to 14 words, about one in twelve abusive, the same for one ``seed``."""
    rng = random.Random(seed)
    lines = []
    for _ in range(size):
        words = rng.choices(_WORDS, k=rng.randint(2, 14))
        if rng.random() < 0.08:
            words.insert(rng.randint(0, len(words)), rng.choice(_ABUSE))
        lines.append(" ".join(words))
    return lines
