"""Events as an iCalendar file (RFC 5545), written by the icalendar package.

One VEVENT per event. Its UID, event-<id>@<calendar domain> (the domain comes
from the database, event.calendar_domain), never changes, so a calendar that
imports a newer export updates the events it has instead of adding copies;
SEQUENCE and LAST-MODIFIED (the row's updated_at) tell it which copy is newer.
Times are in UTC. icalendar is imported only here, when a file is written.
"""

from __future__ import annotations

from datetime import UTC, datetime

PRODID = "-//Epic Events//Epic Events CRM//EN"


def uid(event_id: int, domain: str) -> str:
    return f"event-{event_id}@{domain}"


def description(row: dict) -> str:
    """What support needs at hand: how to reach the client, the numbers, the notes."""
    lines = [f"Client: {row['client_name']}"]
    if row.get("client_email"):
        lines.append(f"Email: {row['client_email']}")
    if row.get("client_phone"):
        lines.append(f"Phone: {row['client_phone']}")
    lines.append(f"Attendees: {row['attendees']}")
    lines.append(f"Support: {row.get('support_contact_name') or 'none yet'}")
    if row.get("notes"):
        lines.append(f"Notes: {row['notes']}")
    return "\n".join(lines)


def calendar(rows: list[dict], domain: str, name: str = "Epic Events", now: datetime | None = None) -> bytes:
    """The iCalendar file of `rows` (event.list_events / event.agenda rows)."""
    from icalendar import Calendar, Event

    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    for row in rows:
        ev = Event()
        ev.add("uid", uid(row["id"], domain))
        ev.add("dtstamp", stamp)
        ev.add("dtstart", _utc(row["starts_at"]))
        ev.add("dtend", _utc(row["ends_at"]))
        ev.add("summary", f"{row['name']} · {row['client_name']}")
        ev.add("location", row["location"])
        ev.add("description", description(row))
        ev.add("created", _utc(row["created_at"]))
        ev.add("last-modified", _utc(row["updated_at"]))
        # Seconds from creation to the last change: grows with every update,
        # as RFC 5545 asks of a revised event.
        ev.add("sequence", max(0, int((row["updated_at"] - row["created_at"]).total_seconds())))
        cal.add_component(ev)
    return cal.to_ical()


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
