from __future__ import annotations

from collections.abc import Iterator
from importlib import import_module

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.cache import cache
from django.test import Client

from config.celery import app as celery_app


@pytest.fixture(autouse=True)
def eager_tasks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run enqueued tasks in-process so confirmation emails reach the test backend instead of piling up in Redis."""
    if request.node.get_closest_marker("realparts"):
        yield
        return
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    cache.clear()
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


@pytest.fixture
def superuser(db: None) -> User:
    return User.objects.create_superuser("root", "root@example.org", "root-password")


def curator_group() -> Group:
    """The "curator" group the data migration creates.

    A transactional test (the browser tests) ends with a flush, which empties every table; permissions come back
    (post_migrate) but the group does not, so it is made again here from the migration's own list.
    """
    group = Group.objects.filter(name="curator").first()
    if group is not None:
        return group
    migration = import_module("subscribers.migrations.0002_curator_group")
    group = Group.objects.create(name="curator")
    for app_label, codename in migration.CURATOR_PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return group


@pytest.fixture
def curator(db: None) -> User:
    """A staff member in the "curator" group, with no permissions of their own."""
    user = User.objects.create_user("carla", "carla@example.org", "carla-password", is_staff=True)
    user.groups.add(curator_group())
    return user


@pytest.fixture
def root_client(superuser: User) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def curator_client(curator: User) -> Client:
    client = Client()
    client.force_login(curator)
    return client


# The session-wide headless Chromium comes from the tests.support.browser plugin, shared rather than launched twice.


@pytest.fixture
def admin_page(browser, live_server, settings):
    """A desktop-sized page whose relative URLs go to the live server."""
    settings.SITE_URL = live_server.url
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()
