"""``Article.objects.published()`` asks the same question for a whole minute, so the query cache
can answer it (docs/benchmarks.md, render profiles)."""

from datetime import UTC, datetime
from unittest import mock

from newsroom.news import models
from newsroom.news.models import Article


def params_at(moment):
    with mock.patch.object(models.timezone, "now", return_value=moment):
        return Article.objects.published().query.sql_with_params()[1]


def test_the_same_parameters_all_minute_and_new_ones_the_next():
    start = datetime(2026, 11, 25, 12, 0, 1, 123, tzinfo=UTC)
    assert params_at(start) == params_at(start.replace(second=58, microsecond=999))
    assert params_at(start) != params_at(start.replace(minute=1, second=0))
    assert models.end_of_minute(start) == datetime(2026, 11, 25, 12, 0, 59, 999999, tzinfo=UTC)
