"""Text normalisation applied identically before training and scoring.

Chat hides abuse behind look-alike letters, leetspeak, spacing and repeats. Each step here undoes one of
those tricks so that the same word reaches the model whatever its spelling. Every function is pure and
never raises on any string.
"""

import re
import unicodedata
from collections.abc import Iterable

#: Bumped whenever the output of :func:`normalize` changes; stored in the model's sidecar.
NORMALIZER_VERSION = 2

URL_TOKEN = " xxurl "
MENTION_TOKEN = " xxuser "

# Cyrillic and Greek letters that look like Latin ones, plus a few IPA and symbol look-alikes.
_CONFUSABLES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
        "ɡ": "g", "һ": "h", "ԛ": "q", "ԝ": "w", "ս": "u", "ց": "g", "օ": "o", "ո": "n",
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
        "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ɑ": "a", "ɩ": "i", "ı": "i",
        "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ł": "l", "ŀ": "l", "ħ": "h",
    }
)  # fmt: skip

# Digits and symbols read as letters when they sit inside a word ("1d10t", "sh!t", "@ss", "$hit").
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
     "@": "a", "$": "s", "!": "i", "|": "l", "€": "e", "£": "l"}
)  # fmt: skip
_LEET_CHARS = "0134578 9@$!|€£".replace(" ", "")

# Common contractions, expanded the way one of the training sources already is.
_CONTRACTIONS = {
    "n't": " not", "'m": " am", "'re": " are", "'ve": " have", "'ll": " will", "'d": " would",
}  # fmt: skip

# Chat shorthand, written out the way the Wikipedia and tweet sources spell it, so that "kys" and "ur" reach
# the model as the words it learnt. Only whole words, and only ones with a single everyday reading in chat.
# It runs last, so no expansion may hold a single letter (the spaced-letters step would join it on a second
# pass: "a b c im" -> "a b c i am" -> "abci am"), a key, or a letter three times in a row.
_SLANG = {
    "u": "you", "ur": "your", "r": "are", "urself": "yourself",
    "youre": "you are", "dont": "do not", "doesnt": "does not", "isnt": "is not", "ppl": "people",
    "kys": "kill yourself", "kms": "kill myself", "stfu": "shut the fuck up", "gtfo": "get the fuck out",
    "wtf": "what the fuck", "mf": "motherfucker", "mfs": "motherfuckers", "mofo": "motherfucker",
}  # fmt: skip
_SLANG_WORD = re.compile(rf"\b(?:{'|'.join(sorted(_SLANG, key=len, reverse=True))})\b")

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# "@" first, then the look-behind: the regex engine jumps from "@" to "@" instead of trying every place.
_MENTION = re.compile(r"@(?<!\w@)\w{2,}")
_ENTITY = re.compile(r"&(?:amp|lt|gt|quot|#39);")
_CONTRACTION = re.compile(r"(?:n't|'m|'re|'ve|'ll|'d)\b")
# A run of word and leet characters, rewritten only when it also holds a letter ("1d10t", "sh!t", "a$$").
_LEET_TOKEN = re.compile(
    rf"(?<![\w{re.escape(_LEET_CHARS)}*])(?=[\w*]*[{re.escape(_LEET_CHARS)}*])[\w{re.escape(_LEET_CHARS)}*]{{2,}}"
)
_EDGE_PUNCT = "!|*€£"
# Single letters split by punctuation ("f.u.c.k", "i-d-i-o-t", "a.s.s") or, four or more, by spaces
# ("f u c k"; chat's "u r a" stays three words). Spaces are joined after punctuation became spaces.
_DOTTED = re.compile(r"(?<![a-z])[a-z](?:[.\-_*+~](?=[a-z](?:[^a-z]|$))[a-z]){2,}(?![a-z])")
_DOTTED_TRIGGER = re.compile(r"[a-z][.\-_*+~][a-z]")
_SPACED = re.compile(r"(?<![a-z])[a-z](?: [a-z](?![a-z])){3,}")
_REPEAT = re.compile(r"(.)\1{2,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Normalised texts of a batch are joined by newlines (no step lets one through or matches across one).
_NON_WORD = re.compile(r"[^a-z0-9\n]+")


def _fold(text: str) -> str:
    """Fold compatibility forms, look-alikes and accents to plain lower-case Latin."""
    if text.isascii():  # nothing to fold: most chat
        return text.lower()
    text = unicodedata.normalize("NFKC", text).lower().translate(_CONFUSABLES)
    decomposed = unicodedata.normalize("NFKD", text)
    if decomposed.isascii():
        return decomposed
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch) and _is_visible(ch))


def _is_visible(ch: str) -> bool:
    """Return False for format (zero-width), private-use and surrogate characters."""
    return unicodedata.category(ch) not in {"Cf", "Co", "Cs"}


def _unleet(match: re.Match[str]) -> str:
    token = match.group(0)
    core = token.strip(_EDGE_PUNCT)  # "idiot!!!" and "!!hey" end and start in punctuation, not letters
    if core.isalpha() or not any("a" <= ch <= "z" for ch in core):
        return token
    start = token.index(core[0])
    return token[:start] + core.translate(_LEET).replace("*", "") + token[start + len(core) :]


def _unspace(match: re.Match[str]) -> str:
    return re.sub(r"[^a-z]", "", match.group(0))


def _prepare(text: str) -> str:
    """Fold ``text`` and run the steps that its own characters trigger (a newline never survives)."""
    text = _fold(text if text.isprintable() else _CONTROL.sub(" ", text))
    # Each step runs only when its trigger character is there: most messages need few of them.
    if "&" in text:
        text = _ENTITY.sub(" ", text)
    if "http" in text or "www." in text:
        text = _URL.sub(URL_TOKEN, text)
    if "@" in text:
        text = _MENTION.sub(MENTION_TOKEN, text)
    if "'" in text or "’" in text or "`" in text:
        text = text.replace("’", "'").replace("`", "'")
        text = _CONTRACTION.sub(lambda m: _CONTRACTIONS[m.group(0)], text)
    return text


def normalize_many(texts: Iterable[str], *, slang: bool = True) -> list[str]:
    """Return the canonical form of each of ``texts``, the same as :func:`normalize` gives one by one.

    The steps that every message needs run once over the whole batch joined by newlines: one regex pass
    over a long string costs much less than one per message (chat-length texts: about 23 -> 18 us each).
    Without ``slang``, chat shorthand stays as written (for fragments of words, such as the pieces of a
    wildcard term: the "r" of "r*tard" is not the word "are").
    """
    prepared = [_prepare(text) for text in texts]
    if not prepared:
        return []
    text = _LEET_TOKEN.sub(_unleet, "\n".join(prepared))
    if _DOTTED_TRIGGER.search(text):
        lines = text.split("\n")
        text = "\n".join([_DOTTED.sub(_unspace, s) if _DOTTED_TRIGGER.search(s) else s for s in lines])
    text = _NON_WORD.sub(" ", text)
    text = _SPACED.sub(_unspace, text)
    text = _REPEAT.sub(r"\1\1", text)
    if slang:
        text = _SLANG_WORD.sub(lambda m: _SLANG[m.group(0)], text)
    return [line.strip() for line in text.split("\n")]


def normalize(text: str, *, slang: bool = True) -> str:
    """Return the canonical form of ``text`` that the model's features are built from."""
    return normalize_many((text,), slang=slang)[0]
