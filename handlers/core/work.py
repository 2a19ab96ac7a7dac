"""What every use case works with: the outside world (`Services`), one unit of work (`Work`), and
who acts, as the door they came through knows them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.metrics import Metrics
from handlers.core.tracking_codes import TrackingCodes
from kernel.org_config import OrgConfig
from kernel.org_files import Organisations
from kernel.triage import Suggests, Triage
from storage.crypto import Vault
from storage.db import Database
from storage.files import FileStore
from storage.organisations import Directory


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    """What the conversations need from the outside world."""

    db: Database
    orgs: Organisations
    directory: Directory
    vault: Vault
    clock: Callable[[], datetime] = utcnow
    # called after a commit that queued messages, so the dispatcher sends them at once
    on_queued: Callable[[], None] = lambda: None
    metrics: Metrics = field(default_factory=Metrics)
    codes: TrackingCodes = field(default_factory=TrackingCodes)
    # where `damrongtham serve` is reached (DAMRONGTHAM_PUBLIC_URL), for links to the web desk
    public_url: str = "http://127.0.0.1:8080"
    # the evidence files we hold (encrypted); None where a tool never reads or erases any
    files: FileStore | None = None
    # where the organisation files were read from (DAMRONGTHAM_CONFIG; "" for the shipped one)
    config_path: str = ""
    # each organisation's suggestion rules, compiled on first use (cutting its Thai words takes a while)
    triages: dict[str, Suggests] = field(default_factory=dict)

    def triage(self, org: OrgConfig) -> Suggests:
        rules = self.triages.get(org.code)
        if rules is None:
            rules = self.triages[org.code] = Triage(org)
        return rules

    def desk_login_url(self, token: str) -> str:
        return f"{self.public_url.rstrip('/')}/desk/login/{token}"

    def org_of(self, org_id: int) -> OrgConfig:
        """The configuration of the organisation with this database id."""
        return self.orgs[self.directory.org_code(org_id)]


@dataclass(frozen=True)
class Work:
    """One unit of work for a use case: the session whose transaction its door commits (a rolled
    back or uncommitted one leaves nothing), the outside world, and the time it happens at."""

    session: AsyncSession
    services: Services
    now: datetime


@dataclass(frozen=True)
class StaffAccount:
    """A staff member as their door knows them: an account on a channel (Telegram, LINE, the desk)."""

    channel: str
    user_id: str


@dataclass(frozen=True)
class ReporterAccount:
    """The account a reporter writes from, as their door knows it."""

    channel: str
    user_id: str
