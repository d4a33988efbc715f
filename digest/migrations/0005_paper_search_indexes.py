# Trigram indexes for the paper search in admin (a substring search over 100,000 papers), PostgreSQL only.
# Django's icontains compares UPPER(column) LIKE UPPER(term), so the indexes are over UPPER(column).

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations
from django.db.models.functions import Upper

from config.migration_ops import AddPostgresIndex


def trigram(field, name):
    return GinIndex(OpClass(Upper(field), name="gin_trgm_ops"), name=name)


class Migration(migrations.Migration):
    atomic = False  # the indexes are built concurrently

    dependencies = [
        ("digest", "0004_paper_enrichment"),
    ]

    operations = [
        TrigramExtension(),
        AddPostgresIndex("paper", trigram("title", "paper_title_trgm")),
        AddPostgresIndex("paper", trigram("abstract", "paper_abstract_trgm")),
        AddPostgresIndex("paper", trigram("arxiv_id", "paper_arxiv_id_trgm")),
    ]
