# The paper search's text (title, abstract and arXiv id, upper-cased) as a stored generated column with its own
# trigram index, in place of the index over the expression (0005): a found paper is then checked against the
# stored text instead of upper-casing its abstract again on every search. PostgreSQL rewrites the paper table to add
# the column (about 5 s at 100,000 papers, writes to papers waiting meanwhile); the index is built concurrently.

import django.db.models.functions.comparison
import django.db.models.functions.text
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import migrations, models
from django.db.models import TextField, Value
from django.db.models.functions import Coalesce, Concat, Upper

import digest.models
from config.migration_ops import AddPostgresIndex, RemovePostgresIndex

# The expression index of migration 0005, dropped once the column's index exists.
OLD_SEARCH_TEXT = Concat("title", Value(" "), "abstract", Value(" "), Coalesce("arxiv_id", Value("")), output_field=TextField())


class Migration(migrations.Migration):
    atomic = False  # the indexes are built and dropped concurrently

    dependencies = [
        ('digest', '0006_edition_held_reason'),
    ]

    operations = [
        migrations.AddField(
            model_name='paper',
            name='search_text',
            field=models.GeneratedField(db_persist=True, expression=django.db.models.functions.text.Upper(django.db.models.functions.text.Concat('title', models.Value(' '), 'abstract', models.Value(' '), django.db.models.functions.comparison.Coalesce('arxiv_id', models.Value('')), output_field=models.TextField())), output_field=digest.models.UpperCasedText()),
        ),
        AddPostgresIndex("paper", GinIndex(OpClass("search_text", name="gin_trgm_ops"), name="paper_search_text_trgm")),
        RemovePostgresIndex("paper", GinIndex(OpClass(Upper(OLD_SEARCH_TEXT), name="gin_trgm_ops"), name="paper_search_trgm")),
    ]
