"""Serving templates: what they render, and the admin site's refusal to save broken ones."""

import pytest

from endpoints.models import ServingTemplate
from endpoints.rendering import TemplateError, check_template, render_template, sample_context
from endpoints.seeding import shipped_templates

pytestmark = pytest.mark.django_db

SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: {{ endpoint.name }}
spec:
  selector: {{ selector_labels|tojson }}
  ports:
    - port: 8500
"""


def test_every_shipped_template_is_seeded_and_valid():
    shipped = shipped_templates()
    assert sorted(shipped) == ["kserve", "kserve-llm", "mlserver", "ovms", "tf-serving", "vllm"]
    for name, files in shipped.items():
        assert ServingTemplate.objects.get(name=name).files() == files
        assert check_template(files)


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (SERVICE.replace("ports:", "portz:"), "'portz' was unexpected) (at spec)"),
        (SERVICE.replace("port: 8500", "port: many"), "is not of type 'integer'"),
        (SERVICE.replace("kind: Service", "kind: Secret"), "may render only"),
        (SERVICE + "  : [", "not valid YAML"),
        (SERVICE.replace("{{ endpoint.name }}", "{% if %}"), "template syntax error"),
        ("apiVersion: v1\nkind: Service\nmetadata: {}\n", "needs metadata.name"),
    ],
)
def test_a_broken_template_is_refused_with_the_reason(source, problem):
    with pytest.raises(TemplateError) as error:
        check_template({"service.tmpl": source})
    assert problem in str(error.value)


def test_language_model_templates_serve_the_newest_selected_version_under_the_endpoints_name():
    context = sample_context()  # versions 1 to 3 ready, the policy selects 1 and 2
    context["resources"] = {"limits": {"nvidia.com/gpu": "1"}}
    shipped = shipped_templates()
    deployment, service = render_template(shipped["vllm"], context)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["command"][-2:] == [
        "s3://sample-tenant/resnet/2/",
        "/mnt/models/model/",
    ]
    (serving,) = pod["containers"]
    assert "--served-model-name=sample" in serving["args"]
    assert serving["readinessProbe"]["httpGet"]["path"] == "/health"
    assert serving["resources"] == {"limits": {"nvidia.com/gpu": "1"}}
    assert service["spec"]["ports"][0]["port"] == 8000
    (inference_service,) = render_template(shipped["kserve-llm"], context)
    predictor = inference_service["spec"]["predictor"]["model"]
    assert predictor["storageUri"] == "s3://sample-tenant/resnet/2"
    assert predictor["args"] == ["--model_name=sample"]
    assert {"name": "KSERVE_OPENAI_ROUTE_PREFIX", "value": ""} in predictor["env"]


def test_objects_get_the_namespace_and_labels_whatever_the_template_says():
    source = SERVICE.replace("  name: {{ endpoint.name }}", "  name: x\n  namespace: elsewhere")
    (service,) = render_template({"service.tmpl": source}, sample_context())
    assert service["metadata"]["namespace"] == "sample-tenant"
    assert service["metadata"]["labels"]["modelport.io/endpoint"] == "sample"


def test_free_text_is_quoted_by_tojson(settings):
    context = sample_context()
    context["model"]["name"] = 'a": b'
    source = "kind: ConfigMap\nmetadata:\n  name: c\ndata:\n  m: {{ model.name|tojson }}\n"
    (config,) = render_template({"c.tmpl": source}, context)
    assert config["data"]["m"] == 'a": b'


def inline_form(files, template=None):
    data = {
        "template_files-TOTAL_FORMS": str(len(files)),
        "template_files-INITIAL_FORMS": "0",
        "template_files-MIN_NUM_FORMS": "0",
        "template_files-MAX_NUM_FORMS": "1000",
    }
    for index, (filename, content) in enumerate(files.items()):
        data[f"template_files-{index}-filename"] = filename
        data[f"template_files-{index}-content"] = content
    return data


@pytest.fixture
def admin_client(client, make_user):
    root = make_user("root", superuser=True)
    root.is_staff = True
    root.save()
    client.force_login(root)
    return client


def test_the_admin_site_saves_a_valid_template(admin_client):
    data = {"name": "plain", "description": "", **inline_form({"service.tmpl": SERVICE})}
    response = admin_client.post("/admin/endpoints/servingtemplate/add/", data)
    assert response.status_code == 302
    assert ServingTemplate.objects.get(name="plain").files() == {"service.tmpl": SERVICE}


def test_the_admin_site_refuses_a_template_that_renders_invalid_objects(admin_client):
    broken = SERVICE.replace("ports:", "portz:")
    data = {"name": "broken", "description": "", **inline_form({"service.tmpl": broken})}
    response = admin_client.post("/admin/endpoints/servingtemplate/add/", data)
    assert response.status_code == 200
    assert "This template cannot be saved" in response.content.decode()
    assert "portz" in response.content.decode()
    assert not ServingTemplate.objects.filter(name="broken").exists()


def test_seeding_keeps_edited_templates_unless_asked():
    from django.core.management import call_command

    template = ServingTemplate.objects.get(name="ovms")
    template.template_files.filter(filename="service.tmpl").update(content="edited")
    call_command("seed_serving_templates")
    assert template.files()["service.tmpl"] == "edited"
    call_command("seed_serving_templates", "--update")
    assert template.files() == shipped_templates()["ovms"]


def test_editing_a_template_reconciles_the_endpoints_that_use_it(
    admin_client, make_endpoint, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(serving="tf-serving")
    template = ServingTemplate.objects.get(name="tf-serving")
    files = template.template_files.order_by("filename")
    data = {
        "name": "tf-serving",
        "description": "",
        **inline_form({f.filename: f.content for f in files}),
        "template_files-INITIAL_FORMS": str(files.count()),
    }
    for index, row in enumerate(files):
        data[f"template_files-{index}-id"] = str(row.pk)
        data[f"template_files-{index}-template"] = str(template.pk)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/endpoints/servingtemplate/{template.pk}/change/", data
        )

    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.reconciled_at is not None  # reconciled (locally: no model uploaded yet)
    assert "has no ready version" in endpoint.message
