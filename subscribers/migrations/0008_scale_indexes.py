# Indexes for admin pages over a million subscribers, built without blocking writes on PostgreSQL: the dashboard's
# daily figures, the subscriber list's order, tracking events by message id, an edition's newest problems, and trigram indexes for substring
# search (PostgreSQL only; Django's icontains compares UPPER(column) LIKE UPPER(term)).

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import migrations, models
from django.db.models.functions import Cast, Upper

from config.migration_ops import AddIndexOnline, AddPostgresIndex


def trigram(expression, name):
    return GinIndex(OpClass(Upper(expression), name="gin_trgm_ops"), name=name)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('digest', '0005_paper_search_indexes'),  # creates the pg_trgm extension
        ('subscribers', '0007_counts'),
    ]

    operations = [
        AddIndexOnline(
            model_name='subscriber',
            index=models.Index(fields=['created_at'], name='subscriber_created_at'),
        ),
        AddIndexOnline(
            model_name='subscriber',
            index=models.Index(fields=['confirmed_at'], name='subscriber_confirmed_at'),
        ),
        AddIndexOnline(
            model_name='subscriber',
            index=models.Index(fields=['unsubscribed_at'], name='subscriber_unsubscribed_at'),
        ),
        AddIndexOnline(
            model_name='subscriber',
            index=models.Index(fields=['bounced_at'], name='subscriber_bounced_at'),
        ),
        AddIndexOnline(
            model_name='subscriber',
            index=models.Index(fields=['complained_at'], name='subscriber_complained_at'),
        ),
        AddIndexOnline(
            model_name='trackingevent',
            index=models.Index(fields=['esp_message_id'], name='trackingevent_message_id'),
        ),
        AddIndexOnline(
            model_name='delivery',
            index=models.Index(condition=models.Q(('status__in', ['failed', 'bounced', 'complained', 'ambiguous'])), fields=['edition', '-updated_at'], name='delivery_problems'),
        ),
        AddPostgresIndex('subscriber', trigram('email', 'subscriber_email_trgm')),
        AddPostgresIndex('subscriber', trigram(Cast('keywords', models.TextField()), 'subscriber_keywords_trgm')),
        AddPostgresIndex('trackingevent', trigram('recipient', 'trackingevent_recipient_trgm')),
    ]
