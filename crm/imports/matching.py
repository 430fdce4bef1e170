"""Finding the record a row is already in, so that importing a file twice creates nothing
twice. A row matches on, in this order: its external id (crm.models.ExternalKey), else its
email, else its phone, else its normalised name (full/half width, case, spaces and
punctuation, and the legal suffixes 有限公司, 公司, Co., Ltd., Inc. ... dropped; contacts within
their customer, opportunities by title within their customer, leads by name within their
company; a lead's phone is its phone or, without one, its mobile).

The keys of the existing records are loaded once per import, a fixed number of streamed
queries whatever the number of rows (`MatchIndex.load`), and rows the import plans are added
as it goes, so that a row repeating an earlier row of the same file is a duplicate too."""
import re
import unicodedata

from sqlalchemy import func, select

from crm.extensions import db
from crm.models import Contact, Customer, ExternalKey, Lead, Opportunity

_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "集团公司", "公司", "colimited", "coltd",
             "limited", "ltd", "incorporated", "inc", "llc", "corporation", "corp", "gmbh", "co")
_DROP = re.compile(r"[\s.,，。·()（）\-_&'\"/]+")
_NON_DIGITS = re.compile(r"\D")


def name_key(name: str | None) -> str:
    """A name as compared: 北京星辰科技有限公司 and 北京星辰科技 and "Ｂeijing Xingchen Co., Ltd."
    against "beijing xingchen" are equal."""
    key = _DROP.sub("", unicodedata.normalize("NFKC", name or "").lower())
    changed = True
    while changed and key:
        changed = False
        for suffix in _SUFFIXES:
            if key.endswith(suffix) and len(key) > len(suffix):
                key = key[: -len(suffix)]
                changed = True
                break
    return key


def email_key(email: str | None) -> str:
    return unicodedata.normalize("NFKC", email or "").strip().lower()


def phone_key(phone: str | None) -> str:
    """Digits only, without China's +86 / 0086 prefix; '' below 5 digits."""
    digits = _NON_DIGITS.sub("", unicodedata.normalize("NFKC", phone or ""))
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if len(digits) >= 5 else ""


class MatchIndex:
    """The match keys of one record type: {key kind: {key: record id}}."""

    KINDS = ("external", "email", "phone", "name")

    def __init__(self, entity: str):
        self.entity = entity
        self.keys = {kind: {} for kind in self.KINDS}

    def add(self, record_id, *, external=None, email=None, phone=None, name=None) -> None:
        for kind, key in (("external", external), ("email", email), ("phone", phone),
                          ("name", name)):
            if key:
                self.keys[kind].setdefault(key, record_id)

    def find(self, *, external=None, email=None, phone=None, name=None):
        """(record id, the key kind that matched) or (None, None)."""
        for kind, key in (("external", external), ("email", email), ("phone", phone),
                          ("name", name)):
            if key and key in self.keys[kind]:
                return self.keys[kind][key], kind
        return None, None

    def _externals(self):
        rows = db.session.execute(select(ExternalKey.key, ExternalKey.record_id)
                                  .where(ExternalKey.entity == self.entity)
                                  .execution_options(yield_per=5000))
        for key, record_id in rows:
            self.keys["external"].setdefault(key, record_id)

    @classmethod
    def load(cls, entity: str) -> "MatchIndex":
        """Every live record's keys (rows in the trash are not matched: they come back only
        by restoring them)."""
        index = cls(entity)
        index._externals()
        if entity == "customers":
            rows = db.session.execute(select(Customer.id, Customer.email, Customer.phone,
                                             Customer.name).execution_options(yield_per=5000))
            for record_id, email, phone, name in rows:
                index.add(record_id, email=email_key(email), phone=phone_key(phone),
                          name=name_key(name))
        elif entity == "contacts":
            rows = db.session.execute(select(Contact.id, Contact.customer_id, Contact.email,
                                             Contact.phone, Contact.name)
                                      .execution_options(yield_per=5000))
            for record_id, customer_id, email, phone, name in rows:
                index.add(record_id, email=scoped(customer_id, email_key(email)),
                          phone=scoped(customer_id, phone_key(phone)),
                          name=scoped(customer_id, name_key(name)))
        elif entity == "opportunities":
            rows = db.session.execute(select(Opportunity.id, Opportunity.customer_id,
                                             Opportunity.title).execution_options(yield_per=5000))
            for record_id, customer_id, title in rows:
                index.add(record_id, name=scoped(customer_id, name_key(title)))
        elif entity == "leads":
            rows = db.session.execute(select(Lead.id, Lead.email, Lead.phone, Lead.mobile,
                                             Lead.name, Lead.company).execution_options(yield_per=5000))
            for record_id, email, phone, mobile, name, company in rows:
                index.add(record_id, email=email_key(email), phone=phone_key(phone),
                          name=lead_name_key(name, company))
                index.add(record_id, phone=phone_key(mobile))
        return index


def lead_name_key(name: str | None, company: str | None) -> str:
    """A lead's name as compared: the person's name within their company (two 王伟 at two
    companies are two leads)."""
    key = name_key(name)
    return f"{name_key(company)}:{key}" if key else ""


def scoped(scope, key: str) -> str:
    """A key within a parent record (a contact's within its customer)."""
    return f"{scope}:{key}" if key and scope is not None else ""


def count_of(model) -> int:
    return db.session.execute(select(func.count(model.id))).scalar_one()
