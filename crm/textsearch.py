"""Search keys: what a user may type to find a record, pinyin included.

A Chinese name is found by its characters, its full pinyin and its pinyin initials,
as people type on phones: 北京星辰科技 -> "beijingxingchenkeji" and "bjxckj".
"""
import re

from pypinyin import Style, lazy_pinyin

_SPACES = re.compile(r"\s+")
_NON_DIGITS = re.compile(r"\D")
_HAS_HAN = re.compile(r"[\u3400-\u9fff]")


def normalise(text: str) -> str:
    """Lower-case and drop white space, the form both keys and queries take."""
    return _SPACES.sub("", (text or "").lower())


def pinyin_keys(text: str) -> list[str]:
    """Full pinyin and initials of the Chinese in `text` (empty when there is none)."""
    if not text or not _HAS_HAN.search(text):
        return []
    syllables = lazy_pinyin(text, errors="ignore")
    initials = lazy_pinyin(text, style=Style.FIRST_LETTER, errors="ignore")
    return [normalise("".join(syllables)), normalise("".join(initials))]


def search_keys(*values: str) -> str:
    """One text holding every key for the given values, separated by '|'."""
    keys: list[str] = []
    for value in values:
        if not value:
            continue
        keys.append(normalise(value))
        keys.extend(pinyin_keys(value))
        digits = _NON_DIGITS.sub("", value)
        if len(digits) >= 5 and digits != normalise(value):
            keys.append(digits)  # "138-0013-8000" is also found as 13800138000
    return "|".join(k for k in keys if k)


def query_terms(q: str) -> list[str]:
    """The terms of a search box entry; each must match."""
    return [normalise(t) for t in (q or "").split() if normalise(t)]


def like_escape(term: str) -> str:
    """Escape LIKE wildcards so that a user's % or _ is matched literally."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
