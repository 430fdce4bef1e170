"""`flask --app app crm demo`'s entry: load_demo fills an empty database, or refuses
(DemoError)."""
import time
from datetime import datetime
from pathlib import Path
from random import Random

from sqlalchemy import select

from crm.audit.services import paused
from crm.demo.builder import Builder
from crm.demo.dataset import ACCOUNTS_CSV
from crm.extensions import db
from crm.models import Customer, Opportunity, utcnow
from crm.pipelines.services import ensure_defaults
from crm.leads.services import ensure_defaults as ensure_lead_defaults
from crm.rules import RuleError

DEFAULT_SEED = 20240601


class DemoError(RuleError):
    """The demo cannot be loaded: it only fills an empty database."""


def load_demo(seed: int = DEFAULT_SEED, accounts_csv: Path | None = None,
              now: datetime | None = None, *, verbose: bool = True) -> str:
    """Fill an empty database with the demo workspace; return a summary to print: one line
    (what was loaded, how to log in), or with `verbose` every count, every login and how
    the data set was read.

    Refuses (DemoError) when customers or opportunities exist. Users who already exist
    are kept and given customers too; the demo users are added beside them."""
    started = time.perf_counter()
    has_customers = db.session.execute(select(Customer.id).limit(1)).first() is not None
    has_opportunities = db.session.execute(select(Opportunity.id).limit(1)).first() is not None
    if has_customers or has_opportunities:
        raise DemoError("The database already holds customers or opportunities: the demo only fills "
                        "an empty database. Point DATABASE_URL at a new database and run it again.")
    ensure_defaults()
    ensure_lead_defaults()
    builder = Builder(Random(seed), now or utcnow(), accounts_csv or ACCOUNTS_CSV)
    with paused():  # made-up records have no history: no audit entries for them
        builder.build()
        db.session.commit()
    if not verbose:
        return builder.short_summary()
    return builder.summary(time.perf_counter() - started)
