# Subscribers per day of each dated event (signed up, confirmed, unsubscribed, bounced, complained), kept by
# database triggers (subscribers/counts.py) for the dashboard's daily charts. Installing the triggers also counts
# the rows already there; meanwhile writes to the subscriber table wait (a few seconds at a million rows).

from django.db import migrations, models


def install(apps, schema_editor):
    from subscribers.counts import SUBSCRIBER_DAYS, install_count_triggers

    install_count_triggers(schema_editor.connection, specs=(SUBSCRIBER_DAYS,))


def drop(apps, schema_editor):
    from subscribers.counts import SUBSCRIBER_DAYS, drop_count_triggers

    drop_count_triggers(schema_editor.connection, specs=(SUBSCRIBER_DAYS,))


class Migration(migrations.Migration):

    dependencies = [
        ('subscribers', '0011_delivery_no_db_foreign_keys'),
    ]

    operations = [
        migrations.CreateModel(
            name='SubscriberDayCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('event', models.CharField(max_length=20)),
                ('day', models.DateField()),
                ('n', models.BigIntegerField()),
            ],
            options={
                'indexes': [models.Index(fields=['day', 'event', 'n'], name='subscriberdaycount_key')],
            },
        ),
        migrations.RunPython(install, drop),
    ]
