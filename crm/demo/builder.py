"""Building the demo's records: users, tags, customers with contacts, notes, opportunities
with their stage history and competitors, tasks; all drawn from one random.Random, so that a
seed gives the same workspace (dates relative to `now`)."""
import re
from datetime import datetime, time as dtime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from random import Random
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from crm.demo.content import (
    CHINESE_COMPANIES,
    CHINESE_INDIVIDUALS,
    DEMO_PASSWORD,
    DEMO_USERS,
    EN_COMPETITORS,
    EN_DEALS,
    EN_FIRST,
    EN_LAST,
    EN_LOST_NOTES,
    EN_NEEDS,
    EN_NOTES,
    EN_SOURCES,
    EN_TASKS,
    EN_TITLES,
    GIVEN,
    SECTOR_TAGS,
    SURNAMES,
    TAG_GROUPS,
    ZH_COMPETITORS,
    ZH_DEALS,
    ZH_LOST_NOTES,
    ZH_NEEDS,
    ZH_NOTES,
    ZH_TASKS,
    ZH_TITLES,
)
from crm.demo.dataset import read_accounts
from crm.extensions import db
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
)
from crm.search import pinyin_keys


class Builder:
    """Makes the demo's objects (added to the session by build(), not committed)."""

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

    def short_summary(self) -> str:
        """One line for the user: what was loaded and how to log in (every demo user has the
        same password; one who existed before keeps theirs)."""
        c = self.counts
        passwords = {password for _user, password in self.logins if password}
        people = ", ".join(
            f"{user.email} ({user.role}" + ("" if password else "; existing user, password unchanged")
            + ")" for user, password in self.logins)
        login = f"Log in as {people}"
        if passwords:
            login += f" with the password {sorted(passwords)[0]}"
        return (f"Demo loaded: {c['customers']} customers, {c['opportunities']} opportunities, "
                f"{c['notes']} notes, {c['open_tasks'] + c['done_tasks']} tasks. {login}.")

    def summary(self, seconds: float) -> str:
        """Everything: counts, how the data set was read, and every login."""
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


def _size(employees: int | None) -> str | None:
    if employees is None:
        return None
    for limit, label in ((10, "1-10"), (50, "11-50"), (200, "51-200"), (1000, "201-1000")):
        if employees <= limit:
            return label
    return "1000+"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", name.lower()) or "company"
