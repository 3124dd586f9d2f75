"""A scheduled show as an iCalendar file (RFC 5545), so a viewer's calendar app reminds
them too: CRLF line ends, TEXT escaping, lines folded at 75 octets without splitting a
UTF-8 character, times in UTC, and an RRULE for a repeating show."""

from __future__ import annotations

import time

from server.accounts.shows import Show

DURATION = "PT1H"
RRULES = {"daily": "FREQ=DAILY", "weekly": "FREQ=WEEKLY"}


def escape(text: str) -> str:
    """RFC 5545 3.3.11 TEXT: backslash, semicolon, comma and newlines escaped."""
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def utc(seconds: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(seconds))


def fold(line: str) -> str:
    """Content lines longer than 75 octets continue on lines that start with a space."""
    out: list[str] = []
    current = ""
    limit = 75
    for char in line:
        if len((current + char).encode()) > limit:
            out.append(current)
            current = char
            limit = 74  # the leading space counts
        else:
            current += char
    out.append(current)
    return "\r\n ".join(out)


def show_calendar(show: Show, host_name: str, show_url: str, domain: str,
                  now: float | None = None) -> str:
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Stallcast//Scheduled shows//EN",
        "CALSCALE:GREGORIAN", "METHOD:PUBLISH", "BEGIN:VEVENT",
        f"UID:{show.show_id}@{domain}",
        f"DTSTAMP:{utc(time.time() if now is None else now)}",
        f"DTSTART:{utc(show.starts_at)}", f"DURATION:{DURATION}",
    ]
    if show.repeat in RRULES:
        lines.append(f"RRULE:{RRULES[show.repeat]}")
    summary = f"{show.title} ({host_name})" if host_name else show.title
    lines += [f"SUMMARY:{escape(summary)}",
              f"DESCRIPTION:{escape(f'Live on Stallcast: {show_url}')}",
              f"URL:{show_url}", "END:VEVENT", "END:VCALENDAR"]
    return "".join(fold(line) + "\r\n" for line in lines)
