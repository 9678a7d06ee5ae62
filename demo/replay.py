"""Replay recorded conversations through the handoff API.

STAR dialogues (``../shared/data/star``) are mapped to handoff packages by pure functions; plain
JSONL files of packages are read as they are; :func:`replay` posts them to a running desk over
HTTP and counts the answers. Nothing here touches the database.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx

from cases.package import MAX_FACTS, MAX_MESSAGE_CHARS, MAX_MESSAGES, MAX_STEPS

HANDOFF_PATH = "/api/v1/handoffs"
CHANNEL = "web_chat"
REDACTED = "[redacted]"
FAILED_TOTALS = frozenset({0, -1})  # STAR: -1 means the lookup returned nothing at all
MAX_FACT_CHARS = 500
MAX_DETAIL_CHARS = 2000
ISO_SECONDS = "%Y-%m-%dT%H:%M:%SZ"  # the transcript times replays send: UTC, whole seconds
MAX_LISTED = 10  # rejections / errors listed one by one in a report
# The API refuses bodies over 1 MiB (settings.HANDOFF_MAX_BODY_BYTES); keep clear of it.
MAX_BODY_BYTES = 1_000_000

# Constraint keys that carry the customer's own name, in order of preference. A party host is
# the customer only when nobody is RSVPing as a guest.
CUSTOMER_NAME_KEYS = (
    "FullName",
    "CustomerName",
    "PatientName",
    "RenterName",
    "GuestName",
    "UserName",
    "HostName",
)
# Form bookkeeping of the wizard, not something the customer told us.
META_KEYS = frozenset({"RequestType", "QuestionNum"})
# Answers found in nearly every customer's words: seeing them there proves nothing.
UNVERIFIABLE = frozenset({"yes", "no", "true", "false", "none", "null"})
# Credentials and authentication answers: never facts, and blanked wherever they appear.
SECRET_TOKENS = frozenset({"pin", "password", "passcode", "passwd", "secret", "security", "cvv"})
SECRET_KEYS = frozenset({"code", "date_of_birth"})
# What "Name" / "id" refer to in each STAR domain.
DOMAIN_NOUNS = {"plane": "flight", "party": "venue"}

PIN_SAID = re.compile(r"(?i)\b(?:pin|passcode)\b(\D{0,15}?)(\d{3,8})\b")
AMOUNT = re.compile(
    r"(?i)(?:\$\s?\d[\d,]*(?:\.\d{1,2})?"
    r"|\b\d[\d,]*(?:\.\d{1,2})?\s?(?:\$|dollars?\b|bucks\b|usd\b|euros?\b))"
)
HUMAN_REQUEST = re.compile(
    r"(?i)\b(?:"
    r"(?:speak|talk|chat)\s+(?:to|with)\s+(?:a\s+|an\s+|your\s+|the\s+)?(?:real\s+|live\s+)?"
    r"(?:human|person|manager|supervisor|agent|representative|someone)"
    r"|(?:real|live|actual)\s+(?:person|human|agent)"
    r"|(?:want|need|get\s+me|give\s+me|calling|call|who'?s|who\s+is)\s+(?:to\s+)?"
    r"(?:a|an|your|you|the)\s+(?:manager|supervisor|human|representative)"
    r"|representative"
    r")\b"
)
LITERAL = re.compile(r'^"(?P<text>.*)"$|^(?P<number>-?\d+(?:\.\d+)?)$', re.DOTALL)
EQUAL_TO = re.compile(r"^api\.is_equal_to\((?P<arg>.+)\)$", re.DOTALL)

# STAR's tasks a customer-support desk would get, as the support intents of the demo's catalogue
# (seed_demo's INTENTS): the routing rules then spread them over the queues. The other tasks
# (trivia, weather, party planning, directions, restaurant and apartment searches, the spaceship
# role-play) are not support conversations: the demo leaves them out (``support_dialogues``).
SUPPORT_INTENTS = {
    "bank_fraud_report": "security.fraud_report",
    "bank_balance": "billing.balance",
    "ride_status": "orders.ride_status",
    "ride_change": "orders.change_booking",
    "ride_book": "orders.new_booking",
    "hotel_book": "orders.new_booking",
    "plane_book": "orders.new_booking",
    "hotel_service_request": "technical.service_request",
}


# --- STAR → handoff package -------------------------------------------------------------------


def star_to_package(dialogue: dict[str, Any]) -> dict[str, Any]:
    """Map one STAR dialogue to a handoff package that validates as ``HandoffPackage``."""
    if dialogue.get("id") is None:
        raise ValueError("a STAR dialogue needs an id")
    events = [event for event in dialogue.get("events") or [] if isinstance(event, dict)]
    tasks = [str(t) for t in dialogue.get("tasks") or [] if t]
    # Some trivia dialogues name their domain "None": fall back on the tasks' prefixes.
    domains = [str(d) for d in dialogue.get("domains") or [] if d and d != "None"] or list(
        dict.fromkeys(task.split("_", 1)[0] for task in tasks)
    )
    constraints = _all_constraints(events)
    secrets = _secret_values(constraints)
    said = _normalise(" ".join(_text(e) for e in events if e.get("role") == "customer"))

    transcript = _transcript(events, secrets)
    steps = _attempted_steps(events, domains, secrets)
    failed = sum(step["outcome"] == "failed" for step in steps)
    package: dict[str, Any] = {
        "external_id": f"star-{dialogue['id']}"[:200],
        "channel": CHANNEL,
        "transcript": transcript[-MAX_MESSAGES:],
        "attempted_steps": steps[-MAX_STEPS:],
        "facts": _facts(events, said, domains, secrets),
        "summary": _summary(dialogue, tasks, domains, failed),
    }
    customer = _customer(dialogue["id"], constraints, said, secrets)
    if customer:
        package["customer"] = customer
    if tasks:
        # STAR records the task the customer was given, not a classifier's guess: no confidence.
        package["intent"] = {"name": SUPPORT_INTENTS.get(tasks[0], tasks[0])[:100]}
    # The trigger comes from the conversation alone. STAR's ``user_annoyed`` and ``happy`` were
    # answered after the dialogue: the labels an escalation model is judged against, never
    # something a bot knows when it hands over (frustration is the desk's detectors' to find).
    trigger = _trigger(failed, transcript)
    if trigger:
        package["trigger"] = trigger
    return _fit_body(package)


def star_task(dialogue: dict[str, Any]) -> str:
    tasks = dialogue.get("tasks") or []
    return str(tasks[0]) if tasks and tasks[0] else ""


def support_dialogues(dialogues: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The dialogues a support desk would get (``SUPPORT_INTENTS``) with a conversation to read:
    at least two customer messages."""
    for dialogue in dialogues:
        events = [e for e in dialogue.get("events") or [] if isinstance(e, dict)]
        said = [e for e in events if e.get("role") == "customer" and _text(e)]
        if star_task(dialogue) in SUPPORT_INTENTS and len(said) >= 2:
            yield dialogue


def _fit_body(package: dict[str, Any]) -> dict[str, Any]:
    """Drop the oldest messages until the package fits in one API request body."""
    transcript = package["transcript"]
    sizes = [len(json.dumps(m, ensure_ascii=False).encode()) + 2 for m in transcript]
    rest = len(json.dumps({**package, "transcript": []}, ensure_ascii=False).encode())
    total, keep_from = rest + sum(sizes), 0
    while total > MAX_BODY_BYTES and keep_from < len(transcript):
        total -= sizes[keep_from]
        keep_from += 1
    package["transcript"] = transcript[keep_from:]
    return package


def _text(event: dict[str, Any]) -> str:
    text = event.get("text")
    return text.strip()[:MAX_MESSAGE_CHARS].strip() if isinstance(text, str) else ""


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())


def _iso(timestamp: Any) -> str | None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        return None
    try:
        return datetime.fromtimestamp(timestamp, tz=UTC).strftime(ISO_SECONDS)
    except (OverflowError, OSError, ValueError):
        return None


def _snake(key: str) -> str:
    key = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key.strip())
    return re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")


def _is_secret(key: str) -> bool:
    snake = _snake(key)
    return snake in SECRET_KEYS or bool(SECRET_TOKENS & set(snake.split("_")))


def _literal(raw: Any) -> str | None:
    """The single value a constraint pins down (``"Ben"``, ``661``, ``api.is_equal_to("X")``)."""
    if raw is None or isinstance(raw, bool):
        return None
    value = str(raw).strip()
    equal = EQUAL_TO.match(value)
    if equal:
        value = equal.group("arg").strip()
    match = LITERAL.match(value)
    if match is None:
        return None  # null, True/False, ranges, one-of lists: search filters, not facts
    found = match.group("text") if match.group("text") is not None else match.group("number")
    found = found.strip()
    return found or None


def _constraints(query: dict[str, Any]) -> list[tuple[str, Any]]:
    constraints = query.get("constraints") or []
    return [
        (str(key), value)
        for constraint in constraints
        if isinstance(constraint, dict)
        for key, value in constraint.items()
    ]


def _all_constraints(events: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [pair for e in events if e.get("role") == "query" for pair in _constraints(e)]


def _secret_values(constraints: list[tuple[str, Any]]) -> list[str]:
    values = {
        value
        for key, raw in constraints
        if _is_secret(key) and (value := _literal(raw)) and len(value) >= 3
    }
    return sorted(values, key=len, reverse=True)


def _redact(text: str, secrets: list[str]) -> str:
    for value in secrets:
        text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", REDACTED, text, flags=re.IGNORECASE)
    return PIN_SAID.sub(lambda m: f"{m.group(0)[: m.start(2) - m.start(0)]}{REDACTED}", text)


def _transcript(events: list[dict[str, Any]], secrets: list[str]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        role = event.get("role")
        text = _text(event)
        if role not in ("customer", "bot") or not text:
            continue
        message: dict[str, Any] = {
            "id": f"e{index}",
            "role": role,
            "text": _redact(text, secrets)[:MAX_MESSAGE_CHARS].strip() or REDACTED,
        }
        at = _iso(event.get("t"))
        if at:
            message["at"] = at
        messages.append(message)
    return messages


def _said_by_customer(value: str, said: str) -> bool:
    """Whether the customer's words hold the value as whole words (``Ben``, not ``Benny``)."""
    needle = _normalise(value)
    start = said.find(needle) if needle else -1
    while start >= 0:
        end = start + len(needle)
        if not (start and _wordy(said[start - 1])) and not (end < len(said) and _wordy(said[end])):
            return True
        start = said.find(needle, start + 1)
    return False


def _wordy(char: str) -> bool:
    return char.isalnum() or char == "_"


def _fact_key(key: str, domain: str | None) -> str:
    snake = _snake(key)
    if snake in ("name", "id"):
        noun = DOMAIN_NOUNS.get(domain or "", domain or "item")
        return f"{noun}_{snake}"
    return snake[:100]


def _facts(
    events: list[dict[str, Any]], said: str, domains: list[str], secrets: list[str]
) -> dict[str, str]:
    """Values the customer said that a lookup used: names, ids, account numbers, dates."""
    facts: dict[str, str] = {}
    for index, event in enumerate(events):
        if event.get("role") != "query":
            continue
        domain = _query_domain(events, index, domains)
        for key, raw in _constraints(event):
            if key in META_KEYS or _is_secret(key):
                continue
            value = _literal(raw)
            if (
                value is None
                or value.casefold() in UNVERIFIABLE
                or not _said_by_customer(value, said)
                or _redact(value, secrets) != value  # a PIN typed into the wrong field
            ):
                continue
            name = _fact_key(key, domain)
            if name and (name in facts or len(facts) < MAX_FACTS - 1):
                facts[name] = value[:MAX_FACT_CHARS]  # a later lookup has the corrected value
    amounts: list[str] = []
    for event in events:
        if event.get("role") == "customer":
            amounts.extend(m.group(0).strip() for m in AMOUNT.finditer(_text(event)))
    if amounts:
        facts["amounts_mentioned"] = "; ".join(dict.fromkeys(amounts))[:MAX_FACT_CHARS]
    return facts


def _customer(
    dialogue_id: Any, constraints: list[tuple[str, Any]], said: str, secrets: list[str]
) -> dict[str, Any]:
    keys = {key for key, _ in constraints}
    for wanted in CUSTOMER_NAME_KEYS:
        if wanted == "HostName" and "GuestName" in keys:
            continue
        for key, raw in constraints:
            name = _literal(raw) if key == wanted else None
            if name and _said_by_customer(name, said) and _redact(name, secrets) == name:
                slug = re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")[:60]
                # Scoped to the dialogue: two STAR customers called "Ben" are not one person.
                customer: dict[str, Any] = {"name": name[:200], "language": "en"}
                if slug:
                    customer["id"] = f"star-{dialogue_id}-{slug}"[:200]
                return customer
    return {}


def _query_domain(events: list[dict[str, Any]], index: int, domains: list[str]) -> str | None:
    """The domain of a lookup: the only one, or the prefix of the nearest bot action label."""
    if len(domains) == 1:
        return domains[0]
    following = events[index + 1 :]
    preceding = events[index - 1 :: -1] if index else []
    for event in [*following, *preceding]:
        label = event.get("label")
        if event.get("role") == "bot" and isinstance(label, str):
            prefix = label.split("_", 1)[0]
            if prefix in domains:
                return prefix
    return None


def _describe(constraints: list[tuple[str, Any]]) -> str:
    parts = [f"{key}={REDACTED if _is_secret(key) else raw}" for key, raw in constraints]
    return "; ".join(dict.fromkeys(parts)) or "no constraints"


def _attempted_steps(
    events: list[dict[str, Any]], domains: list[str], secrets: list[str]
) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        if event.get("role") != "query":
            continue
        constraints = _constraints(event)
        result = None
        for later in events[index + 1 :]:
            if later.get("role") == "query":
                break
            if later.get("role") == "query_result":
                result = later
                break
        total = result.get("total") if result else None
        if not isinstance(total, int) or isinstance(total, bool):
            outcome, found = "unknown", "no result recorded"
        elif total in FAILED_TOTALS:
            outcome, found = "failed", f"total {total}: no result"
        else:
            outcome, found = "succeeded", f"total {total}"
        request = next((_literal(raw) for key, raw in constraints if key == "RequestType"), None)
        domain = _query_domain(events, index, domains)
        verb = _snake(request or "") or "lookup"
        step: dict[str, Any] = {
            "name": (f"{domain}_{verb}" if domain else verb)[:200],
            "outcome": outcome,
            "detail": _redact(f"{_describe(constraints)} → {found}", secrets)[:MAX_DETAIL_CHARS],
        }
        at = _iso(event.get("t"))
        if at:
            step["at"] = at
        steps.append(step)
    return steps


def _trigger(failed: int, transcript: list[dict[str, Any]]) -> dict[str, str] | None:
    if failed >= 2:
        return {"reason": "repeated_failure", "detail": f"{failed} lookups returned no result"}
    for message in reversed(transcript):
        if message["role"] == "customer" and HUMAN_REQUEST.search(message["text"]):
            return {
                "reason": "customer_request",
                "detail": f"customer asked for a person (message {message['id']})",
            }
    return None  # the desk derives one


def _summary(dialogue: dict[str, Any], tasks: list[str], domains: list[str], failed: int) -> str:
    task = tasks[0] if tasks else "unclassified"
    prefix = task.split("_", 1)[0]
    domain = prefix if prefix in domains else (domains[0] if domains else "unknown")
    parts = [f"{task} conversation in the {domain} domain", f"{failed} failed lookups"]
    if len(tasks) > 1:
        parts.append("also " + ", ".join(tasks[1:]))
    completion = dialogue.get("completion")
    if isinstance(completion, str) and completion and completion != "Complete":
        parts.append(f"ended early ({completion})")
    return "; ".join(parts)[:1000]


# --- reading sources --------------------------------------------------------------------------


def _open_text(path: str | Path) -> IO[str]:
    path = Path(path)
    with path.open("rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    if gzipped:
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _json_lines(path: str | Path, limit: int | None) -> Iterator[dict[str, Any]]:
    if limit is not None and limit <= 0:
        return
    count = 0
    with _open_text(path) as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            if not isinstance(item, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object")
            yield item
            count += 1
            if limit is not None and count >= limit:
                return


def read_star(path: str | Path, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """STAR dialogues, one JSON object a line, gzipped or plain."""
    return _json_lines(path, limit)


def read_packages(path: str | Path, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Handoff packages, one JSON object a line."""
    return _json_lines(path, limit)


def read_source(path: str | Path, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Handoff packages from either kind of file: a STAR line has ``events``."""
    first = next(_json_lines(path, 1), None)
    if first is not None and "events" in first:
        return (star_to_package(dialogue) for dialogue in read_star(path, limit))
    return read_packages(path, limit)


def as_recent(package: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A copy of the package whose message and step times are all moved by one amount, so that
    the latest is ``now``: a recorded conversation replayed for a demo then reads as one that
    just happened, with its own pace kept. Times that do not parse stay as they are."""
    copy = json.loads(json.dumps(package))
    stamped = [
        (item, moment)
        for key in ("transcript", "attempted_steps")
        for item in (copy.get(key) if isinstance(copy.get(key), list) else [])
        if isinstance(item, dict) and (moment := _parse_moment(item.get("at"))) is not None
    ]
    if not stamped:
        return copy
    shift = now - max(moment for _, moment in stamped)
    for item, moment in stamped:
        item["at"] = (moment + shift).astimezone(UTC).strftime(ISO_SECONDS)
    return copy


def _parse_moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- posting ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rejection:
    external_id: str
    status: int
    detail: str


@dataclass
class ReplayReport:
    """What the desk answered: 201 created, 200 updated, anything else rejected."""

    sent: int = 0
    created: int = 0
    updated: int = 0
    replayed: int = 0  # answers the desk replayed for a known Idempotency-Key
    rejected: int = 0
    errors: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    error_messages: list[str] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    @property
    def accepted(self) -> int:
        return self.created + self.updated

    @property
    def ok(self) -> bool:
        return self.rejected == 0 and self.errors == 0

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def lines(self) -> list[str]:
        """The report as printable lines."""
        lines = [
            f"sent {self.sent} in {self.elapsed_seconds:.2f}s ({self.rate:.1f}/s)",
            f"accepted {self.accepted}: {self.created} created (201), "
            f"{self.updated} updated (200), {self.replayed} idempotent replays",
            f"rejected {self.rejected}",
        ]
        lines += [f"  {r.external_id}: {r.status} {r.detail}" for r in self.rejections]
        lines.append(f"errors {self.errors}")
        lines += [f"  {message}" for message in self.error_messages]
        return lines


class Pacer:
    """Spaces sends ``1/rate`` seconds apart (no catch-up bursts); rate 0 means no pacing."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.clock = clock
        self.next_at: float | None = None

    def delay(self) -> float:
        """Seconds to wait before the next send (call once per send)."""
        if not self.interval:
            return 0.0
        now = self.clock()
        slot = now if self.next_at is None else max(self.next_at, now)
        self.next_at = slot + self.interval
        return slot - now


def idempotency_key(body: bytes) -> str:
    """Same package, same key: replaying a file twice is answered from the first run."""
    return "replay-" + hashlib.sha256(body).hexdigest()[:40]


def _problem_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if not isinstance(body, dict):
        return str(body)[:200]
    detail = str(body.get("detail") or response.reason_phrase)
    errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
    listed = [
        f"{'.'.join(str(p) for p in (e.get('loc') or [])[1:]) or 'body'}: {e.get('msg')}"
        for e in errors[:3]
    ]
    return "; ".join([detail, *listed])[:500]


ASSESS_PATH = "/api/v1/assess"


def _steps_until(steps: list[dict[str, Any]], moment: Any) -> list[dict[str, Any]]:
    """The attempted steps the bot had made by ``moment`` (all of them when times are missing)."""
    until = _parse_moment(moment)
    if until is None:
        return steps
    return [s for s in steps if (at := _parse_moment(s.get("at"))) is None or at <= until]


def hand_off_when_advised(
    client: httpx.Client, url: str, key: str, package: dict[str, Any]
) -> dict[str, Any]:
    """The replayed bot as a desk-advised bot behaves: after each customer message it asks
    ``POST /api/v1/assess`` and hands off as soon as the answer says so, with the conversation
    up to there and the suggested trigger; otherwise at the recorded end."""
    transcript = package.get("transcript") or []
    steps = package.get("attempted_steps") or []
    headers = {"Authorization": f"Bearer {key}"}
    for index, message in enumerate(transcript):
        if message.get("role") != "customer":
            continue
        so_far = {
            **{k: v for k, v in package.items() if k not in {"external_id", "trigger"}},
            "transcript": transcript[: index + 1],
            "attempted_steps": _steps_until(steps, message.get("at")),
        }
        response = client.post(url.rstrip("/") + ASSESS_PATH, json=so_far, headers=headers)
        advice = response.json() if response.status_code == 200 else {}
        if advice.get("escalate"):
            handed = {**package, **so_far}
            if advice.get("suggested_trigger"):
                reasons = advice.get("reasons") or [{}]
                detail = f"the desk's advice: {reasons[0].get('detail', '')}"[:2000]
                handed["trigger"] = {"reason": advice["suggested_trigger"], "detail": detail}
            return handed
    return package


def replay(
    packages: Iterable[dict[str, Any]],
    url: str,
    key: str,
    rate: float = 0.0,
    concurrency: int = 1,
    *,
    idempotency: bool = False,
    assess: bool = False,
    timeout: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> ReplayReport:
    """POST every package to ``<url>/api/v1/handoffs`` and count what the desk answered. With
    ``assess``, each conversation is handed off where the desk's advice says (see
    ``hand_off_when_advised``)."""
    endpoint = url.rstrip("/") + HANDOFF_PATH
    report = ReplayReport()
    lock = threading.Lock()
    source = iter(packages)
    pacer = Pacer(rate)
    broken: list[BaseException] = []
    workers = max(1, concurrency)

    def post(client: httpx.Client, package: dict[str, Any]) -> None:
        external_id = str(package.get("external_id", "?"))
        try:
            if assess:
                package = hand_off_when_advised(client, url, key, package)
            body = json.dumps(package, ensure_ascii=False).encode()
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            if idempotency:
                headers["Idempotency-Key"] = idempotency_key(body)
            response = client.post(endpoint, content=body, headers=headers)
        except (httpx.HTTPError, TypeError, ValueError) as exc:
            with lock:
                report.sent += 1
                report.errors += 1
                if len(report.error_messages) < MAX_LISTED:
                    report.error_messages.append(f"{external_id}: {type(exc).__name__}: {exc}")
            return
        detail = "" if response.status_code in (200, 201) else _problem_detail(response)
        with lock:
            report.sent += 1
            if response.headers.get("Idempotent-Replayed") == "true":
                report.replayed += 1
            if response.status_code == 201:
                report.created += 1
            elif response.status_code == 200:
                report.updated += 1
            else:
                report.rejected += 1
                if len(report.rejections) < MAX_LISTED:
                    report.rejections.append(Rejection(external_id, response.status_code, detail))

    def work(client: httpx.Client) -> None:
        while True:
            with lock:
                if broken:
                    return
                try:
                    package = next(source)
                except StopIteration:
                    return
                except Exception as exc:  # a bad source line: stop everyone, re-raise below
                    broken.append(exc)
                    return
                wait = pacer.delay()
            if wait > 0:
                time.sleep(wait)
            post(client, package)

    started = time.monotonic()
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    with httpx.Client(timeout=timeout, transport=transport, limits=limits) as client:
        if workers == 1:
            work(client)
        else:
            threads = [
                threading.Thread(target=work, args=(client,), daemon=True) for _ in range(workers)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    report.elapsed_seconds = time.monotonic() - started
    if broken:
        raise broken[0]
    return report
