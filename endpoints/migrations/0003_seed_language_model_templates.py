from django.db import migrations

from endpoints.seeding import seed_serving_templates


def seed(apps, schema_editor):
    """The templates shipped since 0002 (vllm, kserve-llm); existing ones are left alone."""
    seed_serving_templates(
        apps.get_model("endpoints", "ServingTemplate"),
        apps.get_model("endpoints", "ServingTemplateFile"),
    )


class Migration(migrations.Migration):
    dependencies = [("endpoints", "0002_seed_serving_templates")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
