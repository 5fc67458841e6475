"""The audit timeline in the reader's language: every line, milestones and the others
(answers, notifications, deliveries, officers' actions, runs), and the frame around them
(columns, headers, legend).

A line is said from its event, its typed fields and its details, never from the English
summary the history reader writes for logs: a milestone by its own rendering
(`rendering.record.milestone_text`), the others here. Parties are said by their names
(`PartyNames`: the directory's, else the convention file's); ids stay ids.

    entry_text(entry, "rabat-2026", "ar", names)   # Said: .text (U+2068…U+2069), .html (<bdi>)
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from markupsafe import Markup

from rendering.catalogues import N_, gettext, supported
from rendering.formats import Said, data, joined, money, number, say, say_count, word
from rendering.record import (
    NO_NAMES,
    PartyNames,
    kept_key,
    kept_said,
    milestone_text,
    stage_name,
)
from rendering.zones import DEFAULT_ZONE, moment
from schemas.audit import TimelineEntry, TimelineEvent
from schemas.milestones import Milestone, MilestoneKind

EVENT_LABELS: Mapping[TimelineEvent, str] = {
    TimelineEvent.CONVENTION_STARTED: N_("convention started"),
    TimelineEvent.STAGE_ENTERED: N_("stage entered"),
    TimelineEvent.STAGE_LEFT: N_("stage left"),
    TimelineEvent.TASK_ASSIGNED: N_("task assigned"),
    TimelineEvent.TASK_ANSWERED: N_("task answered"),
    TimelineEvent.ANSWER_FAILED: N_("answer refused"),
    TimelineEvent.TASK_REMINDED: N_("task reminded"),
    TimelineEvent.TASK_OVERDUE: N_("task overdue"),
    TimelineEvent.TASK_ESCALATED: N_("task escalated"),
    TimelineEvent.TASK_CANCELLED: N_("task cancelled"),
    TimelineEvent.OFFICER_ACTION: N_("officer's action"),
    TimelineEvent.NOTIFIED: N_("party told"),
    TimelineEvent.NOTIFICATION_DELIVERED: N_("message delivered"),
    TimelineEvent.DELIVERY_FAILED: N_("delivery failed"),
    TimelineEvent.MILESTONE: N_("milestone"),
    TimelineEvent.CONVENTION_COMPLETED: N_("convention completed"),
    TimelineEvent.CONVENTION_FAILED: N_("convention failed"),
    TimelineEvent.CONVENTION_TERMINATED: N_("convention terminated"),
    TimelineEvent.RUN_CONTINUED: N_("run continued"),
    TimelineEvent.RUN_CLOSED: N_("run closed"),
}
"""What each line's event is called (tests check every event has a label)."""

COLUMNS = (
    N_("time (UTC)"),
    N_("stage"),
    N_("event"),
    N_("task"),
    N_("who"),
    N_("what"),
)
"""The timeline's columns, in the text, HTML and PDF forms."""

_NOTIFICATION_EVENTS = {
    "task.assigned": N_("the new task"),
    "task.reminder": N_("the reminder"),
    "task.escalated": N_("the escalation"),
    "convention.stage_changed": N_("the stage's start"),
}
_CHANNELS = {"e-mail": N_("e-mail"), "webhook": N_("webhook")}
_UPDATES = {
    "postpone_deadline": N_("due date postponed"),
    "reassign_task": N_("task reassigned"),
    "terminate": N_("convention terminated"),
    "retry_delivery": N_("delivery tried again"),
}
_CLOSINGS = {
    "failed": N_("The run failed"),
    "timed_out": N_("The run timed out"),
    "canceled": N_("The run was cancelled"),
    "terminated": N_("The run was terminated through Temporal"),
}
LANGUAGE_NAMES = {"fr": N_("in French"), "ar": N_("in Arabic"), "en": N_("in English")}


def event_label(event: TimelineEvent, language: str) -> str:
    """The event's name in `language`."""
    return gettext(language, EVENT_LABELS[event])


_TIME_IN_ZONE = N_("time ({zone})")
"""The time column's heading when the times are said in a zone other than UTC."""


def column_labels(language: str, zone: str = DEFAULT_ZONE) -> list[str]:
    """The columns' headings in `language`; the time column names the zone its times are
    in ("time (UTC)" by default, "time (Asia/Riyadh)"): the header says it."""
    labels = [gettext(language, column) for column in COLUMNS]
    if zone != DEFAULT_ZONE:
        labels[0] = say(language, _TIME_IN_ZONE, zone=zone).text
    return labels


def who(entry: TimelineEntry, language: str, names: PartyNames = NO_NAMES) -> Said:
    """The party by its name, and the person who acted for it."""
    return _who(entry.party, entry.actor, language, names)


@lru_cache(maxsize=4096)
def _who(party_id: str | None, actor: str | None, language: str, names: PartyNames) -> Said:
    # Kept per (party, actor, language, names): the same few act on every other line.
    party = names(party_id) if party_id else ""
    if actor and party and actor != party:
        return say(language, N_("{party} ({person})"), party=party, person=actor)
    if actor or party:
        return data(actor or party, language)
    return word("")


def title_in(title: str | None, titles: Mapping[str, str], language: str, fallback: str) -> Said:
    """A convention's title in the reader's language; another language's, said so, when it
    was not given in theirs (the original when none was)."""
    language = supported(language)
    if language in titles:
        return data(titles[language], language)
    if titles:
        given, shown = next(iter(titles.items()))
        return say(
            language,
            N_("{title} ({given}: not given in yours)"),
            title=shown,
            given=word(gettext(language, LANGUAGE_NAMES.get(given, given))),
        )
    return data(title or fallback, language)


def entry_text(
    entry: TimelineEntry,
    convention_id: str,
    language: str,
    names: PartyNames = NO_NAMES,
    zone: str = DEFAULT_ZONE,
) -> Said:
    """What a line of the timeline says in `language`; a moment a milestone names (a due
    date) is the day it is in `zone`, the reader's."""
    language = supported(language)
    details = entry.details
    if entry.milestone_kind and entry.milestone_seq is not None:
        said = _milestone(entry, convention_id, language, names, zone)
        if said is not None:
            if entry.event is TimelineEvent.STAGE_LEFT and entry.milestone_kind in _ENDINGS:
                return say(
                    language,
                    N_("Stage {stage} left: {sentence}"),
                    stage=stage_name(entry.stage, language),
                    sentence=said,
                )
            return said
    party = names(entry.party) if entry.party else ""
    if entry.event is TimelineEvent.TASK_ANSWERED:
        return say(
            language,
            N_("{party} answered: {answer}"),
            party=party,
            answer=answer_text(details.get("answer") or {}, language, names),
        )
    if entry.event is TimelineEvent.ANSWER_FAILED and "update" not in details:
        return say(
            language,
            N_("The answer of {party} was refused: {reason}"),
            party=party,
            reason=str(details.get("failure") or ""),
        )
    if entry.event in _OFFICERS:
        return _officer_action(entry, language, zone)
    if entry.event is TimelineEvent.NOTIFIED:
        return _notified(entry, language, party)
    if entry.event is TimelineEvent.NOTIFICATION_DELIVERED:
        return _delivered(entry, language, party)
    if entry.event is TimelineEvent.DELIVERY_FAILED:
        return _not_delivered(entry, language, party)
    if entry.event is TimelineEvent.RUN_CONTINUED:
        return say(
            language,
            N_("Run continued as new: next run {run}"),
            run=str(details.get("next_run_id") or ""),
        )
    if entry.event is TimelineEvent.RUN_CLOSED:
        closing = _CLOSINGS.get(str(details.get("closed_as")))
        if closing is not None:
            detail = details.get("detail")
            said = say(language, closing)
            if detail:
                return say(language, N_("{sentence}: {detail}"), sentence=said, detail=str(detail))
            return said
    return _as_recorded(entry.summary, language)


_ENDINGS = {MilestoneKind.CONVENTION_FAILED.value, MilestoneKind.CONVENTION_TERMINATED.value}
_OFFICERS = frozenset({TimelineEvent.OFFICER_ACTION, TimelineEvent.ANSWER_FAILED})
_KINDS: Mapping[str, MilestoneKind] = {kind.value: kind for kind in MilestoneKind}
"""A line's recorded kind, read once per kind rather than through the enum on every line."""


def _milestone(
    entry: TimelineEntry,
    convention_id: str,
    language: str,
    names: PartyNames,
    zone: str = DEFAULT_ZONE,
) -> Said | None:
    if entry.milestone_seq is None:
        return None
    kind = _KINDS.get(str(entry.milestone_kind))
    if kind is None:
        return None
    summary = entry.summary or kind.value
    kept = kept_said(
        kept_key(
            convention_id,
            entry.milestone_seq,
            kind,
            entry.stage,
            entry.party,
            entry.actor,
            summary,
            len(entry.details) - ("outcome" in entry.details),
            language,
            names,
            zone,
        )
    )
    if kept is not None:  # said already: no milestone to build
        return kept
    # The line's fields, read from the history already: built, not validated again (its
    # details are, by the kind's rendering).
    milestone = Milestone.model_construct(
        convention_id=convention_id,
        seq=entry.milestone_seq,
        kind=kind,
        stage=entry.stage,
        task_id=entry.task_id,
        party=entry.party,
        actor=entry.actor,
        occurred_at=entry.at,
        summary=summary,
        details={k: v for k, v in entry.details.items() if k != "outcome"},
    )
    return milestone_text(milestone, language, names, zone)


def _as_recorded(text: str, language: str) -> Said:
    said = data(text, language)
    if language == "en":
        return said
    return said.marked_as_recorded()


def _event_name(details: Mapping[str, Any], language: str) -> Said:
    return _named(str(details.get("notification_event") or ""), language, _NOTIFICATION_EVENTS)


def _channel(details: Mapping[str, Any], language: str) -> Said:
    return _named(str(details.get("channel") or ""), language, _CHANNELS)


def _named(value: str, language: str, words: Mapping[str, str]) -> Said:
    message = words.get(value)
    return say(language, message) if message else data(value, language)


def _notified(entry: TimelineEntry, language: str, party: str) -> Said:
    recipients = [str(name) for name in entry.details.get("recipients") or []]
    counted = say_count(language, "{count} recipient", "{count} recipients", len(recipients))
    if recipients:
        counted = say(
            language,
            N_("{count}: {names}"),
            count=counted,
            names=joined([data(name, language) for name in recipients], language),
        )
    return say(
        language,
        N_("{party} told of {event} ({recipients})"),
        party=party,
        event=_event_name(entry.details, language),
        recipients=counted,
    )


def _delivered(entry: TimelineEntry, language: str, party: str) -> Said:
    values: dict[str, Said | str] = {
        "event": _event_name(entry.details, language),
        "party": party,
        "channel": _channel(entry.details, language),
    }
    if entry.details.get("status") == "no_channel":
        return say(language, N_("{event} to {party}: no {channel} to send it by"), **values)
    return say(language, N_("{event} delivered to {party} by {channel}"), **values)


def _not_delivered(entry: TimelineEntry, language: str, party: str) -> Said:
    details = entry.details
    if "notification_event" not in details:  # the delivery given up, after its last attempt
        return say(
            language,
            N_("Delivery of {notification} by {channel} given up: {reason}"),
            notification=str(details.get("notification_id") or ""),
            channel=_channel(details, language),
            reason=str(details.get("reason") or ""),
        )
    outcome = str(details.get("outcome") or "")
    message = (
        N_("{event} not delivered to {party} by {channel}: the attempts timed out")
        if outcome == "timed_out"
        else N_("{event} not delivered to {party} by {channel}")
    )
    return say(
        language,
        message,
        event=_event_name(details, language),
        party=party,
        channel=_channel(details, language),
    )


_MOMENTS_ASKED = frozenset({"new_due_at"})
"""An officer's request's fields that are moments: said in the reader's zone, naming it."""


def _officer_action(entry: TimelineEntry, language: str, zone: str = DEFAULT_ZONE) -> Said:
    details = entry.details
    update = str(details.get("update") or "")
    request = details.get("request") or {}
    action = say(language, _UPDATES[update]) if update in _UPDATES else data(update, language)
    given = [
        _asked(name, value, language, zone)
        for name, value in request.items()
        if name not in {"task_id", "officer"} and value is not None
    ]
    said = (
        say(
            language,
            N_("Officer: {action} ({given})"),
            action=action,
            given=joined(given, language),
        )
        if given
        else say(language, N_("Officer: {action}"), action=action)
    )
    if entry.event is TimelineEvent.ANSWER_FAILED:
        return say(
            language,
            N_("{sentence}, refused: {reason}"),
            sentence=said,
            reason=str(details.get("failure") or ""),
        )
    return said


def _asked(name: str, value: Any, language: str, zone: str) -> Said:
    # A new due moment is the reader's (its date and time in their zone, the zone named);
    # the rest as the officer gave it.
    if name in _MOMENTS_ASKED and isinstance(value, str):
        try:
            return moment(value, language, zone)
        except ValueError:
            pass
    return data(str(value), language)


_LISTED = (
    ("held", N_("held: {items}")),
    ("cancelled", N_("cancelled: {items}")),
    ("reached", N_("reached: {items}")),
)
_AMOUNTS = (("granted", N_("granted {amount}")), ("spent", N_("spent {amount}")))
_DOCUMENTS = ("document", "report")
_WRITTEN = ("reason", "summary", "comments")
"""What an answer carries, in the order it is said (module-level: answer_text runs on every
answer's line)."""


def answer_text(answer: Mapping[str, Any], language: str, names: PartyNames = NO_NAMES) -> Said:
    """An answer in a few words, in `language`: its kind and decision, then what it carries
    (what people wrote stays as written, shortened)."""
    get = answer.get
    decision = str(get("decision") or "")
    parts: list[Said] = []
    if decision:
        parts.append(word(gettext(language, decision)))
    else:
        kind = str(get("kind") or "")
        if kind:
            parts.append(word(gettext(language, kind)))
    if get("version") is not None:
        parts.append(
            say(language, N_("version {version}"), version=number(int(answer["version"]), language))
        )
    place = get("place")
    if isinstance(place, dict) and place.get("city"):
        parts.append(say(language, N_("at {city}"), city=str(place["city"])))
    for name, message in _LISTED:
        if get(name):
            items = joined([data(str(item), language) for item in answer[name]], language)
            parts.append(say(language, message, items=items))
    for name, message in _AMOUNTS:
        value = get(name)
        if isinstance(value, dict) and value.get("amount") is not None:
            amount = money(value["amount"], str(value.get("currency") or ""), language)
            parts.append(say(language, message, amount=amount))
    actuals = get("actuals")
    if isinstance(actuals, dict) and actuals:
        parts.append(
            joined(
                [
                    say(
                        language,
                        N_("{indicator} {value}"),
                        indicator=str(key),
                        value=_figure(v, language),
                    )
                    for key, v in actuals.items()
                ],
                language,
            )
        )
    for name in _DOCUMENTS:
        document = get(name)
        if isinstance(document, dict) and document.get("uri"):
            parts.append(say(language, N_("document {uri}"), uri=str(document["uri"])))
    if get("findings"):
        parts.append(
            say_count(language, "{count} finding", "{count} findings", len(answer["findings"]))
        )
    for name in _WRITTEN:
        if get(name):
            parts.append(data(_shorten(str(answer[name])), language))
    if get("assignee") and get("kind") == "fix_delivery":
        parts.append(data(names(str(answer["assignee"])), language))
    separator = "؛ " if language == "ar" else "; "
    recorded = False
    for part in parts:
        if part.as_recorded:
            recorded = True
            break
    return Said(
        separator.join([part.text for part in parts]),
        lambda: _joined_html(parts, separator),
        as_recorded=recorded,
    )


def _joined_html(parts: list[Said], separator: str) -> Markup:
    return Markup(separator).join(part.html for part in parts)


def _figure(value: Any, language: str) -> Said:
    if isinstance(value, int | float):
        return number(value, language)
    return data(str(value), language)


def _shorten(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
