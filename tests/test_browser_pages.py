"""The pages in a real browser: Playwright driving Debian's Chromium against pytest-django's live server.

Skipped (with the reason) when /usr/bin/chromium is missing, unless TOXSITE_REQUIRE_BROWSER is set: then a
missing browser is a failure. Marked ``browser`` and left out of the PostgreSQL run (nothing here depends
on the database engine; the dashboard's SQL runs on both engines in test_dashboard.py).
Screenshots of each page go to test-artifacts/screenshots/.
"""

import importlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission, User

from classifier.models import Action, ModerationDecision, Prediction, Source
from classifier.services import prediction_create

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    # Transactional: the live server reads from another thread.
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("TOXSITE_REQUIRE_BROWSER"),
        reason="/usr/bin/chromium is missing (apt-get install chromium; CI sets TOXSITE_REQUIRE_BROWSER)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(
            "TOXSITE_REQUIRE_BROWSER is set but /usr/bin/chromium is missing: apt-get install chromium"
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the tests' own ORM calls are still synchronous.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield chromium
        chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _page(browser, *, javascript: bool = True):
    context = browser.new_context(java_script_enabled=javascript, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    return context.new_page()


def _console(message, errors: list[str]) -> None:
    # A 400 answer (a form error) and Chromium's own favicon request log failed loads: not script errors.
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        errors.append(f"{message.text} ({message.location.get('url')})")


@pytest.fixture
def page(browser):
    page = _page(browser)
    errors: list[str] = []
    page.on("console", lambda message: _console(message, errors))
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    page.context.close()
    assert not errors, f"the browser console logged errors: {errors}"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _bars(page) -> dict[str, float]:
    return {
        item.get_attribute("data-label"): float(item.get_attribute("data-percent"))
        for item in page.locator("#result li.bar").all()
    }


def test_checker_scores_a_toxic_and_a_clean_message_without_a_reload(live_server, page):
    page.goto(live_server.url + "/")
    page.evaluate("window.notReloaded = true")
    box = page.get_by_label("Chat message")
    box.fill("you are a complete idiot")
    assert page.locator("#counter").inner_text() == "24 / 500 characters"
    box.press("Control+Enter")  # keyboard submit
    page.locator("#result .badge.flagged").wait_for()
    assert page.evaluate("window.notReloaded") is True  # the result came in without a page load
    bars = _bars(page)
    assert len(bars) == 6 and bars["insult"] > 50
    assert "insult" in page.locator("#verdict").inner_text()
    assert page.locator("#result mark").count() >= 1
    shot(page, "checker-toxic")

    page.get_by_label("Chat message").fill("have a great stream everyone")
    page.get_by_role("button", name="Check message").click()
    page.locator("#result .badge.clean").wait_for()
    assert max(_bars(page).values()) < 50
    assert page.evaluate("window.notReloaded") is True
    shot(page, "checker-clean")

    page.get_by_label("What looks wrong? (optional)").fill("it is a friendly greeting")
    page.get_by_role("button", name="This looks wrong").click()
    page.locator("#feedback-done").wait_for()
    feedback = Prediction.objects.latest("id").feedback.get()
    assert feedback.comment == "it is a friendly greeting"


def test_over_long_message_shows_a_visible_error(live_server, page):
    page.goto(live_server.url + "/")
    page.get_by_label("Chat message").fill("x" * 501)
    assert "1 too many" in page.locator("#counter").inner_text()
    page.get_by_role("button", name="Check message").click()
    error = page.locator("#text-errors")
    error.wait_for()
    assert "at most 500 characters" in error.inner_text()
    assert error.is_visible()
    assert not Prediction.objects.exists()
    shot(page, "checker-too-long")


def test_checker_works_with_javascript_disabled(live_server, browser):
    page = _page(browser, javascript=False)
    page.goto(live_server.url + "/")
    page.get_by_label("Chat message").fill("shut up you moron")
    page.get_by_role("button", name="Check message").click()
    page.wait_for_load_state()
    assert page.locator("#result .badge.flagged").is_visible()
    assert len(_bars(page)) == 6
    shot(page, "checker-no-javascript")
    page.get_by_role("button", name="This looks wrong").click()
    assert "moderators will look again" in page.locator("#feedback-done").inner_text()
    assert Prediction.objects.get().feedback.count() == 1
    page.context.close()


def _moderator() -> User:
    """Return a staff user in the moderators group (with the group's permissions from migration 0004)."""
    # Another transactional test may have flushed the group the migrations created: make it again.
    migration = importlib.import_module("classifier.migrations.0004_moderators_and_initial_revisions")
    group, _ = Group.objects.get_or_create(name="moderators")
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="classifier", codename__in=migration.MODERATOR_PERMISSIONS
        )
    )
    user = User.objects.create_user("mod", password="a-long-test-password", is_staff=True)
    user.groups.add(group)
    return user


def _log_in(page, base: str, next_url: str) -> None:
    page.goto(f"{base}/admin/login/?next={next_url}")
    page.get_by_label("Username").fill("mod")
    page.get_by_label("Password").fill("a-long-test-password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def test_moderator_approves_and_removes_from_the_queue_and_sees_the_history(live_server, page):
    user = _moderator()
    first = prediction_create(text="shut up you moron", source=Source.FORM)
    second = prediction_create(text="you are a complete idiot", source=Source.FORM)
    _log_in(page, live_server.url, "/admin/classifier/reviewitem/")
    assert page.get_by_role("link", name="Dashboard").is_visible()
    shot(page, "admin-review-queue")
    row = page.locator("tr", has=page.locator(f"a:text-is('#{first.pk}')"))
    row.get_by_role("button", name="Approve").click()
    page.get_by_text(f"Message #{first.pk}: approved.").wait_for()
    row = page.locator("tr", has=page.locator(f"a:text-is('#{second.pk}')"))
    row.get_by_role("button", name="Remove").click()
    page.get_by_text(f"Message #{second.pk}: removed.").wait_for()
    actions = (
        ModerationDecision.objects.filter(moderator=user).order_by("id").values_list("action", flat=True)
    )
    assert list(actions) == [Action.APPROVE, Action.REMOVE]
    page.goto(f"{live_server.url}/admin/classifier/prediction/{second.pk}/change/")
    history = page.locator("fieldset", has=page.get_by_role("heading", name="History")).inner_text()
    assert "remove" in history.lower() and "mod" in history
    shot(page, "admin-message-history")


def test_enter_in_the_reason_field_records_no_decision(live_server, page):
    _moderator()
    message = prediction_create(text="shut up you moron", source=Source.FORM)
    _log_in(page, live_server.url, f"/admin/classifier/prediction/{message.pk}/change/")
    reason = page.get_by_label("Reason (optional)")
    reason.fill("typed, then Enter")
    reason.press("Enter")  # with a Save button gone, the first button (Approve) would be the form's default
    page.get_by_role("button", name="Escalate").click()
    page.get_by_text(f"Message #{message.pk}: escalated.").wait_for()
    decisions = ModerationDecision.objects.filter(prediction=message).values_list("action", "reason")
    assert list(decisions) == [(Action.ESCALATE, "typed, then Enter")]  # the reason waited for the button


def test_dashboard_renders_its_charts_with_data(live_server, page):
    user = _moderator()
    for text in ["you are a complete idiot", "have a great stream everyone", "i will kill you"]:
        prediction_create(text=text, source=Source.FORM)
    ModerationDecision.objects.create(
        prediction=Prediction.objects.earliest("id"),
        moderator=user,
        action=Action.ESCALATE,
        status_before="pending",
        status_after="pending",
    )
    _log_in(page, live_server.url, "/dashboard/")
    page.locator("#dashboard[data-ready='true']").wait_for()
    assert page.locator("#queue-size").inner_text() == str(Prediction.objects.filter(flagged=True).count())
    assert page.locator("#histograms canvas").count() == 6
    assert page.locator("#models-table tbody tr").count() == 1
    drawn = page.evaluate(
        "Object.values(Chart.instances).map(c => c.data.datasets.reduce((n, d) => n + d.data.length, 0))"
    )
    assert len(drawn) >= 10 and all(n > 0 for n in drawn)
    page.get_by_role("button", name=re.compile("Per day")).click()
    page.locator("#dashboard[data-ready='true']").wait_for()
    shot(page, "dashboard")
