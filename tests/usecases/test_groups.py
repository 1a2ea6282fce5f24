"""Group sends in process: a draft per member under one batch, confirmed or cancelled together,
delivered one request per member with one progress message."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store import SendState
from bot.usecases.groups import EveryoneOptedOut, GroupDraft
from bot.usecases.sending import HANDED_BACK
from bot.whatsapp.payloads import Message, MessageKind, PayloadError
from tests.inprocess import CHANNEL, RECIPIENT, USER, Stage, staged
from tests.scenarios.harness import text_of

DRIVERS = ["+573001234500", "+573001234501", "acme-ops"]
NUMBERS = ["+573001234500", "+573001234501", RECIPIENT]


@pytest.fixture
def stage(tmp_path: Path) -> Iterator[Stage]:
    with staged(tmp_path, groups={"drivers": DRIVERS}) as made:
        yield made


def drafted(stage: Stage, text: str = "Route change today") -> GroupDraft:
    services = stage.services
    return services.groups.draft(
        "drivers",
        Message(MessageKind.TEXT, "", text),
        sender=services.sending.resolve_sender(None, CHANNEL),
        team_id=stage.slack.team_id,
        channel_id=CHANNEL,
        user_id=USER,
    )


def progress(stage: Stage) -> str:
    (record,) = stage.records()
    return text_of(record)


def test_a_draft_per_member_under_one_batch(stage: Stage) -> None:
    group = drafted(stage)
    assert group.batch.group_name == "drivers" and group.batch.total == 3
    assert group.batch.state is SendState.DRAFT and group.batch.user_id == USER
    members = stage.services.groups.sends(group.batch.id)
    assert [m.id for m in members] == [m.id for m in group.members]
    assert sorted(m.recipient for m in members) == sorted(NUMBERS)  # the contact resolved
    for member in members:
        assert (member.source, member.state, member.batch_id) == (
            "group",
            SendState.DRAFT,
            group.batch.id,
        )
        assert (member.kind, member.body, member.channel_id) == (
            "text",
            "Route change today",
            CHANNEL,
        )
    assert len({m.external_id for m in members}) == 3
    assert len({m.callback_token for m in members}) == 3
    assert stage.provider.requests == []


def test_a_message_the_provider_would_refuse_is_refused_at_the_draft(stage: Stage) -> None:
    with pytest.raises(PayloadError):
        drafted(stage, "x" * 1025)


def test_confirm_moves_the_batch_and_every_member_once(stage: Stage) -> None:
    group = drafted(stage)
    groups = stage.services.groups
    batch = groups.confirm(group.batch.id)
    assert batch is not None and batch.state is SendState.CONFIRMED
    assert {m.state for m in groups.sends(batch.id)} == {SendState.CONFIRMED}
    assert groups.confirm(batch.id) is None
    assert groups.cancel(batch.id) is None  # nor taken back once confirmed


def test_cancel_moves_the_batch_and_every_member_and_nothing_is_sent(stage: Stage) -> None:
    group = drafted(stage)
    groups = stage.services.groups
    batch = groups.cancel(group.batch.id)
    assert batch is not None and batch.state is SendState.CANCELLED
    assert {m.state for m in groups.sends(batch.id)} == {SendState.CANCELLED}
    assert groups.confirm(batch.id) is None
    groups.deliver_all(batch.id)
    assert stage.provider.requests == []


def test_deliver_all_sends_each_member_once_and_reports_the_failure(stage: Stage) -> None:
    stage.provider.fail_next("400", reason="Recipient is not a WhatsApp user")
    group = drafted(stage)
    groups = stage.services.groups
    assert groups.confirm(group.batch.id) is not None
    groups.deliver_all(group.batch.id)
    requests = stage.provider.requests
    assert sorted(r.json["request"]["to"] for r in requests) == sorted(NUMBERS)
    members = {m.recipient: m for m in groups.sends(group.batch.id)}
    assert {r.json["request"]["externalId"] for r in requests} == {
        m.external_id for m in members.values()
    }
    (refused,) = [r.json["request"]["to"] for r in requests if r.response_status == 400]
    assert members[refused].state is SendState.FAILED
    assert [m.state for n, m in members.items() if n != refused] == [SendState.SENT] * 2
    # one progress message in the channel, brought up to the totals
    stage.slack.wait_for(lambda: "3/3 · 2 sent · 1 failed" in progress(stage), timeout=10)
    batch = groups.get(group.batch.id)
    assert batch is not None and batch.message_ts == stage.records()[0]["ts"]

    def explained() -> bool:
        replies = stage.slack.thread(CHANNEL, batch.message_ts or "")
        return any(
            f"*{refused}*" in text_of(m) and "Recipient is not a WhatsApp user" in text_of(m)
            for m in replies
        )

    stage.slack.wait_for(explained, timeout=10)
    groups.deliver_all(group.batch.id)  # again: every member has had its one request
    assert len(stage.provider.requests) == 3


def test_deliver_all_sends_only_members_still_confirmed(stage: Stage) -> None:
    group = drafted(stage)
    groups = stage.services.groups
    assert groups.confirm(group.batch.id) is not None
    left_out = group.members[0]
    assert stage.store.transition(
        left_out.id, from_states=[SendState.CONFIRMED], to=SendState.CANCELLED
    )
    groups.deliver_all(group.batch.id)
    sent_to = sorted(r.json["request"]["to"] for r in stage.provider.requests)
    assert sent_to == sorted(n for n in NUMBERS if n != left_out.recipient)


def test_deliver_all_of_a_batch_never_confirmed_sends_nothing(stage: Stage) -> None:
    group = drafted(stage)
    stage.services.groups.deliver_all(group.batch.id)
    assert stage.provider.requests == []
    assert {m.state for m in stage.services.groups.sends(group.batch.id)} == {SendState.DRAFT}


def test_closing_hands_back_the_member_waiting_and_those_queued_unsent(tmp_path: Path) -> None:
    """SIGTERM ends in `Services.close`: the member waiting out a 429 and those queued behind
    it (one at a time) stay `confirmed`, handed back for the next start; nothing is unknown."""
    with staged(
        tmp_path,
        groups={"drivers": DRIVERS},
        whatsapp={"max_concurrent_sends": 1, "max_rate_limit_wait_seconds": 120},
    ) as stage:
        stage.provider.fail_next("429", retry_after=30)
        group = drafted(stage)
        services = stage.services
        assert services.groups.confirm(group.batch.id) is not None
        services.background(services.groups.deliver_all, group.batch.id)
        stage.provider.wait_for_requests(1)
        started = time.monotonic()
        services.close()
        took = time.monotonic() - started
        members = services.groups.sends(group.batch.id)
        assert took < 5
        assert {m.state for m in members} == {SendState.CONFIRMED}
        assert {m.error for m in members} == {HANDED_BACK}
        assert len(stage.provider.requests) == 1


# members on the sender's do-not-send list


def test_members_who_opted_out_are_skipped_when_drafted_and_when_confirmed(stage: Stage) -> None:
    store = stage.store
    store.opt_out("support", NUMBERS[0], 'they wrote "STOP"')
    group = drafted(stage)
    assert group.standing.recipients == NUMBERS[1:]
    assert [c.customer for c in group.standing.opted_out] == [NUMBERS[0]]
    assert all(not w.open for w in group.standing.windows.values())  # nobody wrote
    states = {m.recipient: m for m in stage.services.groups.sends(group.batch.id)}
    skipped = states[NUMBERS[0]]
    assert skipped.state is SendState.CANCELLED
    assert skipped.error is not None and skipped.error.startswith(
        f"skipped: {NUMBERS[0]} opted out of messages from Support"
    )
    assert {states[n].state for n in NUMBERS[1:]} == {SendState.DRAFT}

    # another opts out while the confirmation is shown: skipped when it is clicked
    store.opt_out("support", NUMBERS[1], "the provider reported the number as BLACKLISTED")
    groups = stage.services.groups
    assert groups.confirm(group.batch.id) is not None
    groups.deliver_all(group.batch.id)
    assert [r.json["request"]["to"] for r in stage.provider.requests] == [NUMBERS[2]]
    after = {m.recipient: m.state for m in groups.sends(group.batch.id)}
    assert after == {
        NUMBERS[0]: SendState.CANCELLED,
        NUMBERS[1]: SendState.CANCELLED,
        NUMBERS[2]: SendState.SENT,
    }
    stage.slack.wait_for(
        lambda: "1/1 · 1 sent · 0 failed · 2 skipped: opted out" in progress(stage), timeout=10
    )


def test_a_group_everyone_opted_out_of_is_not_drafted(stage: Stage) -> None:
    for number in NUMBERS:
        stage.store.opt_out("support", number, 'they wrote "STOP"')
    with pytest.raises(EveryoneOptedOut, match="Everyone in the group `drivers` opted out"):
        drafted(stage)
    assert stage.store.sends_in_state([SendState.DRAFT, SendState.CANCELLED]) == []
