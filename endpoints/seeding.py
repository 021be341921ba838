"""The serving templates shipped in `endpoints/serving_templates/<name>/*.tmpl`, copied into the
database by a data migration (and by `manage.py seed_serving_templates`). A template that exists
is left alone unless `update` is set: platform admins may have edited it."""

from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent / "serving_templates"


def shipped_templates():
    """{name: {filename: text}} of the templates in the repository."""
    return {
        folder.name: {path.name: path.read_text() for path in sorted(folder.glob("*.tmpl"))}
        for folder in sorted(TEMPLATES_DIR.iterdir())
        if folder.is_dir()
    }


def seed_serving_templates(template_model, file_model, update=False):
    """Create the shipped templates that are missing (and, with `update`, overwrite the others).
    Takes the model classes so a migration can pass its historical ones. Returns the names
    written."""
    written = []
    for name, files in shipped_templates().items():
        template, created = template_model.objects.get_or_create(name=name)
        if not created and not update:
            continue
        file_model.objects.filter(template=template).exclude(filename__in=files).delete()
        for filename, content in files.items():
            file_model.objects.update_or_create(
                template=template, filename=filename, defaults={"content": content}
            )
        written.append(name)
    return written
