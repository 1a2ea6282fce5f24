from __future__ import annotations

import pytest

from bot.core.config import RetentionConfig, summary
from tests.conftest import config_dict, make_config
from tests.test_config import problems_of


def test_retention_keys_have_the_spec_defaults() -> None:
    config = make_config()
    assert config.retention == RetentionConfig(media_days=30, content_days=None)
    assert "kept file bytes deleted after 30 day(s); content kept" in summary(config)


def test_retention_keys_are_read() -> None:
    config = make_config(retention={"media_days": 7, "content_days": 365})
    assert config.retention == RetentionConfig(media_days=7, content_days=365)
    assert "content removed after 365 day(s)" in summary(config)
    nulls = make_config(retention={"media_days": None, "content_days": None})
    assert nulls.retention == RetentionConfig()


@pytest.mark.parametrize("value", [0, -3, 1.5, "soon", True, [30]])
def test_bad_retention_days_are_named_with_a_fix(value: object) -> None:
    found = problems_of(config_dict(retention={"media_days": value, "content_days": value}))
    assert "whole number of days, 1 or more" in found["retention.media_days"]
    assert "`null` to keep them" in found["retention.content_days"]


def test_unknown_retention_keys_are_errors() -> None:
    found = problems_of(config_dict(retention={"media_day": 3}))
    assert "unknown key" in found["retention.media_day"]
    assert "must be a mapping" in problems_of(config_dict(retention=[30]))["retention"]
