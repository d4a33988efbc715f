from __future__ import annotations

import re

import pytest

from subscribers.emails import HeaderInjectionError, RenderedEmail, build_message, render_email
from tests.subscribers.factories import make_subscriber

pytestmark = pytest.mark.django_db


def _context(subscriber):
    return {
        "subscriber": subscriber,
        "confirm_url": "https://x.test/confirm/t/",
        "preferences_url": "https://x.test/preferences/t/",
        "unsubscribe_url": "https://x.test/unsubscribe/t/",
        "archive_url": "https://x.test/editions/",
        "confirm_days": 7,
    }


@pytest.mark.parametrize("kind", ["confirmation", "welcome", "already-subscribed"])
def test_every_kind_renders_one_line_subject_text_and_inlined_html(kind):
    rendered = render_email(kind, _context(make_subscriber()))
    assert rendered.subject and "\n" not in rendered.subject
    assert "https://x.test/" in rendered.text
    # Every rule is inlined; the one <style> left holds only the narrow-screen @media rule, which cannot be.
    styles = re.findall(r"<style[^>]*>(.*?)</style>", rendered.html, re.DOTALL)
    assert len(styles) == 1 and styles[0].strip().startswith("@media (max-width")
    assert 'style="' in rendered.html


def test_user_text_is_escaped_in_html_and_literal_in_text():
    subscriber = make_subscriber(keywords=["<script>alert(1)</script>", 'a"b'])
    rendered = render_email("welcome", _context(subscriber))
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "<script>alert(1)</script>" in rendered.text  # plain text is not HTML: shown as typed


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        render_email("../secrets", {})


def test_build_message_has_text_and_html_parts_and_headers():
    rendered = RenderedEmail(subject="Hello", text="plain\n", html="<p>html</p>")
    message = build_message(
        rendered=rendered,
        to="a@b.example",
        headers={"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        tags=["t"],
        metadata={"k": 1},
    )
    mime = message.message()
    assert mime.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in mime.get_payload()] == ["text/plain", "text/html"]
    assert mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.tags == ["t"] and message.metadata == {"k": 1}


@pytest.mark.parametrize(
    ("to", "headers", "subject"),
    [
        ("a@b.c\nBcc: x@y.z", {}, "Hi"),
        ("a@b.c", {"X-Thing": "ok\r\nBcc: x@y.z"}, "Hi"),
        ("a@b.c", {"Bcc: x@y.z\nX": "v"}, "Hi"),
        ("a@b.c", {}, "Hi\nBcc: x@y.z"),
    ],
)
def test_build_message_refuses_header_injection(to, headers, subject):
    with pytest.raises(HeaderInjectionError):
        build_message(rendered=RenderedEmail(subject=subject, text="t", html="<p>h</p>"), to=to, headers=headers)


def test_every_message_gets_a_message_id_on_the_sending_domain(settings):
    settings.DEFAULT_FROM_EMAIL = "Papers <hello@Mail.Example.net>"
    rendered = RenderedEmail(subject="s", text="t", html="<p>h</p>")
    message = build_message(rendered=rendered, to="a@example.com")
    assert re.fullmatch(r"<[^<>@\s]+@mail\.example\.net>", message.extra_headers["Message-ID"])
    assert message.message()["Message-ID"] == message.extra_headers["Message-ID"]
    given = build_message(rendered=rendered, to="a@example.com", headers={"Message-ID": "<x@example.net>"})
    assert given.extra_headers["Message-ID"] == "<x@example.net>"
