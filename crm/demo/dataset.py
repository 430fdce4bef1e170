"""The public Maven CRM data set (../shared/datasets/maven-crm/accounts.csv beside the
repository), read and cleaned of its known dirt; a short built-in list when it is absent."""
import csv
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from crm.validators import int_or_none

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS_CSV = REPO_ROOT.parent / "shared" / "datasets" / "maven-crm" / "accounts.csv"

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
        accounts.append(Account(name=name, sector=sector, year=int_or_none(year),
                                revenue=_decimal(revenue), employees=int_or_none(employees),
                                country=country, parent=(parent or "").strip() or None))
    return accounts, sorted(set(fixes), key=fixes.index)


def _decimal(value):
    try:
        return Decimal(str(value).strip())
    except (TypeError, ValueError, ArithmeticError):
        return None
