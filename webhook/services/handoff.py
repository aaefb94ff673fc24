"""Whether someone is there to take over: business hours plus the agents who are online."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from webhook.domain.business_hours import BusinessHours
from webhook.store import agents as agents_repo


@dataclass(frozen=True)
class Desk:
    """Business hours plus the agents who are online."""

    hours: BusinessHours
    online_window_s: float = 90.0

    async def staffed(self, session: AsyncSession, moment: datetime | None = None) -> bool:
        if not self.hours.is_open(moment or datetime.now(UTC)):
            return False
        return await agents_repo.agents_online(session, self.online_window_s) > 0
