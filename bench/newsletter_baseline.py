"""django-newsletter 1.2 sending the same edition with Django's locmem backend: the baseline for bench/send.py.

Run by bench/send.py with a Python that has django-newsletter installed (a throwaway venv; not a dependency):
``python bench/newsletter_baseline.py EDITION_JSON N`` prints emails/s on its last line. SQLite in memory, so the
database is not what is measured; django-newsletter renders three templates per subscriber and builds each MIME
message through one locmem connection per email.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench",
    INSTALLED_APPS=[
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "django.contrib.sites",
        "newsletter",
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    SITE_ID=1,
    USE_TZ=True,
    ROOT_URLCONF="newsletter.urls",
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    NEWSLETTER_THUMBNAIL="sorl-thumbnail",
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
    LOGGING_CONFIG=None,
)
django.setup()

from django.core import mail  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402
from newsletter.models import Article, Message, Newsletter, Submission, Subscription  # noqa: E402


def main() -> None:
    with open(sys.argv[1]) as handle:
        edition = json.load(handle)
    n = int(sys.argv[2])
    call_command("migrate", verbosity=0)
    newsletter = Newsletter.objects.create(
        title="Trending Papers", slug="trending", email="papers@example.com", sender="Trending Papers"
    )
    now = timezone.now()
    Subscription.objects.bulk_create(
        Subscription(newsletter=newsletter, email_field=f"bench{i:06d}@example.org", subscribed=True, create_date=now)
        for i in range(n)
    )
    message = Message.objects.create(title=edition["subject"], slug="edition", newsletter=newsletter)
    Article.objects.create(post=message, title=edition["subject"], text=edition["html"], sortorder=1)
    submission = Submission.from_message(message)
    submission.publish_date = now - timedelta(minutes=1)
    submission.save()
    mail.outbox = []
    started = time.perf_counter()
    submission.submit()
    elapsed = time.perf_counter() - started
    assert len(mail.outbox) == n, len(mail.outbox)
    print(n / elapsed)


if __name__ == "__main__":
    main()
