from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.media.checks import MediaInfo, MediaKind
from bot.media.links import LinkCheck, check, issue
from bot.store import Store
from bot.usecases.media import MediaService
from tests.conftest import make_config

SECRET = "a-secret-of-some-length-0123456789"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_a_link_checks_out_until_it_expires() -> None:
    token = issue(SECRET, "m1", NOW + timedelta(hours=1))
    assert check(SECRET, token, now=NOW) == (LinkCheck.VALID, "m1")
    assert check(SECRET, token, now=NOW + timedelta(hours=2)) == (LinkCheck.EXPIRED, "m1")


def test_any_change_is_tampering() -> None:
    token = issue(SECRET, "m1", NOW + timedelta(hours=1))
    media_id, expiry, mac = token.split(".")
    for forged in (
        f"m2.{expiry}.{mac}",
        f"{media_id}.{int(expiry) + 1}.{mac}",
        f"{media_id}.{expiry}.{mac[:-1]}x",
        token + ".",
        "",
        "a.b",
        "é.1.x",
    ):
        assert check(SECRET, forged, now=NOW)[0] is LinkCheck.TAMPERED
    assert check("another-secret-0123456789", token, now=NOW)[0] is LinkCheck.TAMPERED


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def test_serving_purging_and_refreshing(tmp_path: object) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path}/m.sqlite3")
    store.migrate()
    clock = Clock()
    service = MediaService(config=make_config(), store=store, clock=clock)
    info = MediaInfo(MediaKind.IMAGE, "image/png", "PNG image", 4, ".png")
    kept = service.keep(b"\x89PNG", info, file_name='a"b.png', slack_file_id="F1")
    url = service.link(kept.id)
    assert url.startswith("https://bot.example.com/media/")
    token = url.rsplit("/", 1)[1]
    got = service.serve(token, head=False)
    assert got.status == 200 and got.stream is not None and b"".join(got.stream) == b"\x89PNG"
    assert ("Content-Type", "image/png") in got.headers
    assert ("Content-Length", "4") in got.headers
    assert ("Content-Disposition", 'inline; filename="ab.png"') in got.headers
    head = service.serve(token, head=True)
    assert head.status == 200 and head.body == b"" and ("Content-Length", "4") in head.headers
    clock.now = NOW + timedelta(hours=23)
    fresh = service.link(kept.id).rsplit("/", 1)[1]  # confirming late extends the bytes' life
    clock.now = NOW + timedelta(hours=25)
    assert service.serve(token, head=False).status == 403
    assert service.purge() == 0
    assert service.serve(fresh, head=False).status == 200
    clock.now = NOW + timedelta(hours=48)
    assert service.purge() == 1
    clock.now = NOW + timedelta(hours=1)  # even a still-valid link finds nothing once purged
    assert (
        service.serve(
            issue(make_config().media.link_secret, kept.id, NOW + timedelta(hours=2)), head=False
        ).status
        == 404
    )
    store.close()


def test_a_file_whose_bytes_were_deleted_answers_410_gone(tmp_path: object) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path}/m.sqlite3")
    store.migrate()
    clock = Clock()
    service = MediaService(config=make_config(), store=store, clock=clock)
    info = MediaInfo(MediaKind.IMAGE, "image/png", "PNG image", 4, ".png")
    kept = service.keep(b"\x89PNG", info, file_name="a.png", slack_file_id="F1")
    token = service.link(kept.id).rsplit("/", 1)[1]
    kept_at = store.get_media(kept.id, with_data=False).created_at  # type: ignore[union-attr]
    assert store.purge_old_media(before=kept_at + timedelta(seconds=1), now=NOW) == 1
    for head in (False, True):
        gone = service.serve(token, head=head)
        assert gone.status == 410 and gone.stream is None
        assert ("Content-Type", "text/plain; charset=utf-8") in gone.headers
        assert gone.body.startswith(b"gone: this file was deleted")
    assert service.serve(token + "x", head=False).status == 403  # a forged link learns nothing
    assert service.purge() == 0  # its link still works: the row stays until it expires
    clock.now = NOW + timedelta(hours=25)
    assert service.purge() == 1
    store.close()
