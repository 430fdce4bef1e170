"""Search keys: pinyin, initials and phone digits."""
from crm.search import like_escape, query_terms, search_keys


def test_chinese_name_has_pinyin_and_initials():
    keys = search_keys("北京星辰科技")
    assert "xingchen" in keys and "bjxc" in keys and "北京星辰科技" in keys


def test_phone_is_found_by_its_digits():
    keys = search_keys("138-0013-8000")
    assert "13800138000" in keys and "138-0013-8000" in keys


def test_query_terms_and_like_escape():
    assert query_terms("  Bei  JING ") == ["bei", "jing"]
    assert like_escape("50%_off\\") == "50\\%\\_off\\\\"
