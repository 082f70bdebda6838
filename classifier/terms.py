"""Blocked and permitted terms: matched on normalised text, cached, changed only through ``term_save``.

A term is whole words of normalised text (``classifier.ml.normalize``), so ``1d10t``, ``İDİOT`` and
``i.d.i.o.t`` all match ``idiot``; ``*`` in a term matches any run of letters and digits. Permitted terms
are taken out of a message before it is scored, so they never flag it on their own; blocked terms are
looked for in what remains and flag the message with their label whatever its scores.
"""

import contextlib
import re
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import DatabaseError, transaction
from django.utils import timezone

from .memo import Memo
from .ml.normalize import normalize
from .models import Term, TermChange, TermKind

TERMS_CACHE_KEY = "classifier:terms"
TERMS_CACHE_SECONDS = 30  # a safety net: every change deletes the key on commit

_WORD = "[a-z0-9]"


def term_regex(pattern: str) -> str:
    """Return the regular expression, on normalised text, of a term pattern.

    The pieces of a wildcard pattern are parts of words, so chat shorthand is not written out in them:
    ``r*tard`` must not become ``are*tard``.
    """
    parts = pattern.split("*")
    slang = len(parts) == 1
    pieces = [normalize(piece, slang=slang) if piece.strip() else "" for piece in parts]
    body = f"{_WORD}*".join(re.escape(piece) for piece in pieces)
    return f"(?<!{_WORD}){body}(?!{_WORD})"


@dataclass(frozen=True)
class TermMatcher:
    """Compiled active terms: one alternation of the permitted ones, one regex per blocked one."""

    permitted: re.Pattern[str] | None
    blocked: tuple[tuple[re.Pattern[str], str], ...]

    def __bool__(self) -> bool:
        return self.permitted is not None or bool(self.blocked)

    def without_permitted(self, normalised: str) -> str:
        """Return ``normalised`` with every permitted term taken out."""
        if self.permitted is None:
            return normalised
        return " ".join(self.permitted.sub(" ", normalised).split())

    def blocked_label(self, normalised: str) -> str:
        """Return the label of the first blocked term in ``normalised``, or ``""``."""
        for regex, label in self.blocked:
            if regex.search(normalised):
                return label
        return ""


def _compile(rows: list[tuple[str, str, str]]) -> TermMatcher:
    permitted = [term_regex(pattern) for kind, pattern, _ in rows if kind == TermKind.PERMITTED]
    blocked = tuple(
        (re.compile(term_regex(pattern)), label) for kind, pattern, label in rows if kind == TermKind.BLOCKED
    )
    return TermMatcher(re.compile("|".join(permitted)) if permitted else None, blocked)


def _stored_terms() -> TermMatcher:
    rows = None
    with contextlib.suppress(Exception):  # an unreachable cache: read the database
        rows = cache.get(TERMS_CACHE_KEY)
    if rows is None:
        try:
            rows = list(
                Term.objects.filter(active=True).order_by("id").values_list("kind", "pattern", "label")
            )
        except DatabaseError:  # not migrated yet: no terms
            return TermMatcher(None, ())
        with contextlib.suppress(Exception):
            cache.set(TERMS_CACHE_KEY, rows, TERMS_CACHE_SECONDS)
    return _compile(rows)


_terms = Memo(_stored_terms)


def term_matcher() -> TermMatcher:
    """Return the active terms, compiled, from caches cleared whenever a term changes."""
    return _terms.get()


def terms_changed() -> None:
    """Forget the cached terms; call after a term is written."""
    _terms.clear()
    with contextlib.suppress(Exception):
        cache.delete(TERMS_CACHE_KEY)


def term_save(*, term: Term, user: User) -> Term:
    """Validate and store ``term`` (new or changed) and audit who did it.

    New messages are judged with it at once; run ``manage.py reclassify --force`` to apply it to stored ones
    (the model version stays, so a plain run skips them).
    """
    term.updated_by = user
    term.updated_at = timezone.now()
    term.full_clean()
    with transaction.atomic():
        term.save()
        TermChange.objects.create(
            term=term,
            kind=term.kind,
            pattern=term.pattern,
            label=term.label,
            active=term.active,
            changed_by=user,
        )
        transaction.on_commit(terms_changed)
    terms_changed()
    return term
