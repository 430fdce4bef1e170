"""The keys a record is compared by when looking for duplicates.

A company name is compared without what does not tell two companies apart: width (full-width
ＡＢＣ１２３ is ABC123), case, spaces and punctuation, a legal suffix (有限公司, 公司,
Co., Ltd., Inc. ...) and a leading city (北京, 上海 ...). "北京星辰科技有限公司" and
"北京星辰科技" both become "星辰科技". Its pinyin comes from crm.search.pinyin_keys, the
same the search box uses. Phones compare by their last eight digits (crm.customers.duplicates),
emails without case.
"""
from __future__ import annotations

import re
import unicodedata

from crm.customers.duplicates import digits
from crm.search import pinyin_keys

# Longest first, so that 有限责任公司 goes before 公司.
SUFFIXES = sorted((
    "股份有限公司", "有限责任公司", "集团有限公司", "有限公司", "集团", "公司", "分公司",
    "coltd", "co", "ltd", "limited", "inc", "llc", "corp", "corporation", "gmbh", "company",
), key=len, reverse=True)
CITIES = sorted((
    "北京市", "上海市", "天津市", "重庆市", "北京", "上海", "天津", "重庆", "广州", "深圳", "杭州",
    "南京", "苏州", "成都", "武汉", "西安", "长沙", "郑州", "青岛", "厦门", "宁波", "合肥",
    "济南", "沈阳", "大连", "福州", "昆明", "香港", "台北",
), key=len, reverse=True)
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def name_key(name: str | None) -> str:
    """The normalised name: NFKC (full/half width), lower case, no spaces or punctuation, no
    legal suffix, no leading city (unless nothing else would be left)."""
    text = _NOT_WORD.sub("", unicodedata.normalize("NFKC", name or "").lower())
    changed = True
    while changed:
        changed = False
        for suffix in SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text, changed = text[: -len(suffix)], True
                break
    for city in CITIES:
        if text.startswith(city) and len(text) > len(city):
            text = text[len(city):]
            break
    return text


def name_pinyin(name: str | None) -> str:
    """The full pinyin of the normalised name (the name itself when it has no Chinese)."""
    key = name_key(name)
    keys = pinyin_keys(key)
    return keys[0] if keys else key


def phone_key(phone: str | None) -> str | None:
    """The last eight digits of a phone with at least 7 digits, else None."""
    found = digits(phone)
    return found[-8:] if len(found) >= 7 else None


def email_key(email: str | None) -> str | None:
    value = (email or "").strip().lower()
    return value or None
