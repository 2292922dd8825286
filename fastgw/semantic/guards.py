"""Lexical guards: the differences between two questions that a sentence vector glosses over.

MiniLM scores "Is it safe to take ibuprofen with alcohol?" against "Is it unsafe ..." at 0.987:
a sentence vector averages the words, and one flipped word barely moves the average. These
guards compare the two texts word by word and veto a match when the words that differ carry
the meaning a cached answer depends on:

- ``number``: a number, a number word or an ordinal on one side only ("2 eggs" / "3 eggs").
- ``negation``: one side negated and not the other ("not", "never", "can't", "without"), or a
  word against its negated form ("safe" / "unsafe", "legal" / "illegal").
- ``antonym``: a word against its opposite ("ascending" / "descending", "on" / "off").
- ``slot``: a different member of a closed class (unit, currency, language, month, weekday,
  country, city, programming language, brand...) on each side ("in Paris" / "in London").
- ``entity``: a capitalised name on each side that the other lacks ("Trump" / "Obama").
- ``asks``: another kind of question ("why did ..." / "when did ...").
- ``swap``: the same words around "to", "from", "into", "than"..., in the other order
  ("USD to EUR" / "EUR to USD").

``features`` gives the learned scorer the word-overlap figures it weighs with the cosine.

Pure Python. Work is bounded: texts are cut to ``MAX_TOKENS`` tokens, every loop runs over
those, and the word lists are frozensets and dicts built once at import.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass

from fastgw.semantic import _words
from fastgw.semantic._words import stem as _stem

MAX_TOKENS = 128
GUARDS = ("number", "negation", "antonym", "slot", "entity", "swap", "asks")

# A number with what sticks to it ("6s", "3rd", "2016", "1,000"), or a word with its digits
# ("h2s", "mp3") and an apostrophe part ("don't").
_TOKEN = re.compile(r"\d+(?:[.,:/]\d+)*[^\W_]*|[^\W\d_][^\W_]*(?:['\u2019][^\W\d_]+)?")


@dataclass(frozen=True, slots=True)
class Analysed:
    """One text as the guards see it. Build with ``analyse``."""

    words: tuple[str, ...]  # lower-cased tokens, numbers and number words as digits
    stems: tuple[str, ...]
    content: frozenset[str]  # stems of the words that are not stop words
    numbers: frozenset[str]  # numbers, digits or words ("two" is "2")
    digits: bool  # some number is written with digits
    negated: bool  # any negation: "No, it doesn't" says what "it does not" says
    names: frozenset[str]  # lower-cased words written with a capital inside the sentence


def analyse(text: str) -> Analysed:
    """Tokenise ``text`` (its first ``MAX_TOKENS`` tokens) for the guards and features."""
    raw = [m.group() for m in itertools.islice(_TOKEN.finditer(text), MAX_TOKENS)]
    words: list[str] = []
    names: set[str] = set()
    negations = 0
    for i, token in enumerate(raw):
        low = token.lower().replace("\u2019", "'")
        if low.endswith("n't") or low in _words.NEGATORS:
            # "... or not?" and "why or why not?" ask both ways: they negate nothing.
            if not (words[-1:] == ["or"] or words[-2:] == ["or", "why"]):
                negations += 1
            low = "not"
        low = _words.NUMBER_WORDS.get(low, low)
        # A capital inside the sentence marks a name; an acronym does not count, it is too often
        # the short form of words the other text spells out ("JS" / "JavaScript").
        if i > 0 and token[0].isupper() and low not in _words.STOP_WORDS and not token.isupper():
            names.add(low)
        words.append(low)
    stems = tuple(_stem(w) for w in words)
    numbers = frozenset(w for w in words if any(c.isdigit() for c in w))
    content = frozenset(s for w, s in zip(words, stems, strict=True) if w not in _words.STOP_WORDS)
    return Analysed(
        words=tuple(words),
        stems=stems,
        content=content,
        numbers=numbers,
        digits=any(c.isdigit() for token in raw for c in token),
        negated=negations > 0,
        names=frozenset(names),
    )


def _only(a: Analysed, b: Analysed) -> tuple[frozenset[str], frozenset[str]]:
    """Stems one text has more often than the other, each way (stop words included).

    Counted, not set-wise: "turn on Bluetooth on Windows" has an "on" that "turn off Bluetooth
    on Windows" lacks.
    """
    ca, cb = Counter(a.stems), Counter(b.stems)
    return frozenset(ca - cb), frozenset(cb - ca)


def _number(a: Analysed, b: Analysed) -> bool:
    """Different numbers, or digits on one side only ("2 eggs" / "an egg").

    A number word on one side only is style more often than meaning ("the five types of
    maps" / "the types of maps"), so it alone does not veto.
    """
    if a.numbers == b.numbers:
        return False
    return bool(a.numbers and b.numbers) or a.digits or b.digits


def _negation(only_a: frozenset[str], only_b: frozenset[str], a: Analysed, b: Analysed) -> bool:
    if a.negated != b.negated:
        return True
    for word in only_a:
        if len(word) < 4 or word in _words.STOP_WORDS:  # "into" is not a negated "to"
            continue
        for prefix in _words.NEGATING_PREFIXES:
            if prefix + word in only_b:
                return True
            if word.startswith(prefix) and word[len(prefix) :] in only_b:
                return True
    return False


def _antonym(a: Analysed, b: Analysed, only_a: frozenset[str], only_b: frozenset[str]) -> bool:
    """A word against its opposite, or one side asking both ways ("best and worst" / "worst")."""
    if any(_words.ANTONYMS.get(word, frozenset()) & only_b for word in only_a):
        return True
    # Asking both ways is told apart by content words only: "to" and "from", "in" and "out"
    # sit in one sentence without asking two things.
    for mine, other in ((only_a, b.content), (only_b, a.content)):
        for word in mine:
            if word not in _words.STOP_WORDS and _words.ANTONYMS.get(word, frozenset()) & other:
                return True
    return False


def _slot(only_a: frozenset[str], only_b: frozenset[str]) -> bool:
    classes_a = {_words.SLOT_CLASS[w] for w in only_a if w in _words.SLOT_CLASS}
    if not classes_a:
        return False
    return any(_words.SLOT_CLASS.get(w) in classes_a for w in only_b)


def _entity(a: Analysed, b: Analysed) -> bool:
    stems_a, stems_b = frozenset(a.stems), frozenset(b.stems)
    names_a = {n for n in a.names if _stem(n) not in stems_b}
    names_b = {n for n in b.names if _stem(n) not in stems_a}
    return bool(names_a) and bool(names_b)


_WINDOW = 2  # content words looked at on each side of a relation word


def _neighbours(a: Analysed) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """(relation word, content stems just before it, just after it), nearest first."""
    out: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
    for i, word in enumerate(a.words):
        if word not in _words.RELATIONS:
            continue
        before = [a.stems[j] for j in range(i - 1, -1, -1) if a.stems[j] in a.content]
        after = [a.stems[j] for j in range(i + 1, len(a.words)) if a.stems[j] in a.content]
        out.append((word, tuple(before[:_WINDOW]), tuple(after[:_WINDOW])))
    return out


def _relation_swap(a: Analysed, b: Analysed) -> bool:
    """ "X to Y" against "Y to X" ("ethanol to ethanoic acid" / "ethanoic acid to ethanol")."""
    around_b = _neighbours(b)
    for word, before_a, after_a in _neighbours(a):
        if not before_a or not after_a or before_a[0] == after_a[0]:
            continue
        for word_b, before_b, after_b in around_b:
            if word_b == word and after_a[0] in before_b and before_a[0] in after_b:
                return True
    return False


def _marked(a: Analysed) -> list[tuple[int, str]]:
    """(position, stem) of the names, slot words and numbers, first occurrence of each."""
    seen: set[str] = set()
    out: list[tuple[int, str]] = []
    for i, (word, stem) in enumerate(zip(a.words, a.stems, strict=True)):
        marked = word in a.names or stem in _words.SLOT_CLASS or word[0].isdigit()
        if marked and stem not in seen:
            seen.add(stem)
            out.append((i, stem))
    return out


# Names further apart than this are in different clauses, whose order a rewording may change.
_NEAR = 8


def _linked(a: Analysed, start: int, end: int) -> bool:
    """Whether the words strictly between two positions do more than list (and, or, vs)."""
    return any(w not in _words.SYMMETRIC for w in a.words[start + 1 : end])


def _swap(a: Analysed, b: Analysed) -> bool:
    if _relation_swap(a, b):
        return True
    # Two names that change places ("Indian women, Pakistani men" / "Pakistani women, Indian
    # men"), unless only a list word stands between them ("Python or Java" / "Java or Python").
    pos_b = {stem: i for i, stem in _marked(b)}
    common = [(i, stem) for i, stem in _marked(a) if stem in pos_b]
    for k, (i, first) in enumerate(common):
        for j, second in common[k + 1 :]:
            near = j - i <= _NEAR and pos_b[first] - pos_b[second] <= _NEAR
            if (
                near
                and pos_b[second] < pos_b[first]
                and (_linked(a, i, j) or _linked(b, pos_b[second], pos_b[first]))
            ):
                return True
    return False


# An opposite or a swap only means something when the rest of the two texts agrees: two
# rewordings of a long sentence differ in "to" / "from" or word order without meaning to.
_SAME_FRAME = 0.5  # content-word Jaccard for the antonym guard
_SAME_WORDS = 0.6  # and for the swap guard


def _jaccard(a: Analysed, b: Analysed) -> float:
    union = a.content | b.content
    return len(a.content & b.content) / len(union) if union else 1.0


def _asks(a: Analysed) -> str:
    """The first of why / when / where / who in the text ("" if none): what is asked for."""
    return next((w for w in a.words if w in _words.ASKS), "")


def vetoes(a: Analysed, b: Analysed) -> tuple[str, ...]:
    """The names of the guards (from ``GUARDS``) that veto a match of ``a`` with ``b``."""
    only_a, only_b = _only(a, b)
    out: list[str] = []
    if _number(a, b):
        out.append("number")
    if _negation(only_a, only_b, a, b):
        out.append("negation")
    overlap = _jaccard(a, b)
    if overlap >= _SAME_FRAME and _antonym(a, b, only_a, only_b):
        out.append("antonym")
    if _slot(only_a, only_b):
        out.append("slot")
    if _entity(a, b):
        out.append("entity")
    if overlap >= _SAME_WORDS and _swap(a, b):
        out.append("swap")
    asks_a, asks_b = _asks(a), _asks(b)
    if asks_a and asks_b and asks_a != asks_b:
        out.append("asks")
    return tuple(out)


FEATURE_NAMES = ("content_jaccard", "only_a", "only_b", "substituted", "length_ratio")


def features(a: Analysed, b: Analysed) -> tuple[float, ...]:
    """Word-overlap figures for the learned scorer, in ``FEATURE_NAMES`` order.

    ``only_a`` / ``only_b``: content words in one text only (capped at 8); ``substituted``: the
    smaller of the two (a word replaced rather than added); ``length_ratio``: shorter / longer.
    """
    jaccard = _jaccard(a, b)
    only_a = min(len(a.content - b.content), 8)
    only_b = min(len(b.content - a.content), 8)
    longer = max(len(a.words), len(b.words), 1)
    ratio = min(len(a.words), len(b.words)) / longer
    return (jaccard, float(only_a), float(only_b), float(min(only_a, only_b)), ratio)
