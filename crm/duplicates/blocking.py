"""Likely duplicate pairs without comparing every record with every other.

Blocking: each record goes into a few blocks (its phone key, its email, the first three
letters of its name's pinyin, the first two characters of its normalised name); only records
sharing a block are compared, and a block larger than MAX_BLOCK (a very common prefix) is
compared by name only within its sorted neighbourhood (WINDOW records either side).

Scoring (0-100): the same email or phone scores 100; else rapidfuzz's ratio over the
normalised names and over their pinyin, the higher one; pairs at MIN_SCORE or above count.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from crm.duplicates.normalise import email_key, name_key, name_pinyin, phone_key

MIN_SCORE = 85
MAX_BLOCK = 200
WINDOW = 20


@dataclass(frozen=True)
class Entry:
    """What is compared of one record."""
    id: int
    name: str
    pinyin: str
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()


@dataclass
class Pair:
    low_id: int
    high_id: int
    score: int
    reasons: set[str] = field(default_factory=set)  # "email", "phone", "name"


def entry(record_id: int, name: str | None, phones=(), emails=()) -> Entry:
    return Entry(record_id, name_key(name), name_pinyin(name),
                 tuple(k for k in {phone_key(p) for p in phones} if k),
                 tuple(k for k in {email_key(e) for e in emails} if k))


def blocks_of(item: Entry) -> list[tuple[str, str]]:
    keys = [("phone", p) for p in item.phones] + [("email", e) for e in item.emails]
    if item.pinyin:
        keys.append(("name", "py:" + item.pinyin[:3]))
    if item.name:
        keys.append(("name", "nm:" + item.name[:2]))
    return keys


def name_score(a: Entry, b: Entry) -> int:
    if not a.name or not b.name:
        return 0
    if a.name == b.name:
        return 100
    return int(round(max(fuzz.ratio(a.name, b.name), fuzz.ratio(a.pinyin, b.pinyin)
                         if a.pinyin and b.pinyin else 0)))


def find_pairs(entries: list[Entry], min_score: int = MIN_SCORE) -> list[Pair]:
    """Likely duplicate pairs, highest score first (then by ids)."""
    blocks: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for item in entries:
        for key in blocks_of(item):
            blocks[key].append(item)
    pairs: dict[tuple[int, int], Pair] = {}

    def note(a: Entry, b: Entry, reason: str, score: int) -> None:
        low, high = sorted((a.id, b.id))
        pair = pairs.get((low, high))
        if pair is None:
            pair = pairs[(low, high)] = Pair(low, high, score)
        pair.score = max(pair.score, score)
        pair.reasons.add(reason)

    for (kind, _key), members in blocks.items():
        if len(members) < 2:
            continue
        if kind != "name":
            for i, a in enumerate(members):
                for b in members[i + 1:]:
                    note(a, b, kind, 100)
            continue
        members = sorted(members, key=lambda e: (e.pinyin, e.name))
        reach = len(members) if len(members) <= MAX_BLOCK else WINDOW
        for i, a in enumerate(members):
            for b in members[i + 1:i + 1 + reach]:
                score = name_score(a, b)
                if score >= min_score:
                    note(a, b, "name", score)
    return sorted(pairs.values(), key=lambda p: (-p.score, p.low_id, p.high_id))
