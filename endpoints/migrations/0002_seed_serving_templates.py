from django.db import migrations

from endpoints.seeding import seed_serving_templates


def seed(apps, schema_editor):
    seed_serving_templates(
        apps.get_model("endpoints", "ServingTemplate"),
        apps.get_model("endpoints", "ServingTemplateFile"),
    )


class Migration(migrations.Migration):
    dependencies = [("endpoints", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
