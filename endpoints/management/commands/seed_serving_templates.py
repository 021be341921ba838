from django.core.management.base import BaseCommand
from django.db import transaction

from endpoints.models import ServingTemplate, ServingTemplateFile
from endpoints.seeding import seed_serving_templates


class Command(BaseCommand):
    help = (
        "Copy the serving templates shipped in endpoints/serving_templates/ into the database. "
        "Existing templates are kept unless --update is given."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--update", action="store_true", help="Overwrite templates that already exist."
        )

    @transaction.atomic
    def handle(self, *args, update=False, **options):
        written = seed_serving_templates(ServingTemplate, ServingTemplateFile, update=update)
        self.stdout.write(f"Serving templates written: {', '.join(written) or 'none'}.")
