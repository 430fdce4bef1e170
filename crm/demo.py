"""`flask --app app crm demo`: a believable bilingual workspace in an empty database.

Half the customers are Chinese companies written for the demo, half are real accounts
from the public Maven CRM data set (../shared/datasets/maven-crm/accounts.csv beside the
repository; a short built-in list when it is absent). Everything is drawn from one
random.Random(seed), so two runs build the same workspace (dates are relative to now).
"""
import csv
import re
import time
from dataclasses import dataclass
from datetime import datetime, time as dtime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from random import Random
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from crm.extensions import db
from crm.search import pinyin_keys
from crm.models import (
    Competitor,
    Contact,
    Customer,
    LostReason,
    Note,
    Opportunity,
    Pipeline,
    StageChange,
    Tag,
    TagGroup,
    Task,
    User,
    utcnow,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
ACCOUNTS_CSV = REPO_ROOT.parent / "shared" / "datasets" / "maven-crm" / "accounts.csv"
DEFAULT_SEED = 20240601
DEMO_PASSWORD = "demo-pass-2024"


class DemoError(Exception):
    """The demo cannot be loaded (the database is not empty)."""


# --- people ----------------------------------------------------------------------------

@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: str
    language: str
    timezone: str
    speaks: str  # "zh", "en" or "both": which customers they are given


DEMO_USERS = [
    DemoUser("admin@demo.local", "王芳", "admin", "zh_CN", "Asia/Shanghai", "both"),
    DemoUser("manager@demo.local", "李明", "manager", "zh_CN", "Asia/Shanghai", "both"),
    DemoUser("zhang.wei@demo.local", "张伟", "sales", "zh_CN", "Asia/Shanghai", "zh"),
    DemoUser("chen.jing@demo.local", "陈静", "sales", "zh_CN", "Asia/Shanghai", "both"),
    DemoUser("emily.carter@demo.local", "Emily Carter", "sales", "en", "America/New_York", "en"),
    DemoUser("james.wong@demo.local", "James Wong", "sales", "en", "Asia/Hong_Kong", "en"),
]

# --- tags ------------------------------------------------------------------------------

TAG_GROUPS = [
    # name, multiple, [(key, tag name, colour)]
    ("行业 Industry", False, [
        ("tech", "科技 Technology", "#2563eb"), ("software", "软件 Software", "#4f46e5"),
        ("manufacturing", "制造 Manufacturing", "#64748b"), ("health", "医疗 Healthcare", "#0d9488"),
        ("retail", "零售 Retail", "#ea580c"), ("finance", "金融 Finance", "#ca8a04"),
        ("logistics", "物流 Logistics", "#78716c"), ("education", "教育 Education", "#7c3aed"),
        ("telecom", "电信 Telecom", "#0891b2"), ("media", "传媒 Media", "#db2777"),
        ("services", "服务 Services", "#16a34a"), ("energy", "能源 Energy", "#65a30d"),
    ]),
    ("预算 Budget", False, [
        ("budget_ample", "预算充足 Ample", "#15803d"), ("budget_moderate", "预算一般 Moderate", "#ca8a04"),
        ("budget_tight", "预算紧张 Tight", "#dc2626"), ("budget_unknown", "预算未知 Unknown", "#94a3b8"),
    ]),
    ("客户等级 Value tier", False, [
        ("tier_key", "重要 Key account", "#b91c1c"), ("tier_high", "高价值 High value", "#d97706"),
        ("tier_ordinary", "普通 Ordinary", "#64748b"),
    ]),
    ("行为 Behaviour", True, [
        ("downloaded", "下载资料 Downloaded brochure", "#0284c7"),
        ("demo", "参加演示 Attended demo", "#7c3aed"),
        ("asked_price", "询价 Asked price", "#f59e0b"),
        ("visited_booth", "展会到访 Visited booth", "#0d9488"),
        ("newsletter", "订阅资讯 Newsletter", "#94a3b8"),
        ("trial", "试用中 On trial", "#16a34a"),
    ]),
]

# --- Chinese customers (written for the demo) -------------------------------------------

# name, short name, web domain, province/region, city, industry, industry tag, size, source
CHINESE_COMPANIES = [
    ("北京星辰科技有限公司", "星辰科技", "xingchen-tech.cn", "北京", "北京", "软件", "software", "51-200", "官网"),
    ("上海汇通物流有限公司", "汇通物流", "huitong56.com", "上海", "上海", "物流", "logistics", "201-1000", "转介绍"),
    ("深圳云帆智能科技有限公司", "云帆智能", "yunfan-ai.cn", "广东", "深圳", "科技", "tech", "51-200", "展会"),
    ("杭州绿源生物医药有限公司", "绿源生物", "lvyuan-bio.com", "浙江", "杭州", "医药", "health", "201-1000", "百度推广"),
    ("广州华美零售连锁有限公司", "华美零售", "huamei-retail.cn", "广东", "广州", "零售", "retail", "1000+", "电话营销"),
    ("成都天府软件股份有限公司", "天府软件", "tianfu-soft.com", "四川", "成都", "软件", "software", "201-1000", "官网"),
    ("南京金陵精密制造有限公司", "金陵精密", "jinling-precision.cn", "江苏", "南京", "制造业", "manufacturing", "201-1000", "展会"),
    ("武汉长江新能源科技有限公司", "长江新能源", "cj-newenergy.cn", "湖北", "武汉", "新能源", "energy", "51-200", "转介绍"),
    ("苏州博远电子有限公司", "博远电子", "boyuan-elec.com", "江苏", "苏州", "电子制造", "manufacturing", "1000+", "展会"),
    ("西安秦川教育科技有限公司", "秦川教育", "qinchuan-edu.cn", "陕西", "西安", "教育", "education", "11-50", "微信"),
    ("天津海河金融服务有限公司", "海河金融", "haihe-fin.com", "天津", "天津", "金融", "finance", "51-200", "转介绍"),
    ("重庆山城餐饮管理有限公司", "山城餐饮", "shancheng-food.cn", "重庆", "重庆", "餐饮", "services", "201-1000", "微信"),
    ("青岛海韵食品有限公司", "海韵食品", "haiyun-food.com", "山东", "青岛", "食品", "manufacturing", "201-1000", "百度推广"),
    ("厦门鹭岛国际贸易有限公司", "鹭岛贸易", "ludao-trade.com", "福建", "厦门", "贸易", "retail", "11-50", "官网"),
    ("长沙湘江传媒有限公司", "湘江传媒", "xiangjiang-media.cn", "湖南", "长沙", "传媒", "media", "51-200", "电话营销"),
    ("郑州中原建设工程有限公司", "中原建设", "zhongyuan-build.cn", "河南", "郑州", "建筑", "services", "1000+", "转介绍"),
    ("合肥智联信息技术有限公司", "智联信息", "zhilian-it.cn", "安徽", "合肥", "信息技术", "tech", "51-200", "官网"),
    ("宁波港城汽车零部件有限公司", "港城汽配", "gangcheng-auto.com", "浙江", "宁波", "汽车零部件", "manufacturing", "201-1000", "展会"),
    ("大连蓝海船舶设备有限公司", "蓝海船舶", "lanhai-marine.cn", "辽宁", "大连", "船舶设备", "manufacturing", "201-1000", "电话营销"),
    ("沈阳盛京机械有限公司", "盛京机械", "shengjing-mach.cn", "辽宁", "沈阳", "机械", "manufacturing", "1000+", "展会"),
    ("昆明彩云旅游文化有限公司", "彩云旅游", "caiyun-travel.cn", "云南", "昆明", "旅游", "services", "11-50", "微信"),
    ("济南泉城医疗器械有限公司", "泉城医疗", "quancheng-med.com", "山东", "济南", "医疗器械", "health", "51-200", "百度推广"),
    ("福州闽江纺织有限公司", "闽江纺织", "minjiang-textile.cn", "福建", "福州", "纺织", "manufacturing", "201-1000", "电话营销"),
    ("东莞优品家居有限公司", "优品家居", "youpin-home.cn", "广东", "东莞", "家居零售", "retail", "51-200", "官网"),
    ("珠海横琴数字科技有限公司", "横琴数字", "hengqin-digital.cn", "广东", "珠海", "科技", "tech", "11-50", "展会"),
    ("无锡太湖环保科技有限公司", "太湖环保", "taihu-eco.cn", "江苏", "无锡", "环保", "energy", "51-200", "转介绍"),
    ("北京京华律师事务所", "京华律所", "jinghua-law.cn", "北京", "北京", "法律服务", "services", "51-200", "转介绍"),
    ("上海浦江人力资源服务有限公司", "浦江人力", "pujiang-hr.com", "上海", "上海", "人力资源", "services", "201-1000", "官网"),
    ("深圳鹏程通信技术有限公司", "鹏程通信", "pengcheng-tel.cn", "广东", "深圳", "通信", "telecom", "1000+", "展会"),
    ("杭州西子电子商务有限公司", "西子电商", "xizi-ecom.cn", "浙江", "杭州", "电子商务", "retail", "51-200", "百度推广"),
]
# A person can be a customer too.
CHINESE_INDIVIDUALS = [("周晓梅", "上海", "上海", "转介绍")]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
         "秀英", "霞", "平", "刚", "桂英", "晓东", "建华", "海燕", "志强", "雪梅", "子涵", "浩然", "思远", "雨桐"]
ZH_TITLES = ["总经理", "采购经理", "IT 总监", "销售总监", "运营经理", "财务总监", "技术负责人", "行政主管"]

EN_FIRST = ["James", "Mary", "Robert", "Patricia", "Michael", "Jennifer", "David", "Linda", "Daniel",
            "Sarah", "Thomas", "Karen", "Kevin", "Laura", "Brian", "Emma", "Olivia", "Noah", "Ana",
            "Lukas", "Priya", "Kenji", "Amara", "Sofia", "Marco"]
EN_LAST = ["Smith", "Johnson", "Brown", "Garcia", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
           "Moore", "Martin", "Lee", "Walker", "Hall", "Young", "King", "Wright", "Lopez", "Hill",
           "Nguyen", "Schmidt", "Rossi", "Tanaka", "Okafor", "Kowalski"]
EN_TITLES = ["CEO", "Head of Procurement", "IT Director", "VP Sales", "Operations Manager", "CFO",
             "CTO", "Office Manager"]

# Used when the data set is not beside the repository.
FALLBACK_ACCOUNTS = [
    ("Northwind Traders", "retail", 1994, "820.5", 2100, "United States", ""),
    ("Contoso Health", "medical", 2003, "410.2", 950, "United States", ""),
    ("Fabrikam Software", "software", 2011, "96.4", 240, "United States", ""),
    ("Tailspin Telecom", "telecommunications", 1989, "1530.0", 5200, "Germany", ""),
    ("Adatum Finance", "finance", 1999, "640.8", 700, "United States", ""),
    ("Litware Media", "entertainment", 2008, "75.3", 180, "United States", ""),
    ("Proseware Marketing", "marketing", 2015, "22.9", 60, "United States", "Litware Media"),
    ("Wingtip Services", "services", 1996, "310.0", 1200, "Brazil", ""),
    ("Woodgrove Staffing", "employment", 2005, "140.6", 400, "United States", ""),
    ("Alpine Technology", "technolgy", 2001, "980.1", 2600, "Japan", ""),
]

SECTOR_FIXES = {"technolgy": "technology"}
COUNTRY_FIXES = {"Philipines": "Philippines"}
SECTOR_TAGS = {
    "technology": "tech", "software": "software", "medical": "health", "retail": "retail",
    "finance": "finance", "marketing": "media", "entertainment": "media",
    "telecommunications": "telecom", "employment": "services", "services": "services",
}
EN_SOURCES = ["Website", "Trade show", "Referral", "Cold call", "LinkedIn", "Partner"]


@dataclass
class Account:
    """A company from the data set, cleaned."""
    name: str
    sector: str
    year: int | None
    revenue: Decimal | None
    employees: int | None
    country: str
    parent: str | None


def read_accounts(path: Path = ACCOUNTS_CSV) -> tuple[list[Account], list[str]]:
    """The data set's accounts with its known dirt fixed; and what was fixed.

    Falls back to a short built-in list when the file is absent or unreadable."""
    fixes: list[str] = []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [(r.get("account"), r.get("sector"), r.get("year_established"), r.get("revenue"),
                     r.get("employees"), r.get("office_location"), r.get("subsidiary_of"))
                    for r in csv.DictReader(handle)]
    except (OSError, csv.Error, UnicodeDecodeError):
        rows = FALLBACK_ACCOUNTS
        fixes.append(f"{path} not found: used {len(rows)} built-in accounts")
    accounts, seen = [], set()
    for name, sector, year, revenue, employees, country, parent in rows:
        name = (name or "").strip()
        if not name or name.lower() in seen:
            continue
        seen.add(name.lower())
        if name == name.lower():
            fixes.append(f"account {name!r} capitalised")
            name = name[:1].upper() + name[1:]
        sector = (sector or "").strip().lower()
        if sector in SECTOR_FIXES:
            fixes.append(f"sector {sector!r} read as {SECTOR_FIXES[sector]!r}")
            sector = SECTOR_FIXES[sector]
        country = (country or "").strip()
        if country in COUNTRY_FIXES:
            fixes.append(f"location {country!r} read as {COUNTRY_FIXES[country]!r}")
            country = COUNTRY_FIXES[country]
        accounts.append(Account(name=name, sector=sector, year=_int(year),
                                revenue=_decimal(revenue), employees=_int(employees),
                                country=country, parent=(parent or "").strip() or None))
    return accounts, sorted(set(fixes), key=fixes.index)


def _int(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _decimal(value):
    try:
        return Decimal(str(value).strip())
    except (TypeError, ValueError, ArithmeticError):
        return None


def _size(employees: int | None) -> str | None:
    if employees is None:
        return None
    for limit, label in ((10, "1-10"), (50, "11-50"), (200, "51-200"), (1000, "201-1000")):
        if employees <= limit:
            return label
    return "1000+"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", name.lower()) or "company"


# --- texts -----------------------------------------------------------------------------

ZH_NOTES = {
    "call": ["电话沟通{contact}，确认了需求范围，对方希望下周收到正式报价。",
             "与{contact}通话：预算还在审批中，约定月底再跟进。",
             "{contact}来电询问实施周期，已解释标准方案约六周。"],
    "visit": ["上门拜访，和{contact}及技术团队演示了系统，对移动端审批很感兴趣。",
              "拜访{contact}，参观了仓库现场，记录了三个主要痛点。"],
    "email": ["给{contact}发送了产品资料和同行业案例，等待回复。",
              "邮件发送报价单 V2，{contact}回复会在内部评审后答复。"],
    "meeting": ["线上会议：{contact}带采购一起参加，讨论了私有化部署和实施计划。",
                "季度回顾会：{contact}对上线效果满意，提出增加 20 个账号。"],
    "note": ["客户内部正在做年度预算，决策人是{contact}，财务总监有否决权。",
             "竞争对手也在接触该客户，主打低价，我们强调本地化服务。"],
    "other": ["微信沟通：{contact}询问了私有化部署的价格和付款方式。",
              "在展会上再次见到{contact}，约了下月初的现场演示。"],
}
EN_NOTES = {
    "call": ["Call with {contact}: scope confirmed, they expect the formal quote next week.",
             "Spoke to {contact}; budget is still in approval, agreed to follow up at month end.",
             "{contact} called about the rollout timeline; explained the standard six-week plan."],
    "visit": ["On-site visit: demoed the system to {contact} and the IT team; mobile approvals landed well.",
              "Visited {contact} at their office and noted three main pain points."],
    "email": ["Sent {contact} the brochure and two case studies from their industry.",
              "Emailed proposal v2; {contact} will answer after the internal review."],
    "meeting": ["Video meeting with {contact} and procurement about hosting and the rollout plan.",
                "Quarterly review: {contact} is happy with adoption and wants 20 more seats."],
    "note": ["Annual budgeting under way; {contact} decides, the CFO can veto.",
             "A competitor is pitching a lower price; we lead with support and integrations."],
    "other": ["LinkedIn message from {contact} asking about payment terms.",
              "Met {contact} again at the trade show; booked an on-site demo for next month."],
}
ZH_DEALS = ["CRM 系统采购", "年度订阅续约", "销售团队培训", "数据平台二期", "私有化部署项目",
            "移动端定制开发", "客服中心升级", "经销商门户建设"]
EN_DEALS = ["CRM rollout", "Annual subscription renewal", "Sales team training", "Data platform phase 2",
            "Private cloud deployment", "Mobile app customisation", "Support centre upgrade",
            "Partner portal"]
ZH_NEEDS = ["销售过程可视化，手机端随时跟进客户。", "与现有 ERP 对接，统一客户数据。",
            "管理层需要每周的销售漏斗报表。", "数据必须私有化部署在本地机房。"]
EN_NEEDS = ["Pipeline visibility and follow-ups from a phone.", "Integrate with their ERP for one customer record.",
            "Weekly funnel reports for management.", "Data must stay in their own data centre."]
ZH_COMPETITORS = ["云客 CRM", "智销通", "销帮手", "本地软件外包商"]
EN_COMPETITORS = ["NorthStar CRM", "PipeRight", "DealFlow", "In-house build"]
ZH_LOST_NOTES = ["对方选择了报价更低的方案。", "项目预算被冻结，明年再议。", "决策人离职，项目暂停。"]
EN_LOST_NOTES = ["They went with a cheaper offer.", "Budget frozen until next year.",
                 "Their sponsor left; the project is on hold."]
ZH_TASKS = ["给{short}发送报价单", "电话回访{contact}", "准备{short}的演示环境", "跟进合同盖章",
            "确认{short}的付款计划", "约{contact}做需求调研"]
EN_TASKS = ["Send the quote to {short}", "Follow-up call with {contact}", "Prepare the demo for {short}",
            "Chase the signed contract", "Confirm the payment plan with {short}",
            "Book a discovery session with {contact}"]


# --- the loader ------------------------------------------------------------------------

def load_demo(seed: int = DEFAULT_SEED, accounts_csv: Path | None = None,
              now: datetime | None = None) -> str:
    """Fill an empty database with the demo workspace; return a summary to print.

    Refuses (DemoError) when customers or opportunities exist. Users who already exist
    are kept and given customers too; the demo users are added beside them."""
    started = time.perf_counter()
    has_customers = db.session.execute(select(Customer.id).limit(1)).first() is not None
    has_opportunities = db.session.execute(select(Opportunity.id).limit(1)).first() is not None
    if has_customers or has_opportunities:
        raise DemoError("The database already holds customers or opportunities: the demo only fills "
                        "an empty database. Point DATABASE_URL at a new database and run it again.")
    from crm.defaults import ensure_defaults

    ensure_defaults()
    builder = _Builder(Random(seed), now or utcnow(), accounts_csv or ACCOUNTS_CSV)
    from crm.audit.services import paused
    with paused():  # made-up records have no history: no audit entries for them
        builder.build()
        db.session.commit()
    return builder.summary(time.perf_counter() - started)


class _Builder:
    def __init__(self, rng: Random, now: datetime, accounts_csv: Path):
        self.rng = rng
        self.now = now.astimezone(timezone.utc)
        self.accounts_csv = accounts_csv
        self.objects: list = []
        self.logins: list[tuple[User, str | None]] = []
        self.counts: dict[str, int] = {}
        self.fixes: list[str] = []

    # -- users, tags, pipeline --

    def users(self) -> None:
        existing = {u.email: u for u in db.session.execute(select(User)).scalars()}
        self.by_role: dict[str, list[User]] = {"zh": [], "en": []}
        self.admin = self.manager = None
        for spec in DEMO_USERS:
            user = existing.get(spec.email)
            password = None
            if user is None:
                user = User(email=spec.email, name=spec.name, role=spec.role, language=spec.language,
                            timezone=spec.timezone, active=True, created_at=self.now - timedelta(days=200))
                user.set_password(DEMO_PASSWORD)
                password = DEMO_PASSWORD
                self.objects.append(user)
            self.logins.append((user, password))
            if spec.role == "admin":
                self.admin = user
            elif spec.role == "manager":
                self.manager = user
            else:
                for side in ("zh", "en"):
                    if spec.speaks in (side, "both"):
                        self.by_role[side].append(user)
        # People who were here before the demo get customers too.
        self.earlier_users = [u for e, u in sorted(existing.items())
                              if e not in {s.email for s in DEMO_USERS} and u.active]
        for user in self.earlier_users:
            side = "en" if user.language == "en" else "zh"
            self.by_role[side].append(user)

    def tags(self) -> None:
        groups = {g.name: g for g in db.session.execute(select(TagGroup)).scalars()}
        last = db.session.execute(select(func.max(TagGroup.position))).scalar()
        position = (last if last is not None else -1) + 1
        self.tag: dict[str, Tag] = {}
        for name, multiple, tags in TAG_GROUPS:
            group = groups.get(name)
            if group is None:
                group = TagGroup(name=name, multiple=multiple, position=position)
                position += 1
                self.objects.append(group)
            have = {t.name: t for t in group.tags}
            for key, tag_name, color in tags:
                tag = have.get(tag_name) or Tag(group=group, name=tag_name, color=color)
                self.tag[key] = tag

    def pipeline(self) -> None:
        pipeline = (db.session.execute(select(Pipeline).filter_by(key="default")).scalars().first()
                    or db.session.execute(select(Pipeline).order_by(Pipeline.position)).scalars().first())
        self.pipe = pipeline
        stages = list(pipeline.stages)
        self.open_stages = [s for s in stages if s.kind == "open"]
        self.won_stages = [s for s in stages if s.kind == "won"]
        self.lost_stages = [s for s in stages if s.kind == "lost"]
        self.lost_reasons = list(db.session.execute(
            select(LostReason).where(LostReason.active.is_(True)).order_by(LostReason.position)).scalars())

    # -- customers --

    def chinese_customers(self) -> list[tuple[Customer, dict]]:
        rng, made = self.rng, []
        for (name, short, domain, region, city, industry, tag_key, size, source) in CHINESE_COMPANIES:
            customer = Customer(
                kind="company", name=name, industry=industry, region=region, city=city, size=size,
                source=source, phone=f"{_area_code(city)}-{rng.randint(6000_0000, 8999_9999)}",
                email=f"info@{domain}", website=f"https://www.{domain}",
                address=f"{city}市{rng.choice(['高新区', '经济开发区', '中心城区', '软件园'])}"
                        f"{rng.choice(['科技路', '人民路', '创业大道', '长江路', '建设路'])}{rng.randint(1, 399)}号",
                description=f"{short}：{industry}行业，{city}。")
            contacts = [self._zh_contact(domain, primary=i == 0) for i in range(rng.randint(1, 3))]
            made.append((customer, {"lang": "zh", "short": short, "industry_tag": tag_key,
                                    "contacts": contacts}))
        for person, region, city, source in CHINESE_INDIVIDUALS:
            customer = Customer(kind="individual", name=person, region=region, city=city, source=source,
                                phone=_zh_mobile(rng), description="个人客户，小型工作室负责人。")
            made.append((customer, {"lang": "zh", "short": person, "industry_tag": "services",
                                    "contacts": [Contact(name=person, title="负责人", phone=customer.phone,
                                                         is_primary=True)]}))
        return made

    def english_customers(self, how_many: int) -> list[tuple[Customer, dict]]:
        rng = self.rng
        accounts, self.fixes = read_accounts(self.accounts_csv)
        chosen = sorted(rng.sample(accounts, min(how_many, len(accounts))), key=lambda a: a.name)
        made = []
        for account in chosen:
            domain = f"{_slug(account.name)}.com"
            facts = []
            if account.year:
                facts.append(f"established {account.year}")
            if account.revenue is not None:
                facts.append(f"revenue about USD {account.revenue:,.0f} million a year")
            if account.employees:
                facts.append(f"{account.employees:,} employees")
            description = (account.sector.capitalize() + " company" if account.sector else "Company")
            description += (", " + ", ".join(facts) if facts else "") + "."
            if account.parent:
                description += f" Subsidiary of {account.parent}."
            customer = Customer(
                kind="company", name=account.name,
                industry=account.sector.capitalize() if account.sector else None,
                region=account.country or None, size=_size(account.employees),
                source=rng.choice(EN_SOURCES), phone=f"+1 {rng.randint(201, 989)}-555-{rng.randint(1000, 9999)}",
                email=f"hello@{domain}", website=f"https://www.{domain}", description=description)
            contacts = [self._en_contact(domain, primary=i == 0) for i in range(rng.randint(1, 3))]
            made.append((customer, {"lang": "en", "short": account.name,
                                    "industry_tag": SECTOR_TAGS.get(account.sector, "services"),
                                    "contacts": contacts}))
        return made

    def _zh_contact(self, domain: str, primary: bool) -> Contact:
        rng = self.rng
        surname, given = rng.choice(SURNAMES), rng.choice(GIVEN)
        handle = (pinyin_keys(given) or ["x"])[0] + "." + (pinyin_keys(surname) or ["x"])[0]
        return Contact(name=surname + given, title=rng.choice(ZH_TITLES), phone=_zh_mobile(rng),
                       email=f"{handle}@{domain}", is_primary=primary)

    def _en_contact(self, domain: str, primary: bool) -> Contact:
        rng = self.rng
        first, last = rng.choice(EN_FIRST), rng.choice(EN_LAST)
        return Contact(name=f"{first} {last}", title=rng.choice(EN_TITLES),
                       phone=f"+1 {rng.randint(201, 989)}-555-{rng.randint(1000, 9999)}",
                       email=f"{first.lower()}.{last.lower()}@{domain}", is_primary=primary)

    def _owner(self, lang: str) -> User:
        return self.rng.choice(self.by_role[lang])

    def _ago(self, lo_days: float, hi_days: float) -> datetime:
        """A moment between hi_days and lo_days ago, to the minute."""
        moment = self.now - timedelta(minutes=self.rng.randint(int(lo_days * 1440), int(hi_days * 1440)))
        return moment.replace(second=0, microsecond=0)

    def customers(self) -> None:
        rng = self.rng
        made = self.chinese_customers()
        made += self.english_customers(how_many=len(made))
        self.customer_rows = made
        for customer, info in made:
            owner = self._owner(info["lang"])
            customer.owner = owner
            customer.created_by = owner if rng.random() < 0.7 else (self.manager or owner)
            customer.created_at = customer.updated_at = self._ago(91, 200)
            for contact in info["contacts"]:
                contact.created_at = customer.created_at
                customer.contacts.append(contact)
            customer.tags.append(self.tag[info["industry_tag"]])
            customer.tags.append(self.tag[rng.choices(
                ["budget_ample", "budget_moderate", "budget_tight", "budget_unknown"], [3, 4, 2, 2])[0]])
            customer.tags.append(self.tag[rng.choices(
                ["tier_key", "tier_high", "tier_ordinary"], [2, 3, 5])[0]])
            for key in rng.sample(["downloaded", "demo", "asked_price", "visited_booth", "newsletter",
                                   "trial"], rng.choice([0, 1, 1, 2, 2, 3])):
                customer.tags.append(self.tag[key])
            customer.rebuild_search_index()
            info["owner"] = owner
            self.objects.append(customer)
        self.counts["customers"] = len(made)
        self.counts["contacts"] = sum(len(info["contacts"]) for _c, info in made)

    # -- notes, opportunities, tasks --

    def notes(self) -> None:
        rng, count = self.rng, 0
        for customer, info in self.customer_rows:
            texts = ZH_NOTES if info["lang"] == "zh" else EN_NOTES
            for _ in range(rng.randint(1, 5)):
                kind = rng.choices(list(texts), [5, 2, 3, 2, 2, 1])[0]
                contact = rng.choice(info["contacts"])
                author = info["owner"] if rng.random() < 0.85 else (self.manager or info["owner"])
                at = self._ago(0.05, 89.5)
                self.objects.append(Note(
                    kind=kind, body=rng.choice(texts[kind]).format(contact=contact.name),
                    happened_at=at, created_at=at, updated_at=at, author=author, customer=customer,
                    contact=contact if rng.random() < 0.6 else None))
                count += 1
        self.counts["notes"] = count

    def opportunities(self) -> None:
        rng = self.rng
        self.opps: list[tuple[Opportunity, dict]] = []
        changes = notes = competitors = 0
        for customer, info in self.customer_rows:
            for _ in range(rng.choices([0, 1, 2], [2, 5, 2])[0]):
                opp, history = self._opportunity(customer, info)
                self.opps.append((opp, info))
                self.objects.append(opp)
                changes += len(history)
                # a follow-up on the deal itself, after it was created
                if rng.random() < 0.7:
                    texts = ZH_NOTES if info["lang"] == "zh" else EN_NOTES
                    kind = rng.choice(["call", "email", "meeting", "visit"])
                    last = opp.closed_at or self.now
                    at = _between(rng, opp.created_at, last)
                    self.objects.append(Note(
                        kind=kind, body=rng.choice(texts[kind]).format(contact=opp.contact.name),
                        happened_at=at, created_at=at, updated_at=at, author=opp.owner,
                        customer=customer, contact=opp.contact, opportunity=opp))
                    opp.last_activity_at = max(opp.last_activity_at, at)
                    notes += 1
                if opp.stage.position >= 3 and rng.random() < 0.5 or opp.lost_reason and \
                        opp.lost_reason.key == "competitor":
                    names = ZH_COMPETITORS if info["lang"] == "zh" else EN_COMPETITORS
                    for name in rng.sample(names, rng.randint(1, 2)):
                        opp.competitors.append(Competitor(name=name))
                        competitors += 1
        self.counts.update(opportunities=len(self.opps), stage_changes=changes,
                           competitors=competitors)
        self.counts["notes"] += notes

    def _opportunity(self, customer: Customer, info: dict) -> tuple[Opportunity, list[StageChange]]:
        rng, zh = self.rng, info["lang"] == "zh"
        outcome = rng.choices(["open", "won", "lost"], [60, 22, 18])[0]
        opens = self.open_stages
        if outcome == "open" or not (self.won_stages if outcome == "won" else self.lost_stages):
            outcome = "open"
            reached = rng.choices(range(len(opens)), [6, 5, 5, 4, 3][:len(opens)] + [3] * (len(opens) - 5))[0]
            path = opens[:reached + 1]
        elif outcome == "won":
            path = opens + self.won_stages[:rng.choice([1, 1, 2])]
        else:
            path = opens[:rng.randint(1, len(opens))] + [self.lost_stages[0]]
        if len(path) > 2 and rng.random() < 0.3:  # some deals start beyond the first stage
            path = path[1:]
        created = self._ago(2, 88)
        ended = self._ago(0.02, 1.5) if outcome == "open" else _between(rng, created, self.now)
        times = _increasing(rng, created, ended, len(path))
        if zh:
            amount = Decimal(rng.randint(30, 1500) * 1000)
            title = f"{info['short']} {rng.choice(ZH_DEALS)}"
        else:
            amount = Decimal(rng.randint(10, 600) * 500)
            title = f"{info['short']} — {rng.choice(EN_DEALS)}"
        stage = path[-1]
        owner = info["owner"]
        opp = Opportunity(
            title=title, customer=customer, contact=info["contacts"][0], pipeline=self.pipe, stage=stage,
            amount=amount, currency="CNY" if zh else "USD", owner=owner, created_by=owner,
            source=customer.source, needs=rng.choice(ZH_NEEDS if zh else EN_NEEDS),
            budget=(amount * Decimal(rng.choice(["0.9", "1", "1.1", "1.2"]))).quantize(Decimal("1")),
            status=stage.kind, created_at=times[0], updated_at=times[-1], stage_entered_at=times[-1],
            last_activity_at=times[-1])
        today = self.now.date()
        if stage.kind == "open":
            opp.expected_close = today + timedelta(days=rng.randint(-10, 100))
            if rng.random() < 0.12:
                opp.probability_override = max(5, min(95, stage.probability + rng.choice([-10, 10, 15])))
        else:
            opp.closed_at = times[-1]
            opp.expected_close = times[-1].date() + timedelta(days=rng.randint(-5, 20))
        if stage.kind == "lost":
            opp.lost_reason = rng.choice(self.lost_reasons) if self.lost_reasons else None
            opp.lost_note = rng.choice(ZH_LOST_NOTES if zh else EN_LOST_NOTES)
        history = []
        previous = None
        for step, at in zip(path, times):
            change = StageChange(opportunity=opp, from_stage=previous, to_stage=step, user=owner,
                                 changed_at=at)
            history.append(change)
            previous = step
        self.objects.extend(history)
        return opp, history

    def tasks(self) -> None:
        rng, open_count, done_count = self.rng, 0, 0
        open_opps = [(o, i) for o, i in self.opps if o.status == "open"]
        for opp, info in open_opps:
            zh = info["lang"] == "zh"
            titles = ZH_TASKS if zh else EN_TASKS
            for _ in range(rng.choices([0, 1, 2], [2, 5, 2])[0]):
                title = rng.choice(titles).format(short=info["short"], contact=opp.contact.name)
                when = rng.choices(["overdue", "today", "upcoming", "done"], [3, 2, 5, 4])[0]
                task = Task(title=title[:200], assignee=opp.owner, opportunity=opp, customer=opp.customer,
                            created_by=rng.choice([opp.owner, self.manager or opp.owner]))
                if when == "done":
                    task.due_at = _between(rng, opp.created_at, self.now)
                    task.done, task.done_at = True, _between(rng, opp.created_at, self.now)
                    task.created_at = opp.created_at
                    done_count += 1
                else:
                    task.due_at = self._due(opp.owner, when)
                    task.created_at = min(opp.created_at + timedelta(hours=1), self.now)
                    open_count += 1
                self.objects.append(task)
        # customer-level tasks with no deal: reminders to get back in touch
        for customer, info in rng.sample(self.customer_rows, min(8, len(self.customer_rows))):
            contact = info["contacts"][0]
            title = (f"回访{contact.name}，了解新需求" if info["lang"] == "zh"
                     else f"Check in with {contact.name} about next year's plans")
            task = Task(title=title, assignee=info["owner"], customer=customer, created_by=info["owner"],
                        due_at=self._due(info["owner"], rng.choice(["overdue", "today", "upcoming"])),
                        created_at=self._ago(1, 20))
            self.objects.append(task)
            open_count += 1
        # everyone has something due today
        people = [u for side in self.by_role.values() for u in side] + [self.manager, self.admin]
        for user in {id(u): u for u in people if u is not None}.values():
            customer, info = rng.choice([(c, i) for c, i in self.customer_rows if i["owner"] is user]
                                        or self.customer_rows)
            title = ("整理本周跟进计划" if user.language == "zh_CN" else "Plan this week's follow-ups")
            self.objects.append(Task(title=title, assignee=user, customer=customer, created_by=user,
                                     due_at=self._due(user, "today"), created_at=self._ago(0.5, 3)))
            open_count += 1
        self.counts.update(open_tasks=open_count, done_tasks=done_count)

    def _due(self, user: User, when: str) -> datetime:
        """A due time in the assignee's own day: overdue, later today, or upcoming."""
        zone = _zone(user.timezone)
        local_now = self.now.astimezone(zone)
        if when == "today":
            end_of_day = datetime.combine(local_now.date(), dtime(23, 59), zone)
            moment = local_now + (end_of_day - local_now) / 2
        elif when == "overdue":
            day = local_now.date() - timedelta(days=self.rng.randint(1, 6))
            moment = datetime.combine(day, dtime(self.rng.choice([10, 14, 17]), 0), zone)
        else:
            day = local_now.date() + timedelta(days=self.rng.randint(1, 14))
            moment = datetime.combine(day, dtime(self.rng.choice([9, 10, 15, 16]), 30), zone)
        return moment.astimezone(timezone.utc).replace(second=0, microsecond=0)

    def build(self) -> None:
        self.users()
        self.tags()
        self.pipeline()
        self.customers()
        self.notes()
        self.opportunities()
        self.tasks()
        db.session.add_all(self.objects)

    def summary(self, seconds: float) -> str:
        c = self.counts
        won = sum(1 for o, _i in self.opps if o.status == "won")
        lost = sum(1 for o, _i in self.opps if o.status == "lost")
        lines = [
            f"Demo workspace loaded in {seconds:.1f} s:",
            f"  {c['customers']} customers with {c['contacts']} contacts, tagged in {len(TAG_GROUPS)} groups",
            f"  {c['notes']} follow-up notes over the last 90 days",
            f"  {c['opportunities']} opportunities ({c['opportunities'] - won - lost} open, {won} won, "
            f"{lost} lost) with {c['stage_changes']} stage changes",
            f"  {c['open_tasks']} open tasks (overdue, today, upcoming) and {c['done_tasks']} done",
        ]
        for fix in self.fixes:
            lines.append(f"  data set: {fix}")
        lines += ["", "Log in as:"]
        width = max(len(u.email) for u, _p in self.logins)
        for user, password in self.logins:
            shown = password if password else "(existing user, password unchanged)"
            lines.append(f"  {user.email.ljust(width)}  {shown:<16}  {user.role:<8} {user.name}")
        return "\n".join(lines)


def _zone(name: str):
    try:
        return ZoneInfo(name)
    except Exception:  # an unknown zone name: fall back to UTC rather than fail the demo
        return timezone.utc


def _area_code(city: str) -> str:
    return {"北京": "010", "上海": "021", "天津": "022", "重庆": "023", "广州": "020", "深圳": "0755",
            "杭州": "0571", "南京": "025", "成都": "028", "武汉": "027", "西安": "029", "苏州": "0512",
            "青岛": "0532", "厦门": "0592", "长沙": "0731", "郑州": "0371", "合肥": "0551", "宁波": "0574",
            "大连": "0411", "沈阳": "024", "昆明": "0871", "济南": "0531", "福州": "0591", "东莞": "0769",
            "珠海": "0756", "无锡": "0510"}.get(city, "0")


def _zh_mobile(rng: Random) -> str:
    return f"1{rng.choice([35, 36, 37, 38, 39, 58, 59, 86, 88])}{rng.randint(0, 9999_9999):08d}"


def _between(rng: Random, start: datetime, end: datetime) -> datetime:
    if end <= start:
        return start
    return start + timedelta(seconds=rng.randint(0, int((end - start).total_seconds())))


def _increasing(rng: Random, start: datetime, end: datetime, n: int) -> list[datetime]:
    """n strictly increasing moments from start to end (the first is start)."""
    if n == 1:
        return [start]
    span = max(int((end - start).total_seconds()), n * 60)
    points = sorted(rng.sample(range(60, span + 1), n - 1))
    moments = [start] + [start + timedelta(seconds=p) for p in points]
    return [m.replace(microsecond=0) for m in moments]
