# Delivery and subscriber figures kept by database triggers (subscribers/counts.py), so that no admin page counts
# millions of rows. Installing the triggers also counts the rows already there.

import django.db.models.deletion
from django.db import migrations, models


def install(apps, schema_editor):
    from subscribers.counts import DELIVERIES, SUBSCRIBERS, install_count_triggers

    install_count_triggers(schema_editor.connection, specs=(DELIVERIES, SUBSCRIBERS))


def drop(apps, schema_editor):
    from subscribers.counts import DELIVERIES, SUBSCRIBERS, drop_count_triggers

    drop_count_triggers(schema_editor.connection, specs=(DELIVERIES, SUBSCRIBERS))


class Migration(migrations.Migration):

    dependencies = [
        ('digest', '0003_representation'),
        ('subscribers', '0006_votes_profiles'),
    ]

    operations = [
        migrations.CreateModel(
            name='DeliveryCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(max_length=10)),
                ('n', models.BigIntegerField()),
                ('edition', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='digest.edition')),
            ],
            options={
                'indexes': [models.Index(fields=['edition', 'status', 'n'], name='deliverycount_key')],
            },
        ),
        migrations.CreateModel(
            name='SubscriberCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(max_length=12)),
                ('n', models.BigIntegerField()),
            ],
            options={
                'indexes': [models.Index(fields=['status', 'n'], name='subscribercount_key')],
            },
        ),
        migrations.RunPython(install, drop),
    ]
