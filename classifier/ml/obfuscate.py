"""Disguise text the way chat users dodge filters; used to measure how robust the model is."""

import random

_LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "$", "t": "7"}
_CYRILLIC = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і"}


def _disguise(word: str, rng: random.Random) -> str:
    trick = rng.randrange(6)
    if trick == 0:
        return "".join(_LEET.get(ch, ch) if rng.random() < 0.6 else ch for ch in word)
    if trick == 1:
        return "".join(_CYRILLIC.get(ch, ch) for ch in word)
    if trick == 2:
        return " ".join(word)
    if trick == 3:
        i = rng.randrange(len(word))
        return word[:i] + word[i] * rng.randint(3, 6) + word[i + 1 :]
    if trick == 4:
        return "\u200b".join(word)
    return ".".join(word)


def obfuscate(text: str, rate: float = 0.5, seed: int = 0) -> str:
    """Return ``text`` with about ``rate`` of its words of three or more letters disguised."""
    rng = random.Random(seed)
    words = text.split(" ")
    return " ".join(
        _disguise(word, rng) if len(word) >= 3 and word.isalpha() and rng.random() < rate else word
        for word in words
    )
