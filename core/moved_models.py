"""For migrations that move models from one app to another without touching their tables: the
new app's first migration adopts the tables in its state only, and the rows that name the models
by app (content types, and through them permissions and the admin's history) follow."""

from django.db import migrations


def adopt_content_types(old_app, new_app, models):
    """A migration operation that relabels the content types of `models` (lowercase names) from
    `old_app` to `new_app`, and back when the migration is reversed. A database migrated before
    the move keeps its permissions and admin history; a new one has no content types yet."""

    def relabel(source, target):
        def run(apps, schema_editor):
            content_types = apps.get_model("contenttypes", "ContentType").objects
            for model in models:
                if not content_types.filter(app_label=target, model=model).exists():
                    content_types.filter(app_label=source, model=model).update(app_label=target)

        return run

    return migrations.RunPython(relabel(old_app, new_app), relabel(new_app, old_app))
