"""Every string a user can see has a Chinese translation, and the compiled catalog is current."""
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None,
            "lazy_ngettext": (1, 2), "pgettext": ((1, "c"), 2), "lazy_pgettext": ((1, "c"), 2)}


def _source_messages() -> set[tuple[str, str | None]]:
    """(msgid, context) of every message in the code and templates."""
    method_map = [("crm/**.py", "python"), ("templates/**.html", "jinja2")]
    found = set()
    for filename, _lineno, message, _comments, context in extract_from_dir(
            str(ROOT), method_map=method_map, keywords=KEYWORDS,
            options_map={"templates/**.html": {"extensions": "jinja2.ext.do"}}):
        if isinstance(message, tuple):
            if message[0]:
                found.add((message[0], context))  # a plural entry is filed under its singular
        elif message:
            found.add((message, context))
    return found


def _catalog(path=PO):
    with open(path, "rb") as handle:
        return read_po(handle, locale="zh_CN")


def test_every_message_has_a_chinese_translation():
    catalog = _catalog()
    missing = []
    for msgid, context in sorted(_source_messages(), key=lambda pair: (pair[0], pair[1] or "")):
        entry = catalog.get(msgid, context)
        if entry is None or not entry.string or entry.fuzzy or (
                isinstance(entry.string, tuple) and not all(entry.string)):
            missing.append(f"{msgid} (context {context})" if context else msgid)
    assert not missing, (
        f"{len(missing)} message(s) lack a zh_CN translation; run scripts/i18n.sh, translate them "
        f"in {PO.relative_to(ROOT)} and run it again:\n" + "\n".join(missing[:50]))


def test_compiled_catalog_matches_the_po_file():
    catalog = _catalog()
    with open(MO, "rb") as handle:
        # read_mo hands a message's context back as bytes
        compiled = {(m.id if isinstance(m.id, str) else m.id[0],
                     m.context.decode() if isinstance(m.context, bytes) else m.context): m.string
                    for m in read_mo(handle)}

    def text(value):
        return tuple(value) if isinstance(value, (list, tuple)) else (value,)

    def key(m):
        return (m.id if isinstance(m.id, str) else m.id[0], m.context)

    stale = [m.id for m in catalog if m.id and any(text(m.string) or ()) and not m.fuzzy
             and (key(m) not in compiled or text(compiled[key(m)]) != text(m.string))]
    assert not stale, f"{len(stale)} entries differ in messages.mo; run scripts/i18n.sh: {stale[:10]}"


def test_chinese_pages_are_chinese(client, make_user, login):
    user = make_user("admin", language="zh_CN")
    login(user)
    html = client.get("/account").get_data(as_text=True)
    assert "我的账户" in html and 'lang="zh-CN"' in html
