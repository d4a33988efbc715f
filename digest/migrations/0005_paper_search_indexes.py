# A trigram index for the paper search in admin (substrings over 100,000 papers), PostgreSQL only. It indexes
# UPPER(title || ' ' || abstract || ' ' || arxiv_id) exactly as digest/admin/papers.py's search_text() builds it
# (Django's icontains compares UPPER(...) LIKE UPPER(term)), so every word of a search is a condition on one index.

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations
from django.db.models import TextField, Value
from django.db.models.functions import Coalesce, Concat, Upper

from config.migration_ops import AddPostgresIndex

SEARCH_TEXT = Concat("title", Value(" "), "abstract", Value(" "), Coalesce("arxiv_id", Value("")), output_field=TextField())


class Migration(migrations.Migration):
    atomic = False  # the index is built concurrently

    dependencies = [
        ("digest", "0004_paper_enrichment"),
    ]

    operations = [
        TrigramExtension(),
        AddPostgresIndex("paper", GinIndex(OpClass(Upper(SEARCH_TEXT), name="gin_trgm_ops"), name="paper_search_trgm")),
    ]
