"""The "curator" group: curates papers and editions, manages subscribers, cannot export them or change settings."""

from __future__ import annotations

from django.db import migrations

# (app_label, codename). Deliberately absent: subscribers.export_subscriber, anything on digest.Source beyond
# viewing (what is polled is configuration), and auth/admin models (users, groups, the log itself).
CURATOR_PERMISSIONS = [
    ("digest", "view_paper"),
    ("digest", "change_paper"),
    ("digest", "view_appearance"),
    ("digest", "view_edition"),
    ("digest", "add_edition"),
    ("digest", "change_edition"),
    ("digest", "view_editionentry"),
    ("digest", "add_editionentry"),
    ("digest", "change_editionentry"),
    ("digest", "delete_editionentry"),
    ("digest", "view_digestdocument"),
    ("digest", "add_digestdocument"),
    ("digest", "change_digestdocument"),
    ("digest", "view_source"),
    ("subscribers", "view_subscriber"),
    ("subscribers", "add_subscriber"),
    ("subscribers", "change_subscriber"),
    ("subscribers", "view_suppression"),
    ("subscribers", "add_suppression"),
    ("subscribers", "view_delivery"),
    ("subscribers", "view_trackingevent"),
]


def create_curator_group(apps, schema_editor) -> None:
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after *all* migrations ran (post_migrate); a fresh database reaches this
    # migration before that, so create them now for the two apps the group needs.
    # The historical app configs have no models module, which create_permissions takes as "nothing to do".
    for label in ("digest", "subscribers"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="curator")
    for app_label, codename in CURATOR_PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def remove_curator_group(apps, schema_editor) -> None:
    apps.get_model("auth", "Group").objects.filter(name="curator").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("digest", "0001_initial"),
        ("subscribers", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="subscriber",
            options={
                "ordering": ["-created_at"],
                "permissions": [("export_subscriber", "Can export subscribers as CSV")],
            },
        ),
        migrations.RunPython(create_curator_group, remove_curator_group),
    ]
