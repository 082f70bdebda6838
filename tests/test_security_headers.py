"""The Content-Security-Policy header, and pages that need nothing it forbids."""

from html.parser import HTMLParser

import pytest

pytestmark = pytest.mark.django_db


def _directives(header: str) -> dict[str, list[str]]:
    parts = [part.split() for part in header.split(";") if part.strip()]
    return {part[0]: part[1:] for part in parts}


class _PolicyAudit(HTMLParser):
    """Collect what a page holds that ``script-src 'self'; style-src 'self'`` would block."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked: list[str] = []
        self.style_attributes = 0
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script" and "src" not in names and names.get("type") != "application/json":
            self._in_inline_script = True
        if tag == "style":
            self.blocked.append("<style> element")
        if tag == "link" and names.get("rel") == "stylesheet" and "//" in (names.get("href") or ""):
            self.blocked.append(f"stylesheet from another origin: {names['href']}")
        if tag == "script" and "//" in (names.get("src") or ""):
            self.blocked.append(f"script from another origin: {names['src']}")
        for name, value in attrs:
            if name.startswith("on"):
                self.blocked.append(f"event handler attribute {name}")
            if name in {"href", "src", "action"} and (value or "").lower().startswith("javascript:"):
                self.blocked.append(f"javascript: URL in {name}")
        self.style_attributes += "style" in names

    def handle_data(self, data: str) -> None:
        if self._in_inline_script and data.strip():
            self.blocked.append("inline <script>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False


def _audit(content: bytes) -> _PolicyAudit:
    audit = _PolicyAudit()
    audit.feed(content.decode())
    return audit


def test_pages_send_a_strict_content_security_policy(client):
    response = client.get("/")
    policy = _directives(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["style-src-attr"] == ["'unsafe-inline'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_result_page_bars_use_only_style_attributes(client):
    response = client.post("/", {"text": "you are a complete idiot"})
    assert response.status_code == 200
    audit = _audit(response.content)
    assert audit.blocked == []
    assert audit.style_attributes == 12  # each of the six bars: its fill width and its threshold mark


@pytest.mark.parametrize("url", ["/", "/admin/login/", "/api/v1/docs", "/no-such-page/"])
def test_page_holds_nothing_the_policy_blocks(client, url):
    response = client.get(url)
    assert "Content-Security-Policy" in response.headers
    assert _audit(response.content).blocked == []


def test_admin_pages_hold_nothing_the_policy_blocks(admin_client):
    for url in ["/admin/", "/admin/classifier/prediction/", "/admin/classifier/apikey/add/"]:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert _audit(response.content).blocked == [], url
