"""What the rows of a file can be (customers, contacts, opportunities, leads): the fields a column can map to, with the header names that suggest
each (Chinese and English, the export's own keys and labels in both languages, so that an
export imports back), and how a row's values become a record's columns.

A Target's `parse` names the transform (crm/imports/transforms.py) its cells go through:
text, email, phone, url, day, amount, whole, tags, owner (a user's name or email), choice
(a fixed list: `choices`, value -> labels), ref (a record named by another column: a customer,
a pipeline, a stage, a lost reason, a lead source, resolved by the planner), custom (a custom field:
crm/fields' own parse after the transform its type needs)."""
from dataclasses import dataclass, field
from typing import Any

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from crm.customers import exports as customer_exports
from crm.fields.queries import definitions, locale_id
from crm.leads import exports as lead_exports
from crm.models import CUSTOMER_SIZES, OPEN_STATUSES, Contact, Customer, Lead, Opportunity
from crm.opportunities import exports as opportunity_exports

IGNORE = ""


@dataclass(frozen=True)
class Target:
    key: str
    label: Any
    parse: str = "text"
    synonyms: tuple = ()
    required: bool = False
    length: int = 255
    choices: dict = field(default_factory=dict)
    custom: Any = None  # the CustomField


@dataclass(frozen=True)
class RowKind:
    """One kind of row: its name (the form's value), label, table, model, the custom fields'
    record type, its own targets, and the export whose columns it reads back."""
    name: str
    label: Any
    entity: str
    model: Any
    record_type: str
    base: tuple
    export_columns: Any = None

    def targets(self, user=None) -> list[Target]:
        """Its fields, then the custom fields `user` may see, each with its synonyms."""
        found = list(self.base)
        for custom in definitions(self.record_type, user):
            found.append(Target(f"cf_{custom.key}", custom.label(locale_id()), "custom",
                                (custom.key, custom.label_zh, custom.label_en, f"cf_{custom.key}"),
                                required=False, custom=custom))
        return found


KIND_CHOICES = {"company": ("company", "公司", "企业", "Company", "单位"),
                "individual": ("individual", "个人", "Individual", "person")}
SIZE_CHOICES = {size: (size, size.replace("-", "~"), size + "人") for size in CUSTOMER_SIZES}

CUSTOMER_TARGETS = (
    Target("external_id", _l("External id"), "text", ("external id", "外部编号", "客户编号", "编号",
                                                    "客户ID", "id", "account id", "code"), length=200),
    Target("name", _l("Name"), "text", ("客户名称", "客户", "公司名称", "公司", "名称", "企业名称",
                                        "customer", "customer name", "company", "company name",
                                        "account", "account name"), required=True, length=200),
    Target("kind", _l("Type"), "choice", ("类型", "客户类型", "type"), choices=KIND_CHOICES),
    Target("industry", _l("Industry"), "text", ("行业", "所属行业", "sector", "industry"), length=100),
    Target("region", _l("Region"), "text", ("地区", "区域", "省份", "region", "province", "country",
                                            "office_location"), length=100),
    Target("city", _l("City"), "text", ("城市", "city"), length=100),
    Target("size", _l("Size (employees)"), "choice", ("规模", "人数", "员工人数", "size", "employees"),
           choices=SIZE_CHOICES),
    Target("source", _l("Source"), "text", ("来源", "客户来源", "source"), length=100),
    Target("phone", _l("Phone"), "phone", ("电话", "联系电话", "手机", "手机号", "固话", "phone",
                                           "telephone", "tel", "mobile"), length=50),
    Target("email", _l("Email"), "email", ("邮箱", "电子邮件", "邮件", "email", "e-mail", "mail"),
           length=254),
    Target("website", _l("Website"), "url", ("网站", "网址", "官网", "website", "url", "web"), length=255),
    Target("address", _l("Address"), "text", ("地址", "详细地址", "address"), length=500),
    Target("description", _l("Description"), "long", ("备注", "描述", "说明", "description", "notes",
                                                      "note", "remark"), length=10_000),
    Target("owner", _l("Owner"), "owner", ("负责人", "所有人", "销售", "归属人", "owner", "sales rep",
                                           "salesperson", "sales_agent")),
    Target("tags", _l("Tags"), "tags", ("标签", "tags", "labels")),
    Target("contact", _l("Primary contact"), "text", ("联系人", "联系人姓名", "contact",
                                                       "contact name"), length=120),
    Target("contact_phone", _l("Contact phone"), "phone", ("联系人电话", "contact phone"), length=50),
    Target("contact_email", _l("Contact email"), "email", ("联系人邮箱", "contact email"), length=254),
)

CONTACT_TARGETS = (
    Target("external_id", _l("External id"), "text", ("external id", "外部编号", "联系人编号", "id"),
           length=200),
    Target("customer", _l("Customer"), "ref", ("客户名称", "客户", "公司", "公司名称", "单位",
                                               "customer", "company", "account"), required=True,
           length=200),
    Target("customer_external_id", _l("Customer's external id"), "text",
           ("客户编号", "customer id", "customer external id", "account id"), length=200),
    Target("name", _l("Name"), "text", ("姓名", "联系人", "联系人姓名", "名字", "name", "contact",
                                        "full name"), required=True, length=120),
    Target("title", _l("Job title"), "text", ("职位", "职务", "title", "job title", "position"),
           length=120),
    Target("phone", _l("Phone"), "phone", ("电话", "联系电话", "手机", "手机号", "phone", "mobile",
                                           "tel"), length=50),
    Target("email", _l("Email"), "email", ("邮箱", "电子邮件", "email", "e-mail"), length=254),
)

OPPORTUNITY_TARGETS = (
    Target("external_id", _l("External id"), "text", ("external id", "外部编号", "商机编号",
                                                    "opportunity id", "opportunity_id", "deal id", "id"),
           length=200),
    Target("title", _l("Title"), "text", ("商机名称", "商机", "标题", "名称", "title", "deal",
                                          "opportunity", "name"), length=200),
    Target("customer", _l("Customer"), "ref", ("客户名称", "客户", "公司", "customer", "company",
                                               "account"), required=True, length=200),
    Target("customer_external_id", _l("Customer's external id"), "text",
           ("客户编号", "customer id", "account id"), length=200),
    Target("pipeline", _l("Pipeline"), "ref", ("销售管道", "管道", "pipeline")),
    Target("stage", _l("Stage"), "ref", ("阶段", "销售阶段", "stage", "deal stage", "deal_stage")),
    Target("amount", _l("Amount"), "amount", ("金额", "商机金额", "预计金额", "成交金额", "amount",
                                              "value", "deal value", "close_value")),
    Target("currency", _l("Currency"), "text", ("币种", "货币", "currency"), length=3),
    Target("probability", _l("Win probability (%)"), "whole", ("赢率", "成单概率", "概率",
                                                               "probability", "win probability")),
    Target("expected_close", _l("Expected close date"), "day", ("预计成交日期", "预计签约日期",
                                                                 "expected close", "close date")),
    Target("owner", _l("Owner"), "owner", ("负责人", "销售", "owner", "sales rep", "sales_agent",
                                           "salesperson")),
    Target("source", _l("Source"), "text", ("来源", "source"), length=100),
    Target("budget", _l("Budget"), "amount", ("预算", "budget")),
    Target("needs", _l("Needs"), "long", ("需求", "客户需求", "needs"), length=10_000),
    Target("description", _l("Description"), "long", ("备注", "描述", "description", "notes"),
           length=10_000),
    Target("lost_reason", _l("Lost reason"), "ref", ("输单原因", "丢单原因", "lost reason")),
    Target("lost_note", _l("About the loss"), "long", ("输单说明", "about the loss", "lost note"),
           length=10_000),
    Target("opened_on", _l("Opened (engaged) on"), "day", ("创建日期", "接洽日期", "开始日期",
                                                            "engage date", "engage_date", "opened",
                                                            "created date")),
    Target("closed_on", _l("Closed on"), "day", ("成交日期", "关闭日期", "签约日期", "closed",
                                                  "close_date", "closed date", "won date")),
)

# A lead's status on import: one of the open statuses (disqualified and converted have their
# own steps, crm/leads/services.py), by key or by its label in either language.
LEAD_STATUS_CHOICES = {key: labels for key, labels in {
    "new": ("new", "New", "新建", "新线索"),
    "contacted": ("contacted", "Contacted", "已联系"),
    "nurturing": ("nurturing", "Nurturing", "培育中"),
    "qualified": ("qualified", "Qualified", "已确认")}.items() if key in OPEN_STATUSES}

LEAD_TARGETS = (
    Target("external_id", _l("External id"), "text", ("external id", "外部编号", "线索编号", "编号",
                                                    "lead id", "id"), length=200),
    Target("name", _l("Name"), "text", ("姓名", "联系人", "联系人姓名", "名字", "name", "full name",
                                        "contact", "contact name", "lead"), required=True, length=200),
    Target("company", _l("Company"), "text", ("公司", "公司名称", "企业", "企业名称", "单位",
                                              "客户名称", "company", "company name", "organization"),
           length=200),
    Target("title", _l("Job title"), "text", ("职位", "职务", "job title", "position"), length=100),
    Target("phone", _l("Phone"), "phone", ("电话", "联系电话", "固话", "座机", "phone", "telephone",
                                           "tel"), length=50),
    Target("mobile", _l("Mobile"), "phone", ("手机", "手机号", "手机号码", "移动电话", "mobile",
                                             "cell", "cellphone"), length=50),
    Target("email", _l("Email"), "email", ("邮箱", "电子邮件", "邮件", "email", "e-mail", "mail"),
           length=254),
    Target("wechat", _l("WeChat"), "text", ("微信", "微信号", "wechat", "weixin"), length=100),
    Target("region", _l("Region"), "text", ("地区", "区域", "省份", "城市", "region", "province",
                                            "city"), length=100),
    Target("address", _l("Address"), "text", ("地址", "详细地址", "address"), length=500),
    Target("source", _l("Source"), "ref", ("来源", "线索来源", "渠道", "source", "lead source",
                                           "channel"), length=80),
    Target("owner", _l("Owner"), "owner", ("负责人", "所有人", "销售", "归属人", "owner", "sales rep",
                                           "salesperson")),
    Target("status", _l("Status"), "choice", ("状态", "线索状态", "status"),
           choices=LEAD_STATUS_CHOICES),
)

CUSTOMERS = RowKind("customers", _l("Customers"), "customers", Customer, "customer",
                    CUSTOMER_TARGETS, customer_exports.columns)
CONTACTS = RowKind("contacts", _l("Contacts"), "contacts", Contact, "contact", CONTACT_TARGETS)
OPPORTUNITIES = RowKind("opportunities", _l("Opportunities"), "opportunities", Opportunity,
                        "opportunity", OPPORTUNITY_TARGETS, opportunity_exports.columns)

LEADS = RowKind("leads", _l("Leads"), "leads", Lead, "lead", LEAD_TARGETS, lead_exports.columns)

# A new kind of row: a RowKind here, its `_build_<name>` in crm/imports/planning.py and its
# `_new_<entity>` in crm/imports/writing.py (docs/import.md).
KINDS = {kind.name: kind for kind in (CUSTOMERS, CONTACTS, OPPORTUNITIES, LEADS)}


def header_key(text: str) -> str:
    """A header as compared with synonyms: lower-case, half-width, without spaces, _ or *."""
    import unicodedata  # noqa: PLC0415 (kept local: only this helper needs it)
    return "".join(ch for ch in unicodedata.normalize("NFKC", text or "").lower()
                   if ch not in " _*:：-()（）")


def _export_synonyms(kind: RowKind) -> dict[str, str]:
    """The export's header names (keys, and labels in both languages) -> its column key."""
    if kind.export_columns is None:
        return {}
    found = {}
    for locale in ("en", "zh_CN"):
        with force_locale(locale):
            for column in kind.export_columns():
                found[header_key(str(column.label))] = column.key
                found[header_key(column.key)] = column.key
    return found


def suggest(kind: RowKind, header: list[str], user=None) -> dict[str, str]:
    """A field for each column whose header names one ({column index as text: key}); a
    field is suggested for one column at most (the first that names it)."""
    targets = kind.targets(user)
    known = {t.key for t in targets}
    by_name: dict[str, str] = {}
    for target in targets:  # exact names first: keys, then labels, then synonyms
        by_name.setdefault(header_key(target.key), target.key)
    for name, key in _export_synonyms(kind).items():
        if key in known:
            by_name.setdefault(name, key)
    for target in targets:
        by_name.setdefault(header_key(str(target.label)), target.key)
        for synonym in target.synonyms:
            by_name.setdefault(header_key(synonym), target.key)
    mapping, used = {}, set()
    for index, name in enumerate(header):
        key = by_name.get(header_key(name))
        if key and key not in used:
            mapping[str(index)] = key
            used.add(key)
    return mapping
