"""Contract phrases matched on word stems, so one form of a word matches the others.

A contract writes ``block ... estimate`` and matches "we are blocked and cannot
generate estimates": text and phrases are cut into words (case and punctuation
ignored), each word is reduced to its Snowball stem in the contract's language,
and a phrase matches its stems in order, side by side, where ``...`` lets up to
:data:`MAX_GAP` other words stand between two parts. Where stems collide
("customer" and "customization" are both *custom*), a phrase word ending in ``*``
matches the words that begin with it instead (``customiz*``), and one written
``=word`` matches that word alone (``=appeal``: "APPEAL", not "appealing"). What a
match reports is the contract's phrase, never the ticket's words (they may hold PHI).
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import snowballstemmer

GAP = "..."
MAX_GAP = 6
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
LANGUAGES = frozenset(snowballstemmer.algorithms())


class _Stemmers(threading.local):
    """This thread's stemmers, by language. A Snowball stemmer keeps the word it is stemming in itself:
    worker threads sharing one get each other's words (an IndexError, or silently a wrong stem)."""

    def __init__(self) -> None:
        self.by_language: dict[str, object] = {}


_STEMMERS = _Stemmers()


def _stemmer(language: str):
    stemmer = _STEMMERS.by_language.get(language)
    if stemmer is None:
        stemmer = _STEMMERS.by_language[language] = snowballstemmer.stemmer(language)
    return stemmer


def words(text: str) -> list[str]:
    return WORD.findall(text.lower().replace("\u2019", "'"))


SEP = "/"  # between a word and its stem in the indexed text (words never hold one)


@lru_cache(maxsize=4096)
def indexed(text: str, language: str = "english") -> str:
    """The text as ``word<SEP>stem`` tokens, each followed by a space and the first preceded by one."""
    found = words(text)
    return " " + " ".join(f"{w}{SEP}{s}" for w, s in zip(found, _stemmer(language).stemWords(found))) + " "


def _token(word: str, language: str) -> str:
    if word.startswith("=") and not word.endswith("*"):  # the word itself, in any case
        return rf"{re.escape(word[1:])}{SEP}[^ ]*"
    word = word.lstrip("=")
    if word.endswith("*") and word.rstrip("*"):
        return rf"{re.escape(word.rstrip('*'))}[^ {SEP}]*{SEP}[^ ]*"
    return rf"[^ {SEP}]*{SEP}{re.escape(_stemmer(language).stemWord(word))}"


def phrase_parts(phrase: str, language: str = "english") -> list[list[str]]:
    """Each ``...``-separated part of a phrase as its word patterns (empty for a part with no words)."""
    return [[_token(w, language) for w in re.findall(r"=?[^\W_]+(?:'[^\W_]+)*\*?", part.lower())]
            for part in phrase.split(GAP)]


@lru_cache(maxsize=1024)
def matcher(phrases: tuple[str, ...], language: str = "english") -> re.Pattern:
    """One pattern over indexed text; the name of the group that matched is ``p<index of the phrase>``."""
    alternatives = []
    for i, phrase in enumerate(phrases):
        parts = [" ".join(p) for p in phrase_parts(phrase, language) if p]
        if not parts:
            continue
        body = rf" (?:\S+ ){{0,{MAX_GAP}}}".join(parts)
        alternatives.append(rf"(?P<p{i}>{body})")
    return re.compile(rf"(?<= )(?:{'|'.join(alternatives) or '(?!)'})(?= )")


def first_phrase(phrases: list[str] | tuple[str, ...], text: str, language: str = "english") -> str | None:
    """The contract phrase found in ``text``, or None."""
    if not phrases or not text:
        return None
    return _first_phrase(tuple(phrases), text, language)


@lru_cache(maxsize=4096)
def _first_phrase(phrases: tuple[str, ...], text: str, language: str) -> str | None:
    """Remembered: a ticket's text is matched again on each of its events and timers, mostly unchanged."""
    found = matcher(phrases, language).search(indexed(text, language))
    return phrases[int(found.lastgroup[1:])] if found else None
