"""The Maven CRM data set (../shared/datasets/maven-crm/, SOURCE.md) imported through the
import's own code path: each file is cleaned of its known dirt into a CSV under
instance/imports/, then imported as the UI imports (an ImportBatch with a mapping, run as an
"import" job by crm.jobs.runner.run_job, a chunk at a time).

- sales_teams.csv → users: the agents (salespeople) and their managers (role manager). The
  user model has no "manager of" link yet: the pairs are reported, not stored.
- products.csv → no product model exists yet: each deal keeps its product's name in the
  opportunity custom field `product` (created when missing) and in its title; the catalogue's
  list price is the amount of an open deal. `GTXPro` in the pipeline is `GTX Pro`.
- accounts.csv → customers (the misspelt sector `technolgy` read as technology, the location
  `Philipines` as Philippines; revenue, year and parent company in the description; the
  employee count as a size band).
- sales_pipeline.csv → opportunities in the pipeline "Maven" with its own stages
  Prospecting, Engaging, Won, Lost; engage and close dates become the stage history; the
  close value is the won amount. A deal without an account goes to the customer
  "Maven: no account" (1,425 open deals in the data set), reported.

Run twice, it creates nothing twice (external ids: the account name, the opportunity_id)."""
import csv
import secrets
import time
from collections import Counter
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from crm.demo.dataset import COUNTRY_FIXES, SECTOR_FIXES
from crm.extensions import db
from crm.fields.queries import forget_definitions
from crm.fields.services import save_field
from crm.imports import run, services
from crm.imports.readers import Layout
from crm.jobs.runner import run_job
from crm.jobs.services import create_job
from crm.models import CustomField, ImportBatch, Job, Pipeline, Stage, User
from crm.pipelines.services import ensure_defaults

PIPELINE = "Maven"
STAGES = (("Prospecting", "open", 10, "#94a3b8"), ("Engaging", "open", 40, "#3b82f6"),
          ("Won", "won", 100, "#16a34a"), ("Lost", "lost", 0, "#dc2626"))
PRODUCT_FIXES = {"GTXPro": "GTX Pro"}
NO_ACCOUNT = "Maven: no account"
EMAIL_DOMAIN = "maven.example"


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def _size(employees: str) -> str:
    try:
        count = int(employees)
    except (TypeError, ValueError):
        return ""
    for limit, band in ((10, "1-10"), (50, "11-50"), (200, "51-200"), (1000, "201-1000")):
        if count <= limit:
            return band
    return "1000+"


def _email(name: str) -> str:
    return ".".join(name.lower().split()) + "@" + EMAIL_DOMAIN


def _users(teams: list[dict], report: list[str]) -> None:
    """The agents and managers as users, without a password (none logs in until an admin
    sets one)."""
    existing = {name.lower() for name in db.session.execute(select(User.name)).scalars()}
    managers = sorted({row["manager"].strip() for row in teams if row.get("manager")})
    agents = sorted({row["sales_agent"].strip() for row in teams if row.get("sales_agent")})
    made = 0
    for name, role in [(m, "manager") for m in managers] + [(a, "sales") for a in agents if a not in managers]:
        if name.lower() in existing:
            continue
        user = User(email=_email(name), name=name, role=role, language="en",
                    timezone="America/New_York")
        user.password_hash = "!"  # no password logs in (werkzeug refuses the hash): an admin sets one
        db.session.add(user)
        existing.add(name.lower())
        made += 1
    db.session.flush()
    pairs = Counter(row["manager"].strip() for row in teams)
    report.append(f"sales_teams: {len(agents)} agents, {len(managers)} managers; {made} users created "
                  f"(no manager link in the user model yet: " +
                  ", ".join(f"{m} manages {n}" for m, n in sorted(pairs.items())) + ")")


def _pipeline() -> Pipeline:
    pipeline = db.session.execute(select(Pipeline).where(Pipeline.name == PIPELINE)).scalar_one_or_none()
    if pipeline is None:
        position = len(db.session.execute(select(Pipeline.id)).all())
        pipeline = Pipeline(name=PIPELINE, position=position)
        for index, (name, kind, probability, colour) in enumerate(STAGES):
            pipeline.stages.append(Stage(name=name, kind=kind, probability=probability,
                                         color=colour, position=index))
        db.session.add(pipeline)
        db.session.flush()
    return pipeline


def _product_field() -> None:
    found = db.session.execute(select(CustomField.id).where(
        CustomField.record_type == "opportunity", CustomField.key == "product")).first()
    if found is None:
        save_field("opportunity", None, {"key": "product", "label_zh": "产品", "label_en": "Product",
                                         "type": "text", "show_in_list": True, "filterable": True})
        forget_definitions()


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _import(path: Path, name: str, kind: str, user, mapping_by_name: dict, on_match="update") -> dict:
    """One file through the import: a batch, its mapping, a job run by the job runner."""
    layout = Layout("csv", encoding="utf-8", delimiter=",")
    header = services.read_header(path, layout)
    directory = Path(current_app.instance_path)
    imp = ImportBatch(user_id=getattr(user, "id", None), kind=kind, filename=name,
                      path=str(path.relative_to(directory)), fmt="csv", size=path.stat().st_size,
                      encoding="utf-8", detected_encoding="utf-8", delimiter=",", header=header,
                      header_hash=services.header_hash(header), batch=services.new_batch(),
                      status="draft")
    db.session.add(imp)
    db.session.flush()
    mapping = {str(header.index(column)): key for column, key in mapping_by_name.items()}
    services.save_mapping(imp, mapping, on_match=on_match, mode="valid")
    run.prepare_run(imp, user, None)
    job = create_job("import", user, params={"import_id": imp.id, "kind": kind})
    imp.job_id = job.id
    db.session.commit()
    job_id, imp_id = job.id, imp.id
    run_job(current_app._get_current_object(), run.run_import, job_id)
    db.session.expire_all()  # the job ran in an application context (a session) of its own
    job = db.session.get(Job, job_id)
    if job.status != "done":
        raise RuntimeError(f"{name}: {job.error}")
    return db.session.get(ImportBatch, imp_id).counts


def import_maven(directory, user=None) -> list[str]:
    """Import the data set in `directory`; the lines of its report."""
    started = time.perf_counter()
    source = Path(directory)
    report: list[str] = []
    ensure_defaults()
    if user is None:
        user = db.session.execute(select(User).where(User.role == "admin", User.active.is_(True))
                                  .order_by(User.id)).scalars().first()
    teams = _rows(source / "sales_teams.csv")
    _users(teams, report)
    pipeline = _pipeline()
    _product_field()
    db.session.commit()

    work = Path(current_app.instance_path) / services.IMPORTS_DIR
    work.mkdir(parents=True, exist_ok=True)
    stamp = secrets.token_hex(4)

    # Products: the catalogue, kept on the deals (no product model yet).
    prices = {row["product"].strip(): row["sales_price"].strip() for row in _rows(source / "products.csv")}
    report.append(f"products: {len(prices)} in the catalogue, kept as the opportunity field "
                  f"'product' (no product model yet); an open deal's amount is its list price")

    # Accounts.
    fixes = Counter()
    account_rows = []
    for row in _rows(source / "accounts.csv"):
        sector = (row.get("sector") or "").strip()
        if sector in SECTOR_FIXES:
            fixes[f"sector {sector!r} read as {SECTOR_FIXES[sector]!r}"] += 1
            sector = SECTOR_FIXES[sector]
        country = (row.get("office_location") or "").strip()
        if country in COUNTRY_FIXES:
            fixes[f"location {country!r} read as {COUNTRY_FIXES[country]!r}"] += 1
            country = COUNTRY_FIXES[country]
        parts = [f"Revenue (M USD): {row['revenue']}" if row.get("revenue") else "",
                 f"Established: {row['year_established']}" if row.get("year_established") else "",
                 f"Subsidiary of: {row['subsidiary_of']}" if row.get("subsidiary_of") else ""]
        account_rows.append([row["account"].strip(), row["account"].strip(), sector, country,
                             _size(row.get("employees")), "; ".join(p for p in parts if p),
                             "Maven"])
    account_rows.append([NO_ACCOUNT, NO_ACCOUNT, "", "", "", "Deals of the Maven data set "
                         "that name no account", "Maven"])
    accounts_csv = work / f"maven-{stamp}-accounts.csv"
    _write_csv(accounts_csv, ["account_id", "account", "sector", "office_location", "size",
                              "description", "source"], account_rows)
    counts = _import(accounts_csv, "maven accounts.csv", "customers", user, {
        "account_id": "external_id", "account": "name", "sector": "industry",
        "office_location": "region", "size": "size", "description": "description",
        "source": "source"})
    report.append(f"accounts: {len(account_rows) - 1} read (+1 '{NO_ACCOUNT}'): {_counts(counts)}")
    report += [f"  fixed: {fix} ({n} rows)" for fix, n in fixes.items()]

    # The pipeline.
    deals, fixes = [], Counter()
    no_account = 0
    for row in _rows(source / "sales_pipeline.csv"):
        product = row["product"].strip()
        if product in PRODUCT_FIXES:
            fixes[f"product {product!r} read as {PRODUCT_FIXES[product]!r}"] += 1
            product = PRODUCT_FIXES[product]
        account = row["account"].strip()
        if not account:
            no_account += 1
            account = NO_ACCOUNT
        stage = row["deal_stage"].strip()
        value = row["close_value"].strip()
        amount = value if stage in ("Won", "Lost") and value else prices.get(product, "0")
        deals.append([row["opportunity_id"].strip(), f"{product} · {account}", account,
                      PIPELINE, stage, row["sales_agent"].strip(), amount, "USD",
                      row["engage_date"].strip(), row["close_date"].strip(), product])
    deals_csv = work / f"maven-{stamp}-sales_pipeline.csv"
    _write_csv(deals_csv, ["opportunity_id", "title", "account_id", "pipeline", "deal_stage",
                           "sales_agent", "amount", "currency", "engage_date", "close_date",
                           "product"], deals)
    counts = _import(deals_csv, "maven sales_pipeline.csv", "opportunities", user, {
        "opportunity_id": "external_id", "title": "title", "account_id": "customer_external_id",
        "pipeline": "pipeline", "deal_stage": "stage", "sales_agent": "owner", "amount": "amount",
        "currency": "currency", "engage_date": "opened_on", "close_date": "closed_on",
        "product": "cf_product"})
    report.append(f"sales_pipeline: {len(deals)} deals in the pipeline {pipeline.name!r}: {_counts(counts)}")
    report += [f"  fixed: {fix} ({n} rows)" for fix, n in fixes.items()]
    report.append(f"  {no_account} deals without an account went to the customer {NO_ACCOUNT!r}")
    report.append("  open deals have no close date or value: amount = the product's list price")
    report.append(f"done in {time.perf_counter() - started:.1f} s")
    return report


def _counts(counts: dict | None) -> str:
    counts = counts or {}
    return ", ".join(f"{key} {counts.get(key, 0)}" for key in run.COUNT_KEYS)
