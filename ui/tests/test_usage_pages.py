"""The usage tab of the browser portal: totals, charts and table of the calls the gateway
counted, filtered by application, endpoint and range, with a CSV download of the same."""

import re
import time
from html import unescape

import pytest

from gateway.usage import store_minute
from tenants.models import Tenant, TenantBinding

pytestmark = pytest.mark.django_db

PAGE = "/ui/t/demo/usage/"


@pytest.fixture
def team(make_user, browser_for):
    demo = Tenant.objects.create(name="demo", scope="team")
    other = Tenant.objects.create(name="other", scope="others")
    TenantBinding.objects.create(tenant=demo, group="demo-viewers", role="viewer")
    TenantBinding.objects.create(tenant=other, group="others", role="admin")
    return {
        "viewer": browser_for(make_user("vic", groups=["demo-viewers"])),
        "stranger": browser_for(make_user("olga", groups=["others"])),
    }


def calls(minutes_ago, series, requests, errors_5xx=0, tokens=0, bucket=1):
    """Store one minute of counted calls, as the gateway's flush does."""
    minute = int(time.time() // 60) - minutes_ago
    counters = {
        f"{series}|requests": requests,
        f"{series}|errors_5xx": errors_5xx,
        f"{series}|tokens": tokens,
        f"{series}|latency_ms_sum": requests * 7,
        f"{series}|b{bucket}": requests,
    }
    store_minute(minute, counters)


@pytest.fixture
def usage(team):
    """Last hour: scorer → iris in three minutes, scorer → wine and a member's call in one;
    another tenant's calls in the same minutes."""
    calls(5, "demo/scorer/iris", 10, errors_5xx=2, tokens=100)
    calls(20, "demo/scorer/iris", 4, tokens=40)
    calls(40, "demo/scorer/iris", 6)
    calls(5, "demo/scorer/wine", 3, bucket=3)
    calls(20, "demo//iris", 1)
    calls(5, "other/spy/secret", 1000, errors_5xx=999)


def bars(response):
    return re.findall(r'<rect class="bar" ', response.content.decode())


def test_the_totals_are_the_calls_counted_for_this_tenant_only(team, usage):
    response = team["viewer"].get(PAGE, {"range": "1h"})
    assert response.status_code == 200
    report = response.context["report"]
    assert report.granularity == "minute"
    assert (report.totals["requests"], report.totals["errors"], report.totals["tokens"]) == (
        24,
        2,
        140,
    )
    assert report.totals["p50_ms"] is not None
    page = unescape(response.content.decode())
    assert '<dd id="total-requests">24</dd>' in page
    assert '<dd id="total-errors">2</dd>' in page
    assert '<dd id="total-tokens">140</dd>' in page
    assert 'aria-label="Requests per minute: 24 requests, 2 errors in total."' in page
    assert "spy" not in page and "secret" not in page and "1000" not in page


def test_the_chart_has_one_bar_per_period_with_calls(team, usage):
    per_minute = team["viewer"].get(PAGE, {"range": "1h"})
    assert len(bars(per_minute)) == 3
    assert len(per_minute.context["report"].series) == 3
    assert per_minute.content.decode().count("<tr><td><time") == 3

    per_hour = team["viewer"].get(PAGE, {"range": "1h", "granularity": "hour"})
    assert len(bars(per_hour)) == len(per_hour.context["report"].series) in (1, 2)


@pytest.mark.parametrize(
    ("filters", "requests"),
    [
        ({"application": "scorer"}, 23),
        ({"endpoint": "wine"}, 3),
        ({"application": "scorer", "endpoint": "iris"}, 20),
        ({"application": "-"}, 1),  # members' own calls
        ({"application": "nobody"}, 0),
    ],
)
def test_filters_narrow_the_totals(team, usage, filters, requests):
    response = team["viewer"].get(PAGE, {"range": "24h", **filters})
    assert response.context["report"].totals["requests"] == requests


def test_the_csv_link_downloads_the_same_filters_from_the_api(team, usage):
    response = team["viewer"].get(PAGE, {"range": "1h", "endpoint": "iris"})
    url = unescape(re.search(r'href="([^"]+)" download>Download CSV', response.content.decode())[1])
    assert url.startswith("/tenants/demo/usage?")
    assert "format=csv" in url and "endpoint=iris" in url and "granularity=minute" in url
    csv = team["viewer"].get(url)
    assert csv["Content-Type"] == "text/csv; charset=utf-8"
    rows = csv.content.decode().splitlines()[1:]
    assert sum(int(row.split(",")[1]) for row in rows) == 21


def test_an_empty_period_says_so_and_how_to_make_a_call(team):
    response = team["viewer"].get(PAGE)
    page = response.content.decode()
    assert "No calls in this period." in page
    assert 'href="/ui/t/demo/applications/"' in page
    assert response.context["report"].totals["requests"] == 0
    assert not bars(response)


def test_a_range_too_long_for_the_granularity_is_explained(team, usage):
    response = team["viewer"].get(PAGE, {"range": "7d", "granularity": "minute"})
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [
        "A minute series covers at most 2 days; narrow since/until or use a coarser granularity."
    ]
    assert response.context["report"] is None


def test_an_unknown_range_is_explained(team):
    response = team["viewer"].get(PAGE, {"range": "forever"})
    assert [str(m) for m in response.context["messages"]] == ["range: use one of 1h, 24h, 7d, 30d."]


def test_strangers_get_404(team, usage):
    response = team["stranger"].get(PAGE)
    assert response.status_code == 404
    assert "There is no tenant called 'demo'." in unescape(response.content.decode())


def test_large_totals_are_grouped_by_thousands(team):
    calls(3, "demo/scorer/iris", 1_234_567)
    page = team["viewer"].get(PAGE, {"range": "1h"}).content.decode()
    assert '<dd id="total-requests">1,234,567</dd>' in page
    assert "No calls in this period." not in page


def test_a_deleted_applications_usage_stays_selectable_by_name(team, usage):
    response = team["viewer"].get(PAGE, {"range": "1h", "application": "scorer"})
    assert response.context["report"].totals["requests"] == 23
    assert '<option value="scorer" selected>scorer</option>' in response.content.decode()
