"""Migration operations for indexes on big tables, used by both apps' migrations.

Both build the index with ``CREATE INDEX CONCURRENTLY`` on PostgreSQL, so adding one to a table of a million rows
does not block sign-ups or sends while it builds; a migration using them sets ``atomic = False``.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.migrations.operations import AddIndex
from django.db.migrations.operations.base import Operation


def _postgresql(schema_editor: Any) -> bool:
    return schema_editor.connection.vendor == "postgresql"


class AddIndexOnline(AddIndex):
    """``AddIndex``, built concurrently on PostgreSQL; a plain ``CREATE INDEX`` elsewhere."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if _postgresql(schema_editor):
            schema_editor.add_index(model, self.index, concurrently=True)
        else:
            schema_editor.add_index(model, self.index)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if _postgresql(schema_editor):
            schema_editor.remove_index(model, self.index, concurrently=True)
        else:
            schema_editor.remove_index(model, self.index)


class AddPostgresIndex(Operation):
    """An index only PostgreSQL has (GIN over trigrams, say), built concurrently; nothing at all on SQLite.

    It stays out of the model's state on purpose: SQLite rebuilds a table from that state when a later migration
    alters it, and could not create this index.
    """

    reversible = True

    def __init__(self, model_name: str, index: models.Index) -> None:
        self.model_name = model_name
        self.index = index

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if _postgresql(schema_editor) and self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, concurrently=True)
            # The planner's estimate for a condition on an indexed expression comes from statistics that ANALYZE
            # gathers for the index; until autovacuum gets to a big, quiet table it would guess, and badly.
            schema_editor.execute(f"ANALYZE {schema_editor.quote_name(model._meta.db_table)}")

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if _postgresql(schema_editor) and self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)

    def describe(self) -> str:
        return f"Create index {self.index.name} on {self.model_name} (PostgreSQL only)"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.model_name.lower()}_{self.index.name.lower()}"


class RemovePostgresIndex(AddPostgresIndex):
    """Drops (concurrently) an index ``AddPostgresIndex`` made; reversing the migration builds it again."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        super().database_backwards(app_label, schema_editor, to_state, from_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        super().database_forwards(app_label, schema_editor, to_state, from_state)

    def describe(self) -> str:
        return f"Remove index {self.index.name} from {self.model_name} (PostgreSQL only)"

    @property
    def migration_name_fragment(self) -> str:
        return f"remove_{self.model_name.lower()}_{self.index.name.lower()}"
