"""`flask --app app crm demo`: a believable bilingual workspace in an empty database.

Half the customers are Chinese companies written for the demo, half are real accounts
from the public Maven CRM data set (../shared/datasets/maven-crm/accounts.csv beside the
repository; a short built-in list when it is absent). Everything is drawn from one
random.Random(seed), so two runs build the same workspace (dates are relative to now).

The package: content.py (people, tags, companies, texts), dataset.py (reading the data set),
builder.py (making the records), loader.py (load_demo, DemoError).
"""
from crm.demo.content import DEMO_PASSWORD, DEMO_USERS
from crm.demo.dataset import ACCOUNTS_CSV, read_accounts
from crm.demo.loader import DEFAULT_SEED, DemoError, load_demo

__all__ = ["ACCOUNTS_CSV", "DEFAULT_SEED", "DEMO_PASSWORD", "DEMO_USERS", "DemoError", "load_demo",
           "read_accounts"]
