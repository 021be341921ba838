"""The Models tab's upload when storage misbehaves or the user changes their mind, in headless
Chromium against S3 (versitygw over HTTP): a part that fails for a passing reason is sent
again, one that keeps failing or is refused ends the upload with storage's sentence, and Cancel
stops it. Whatever the ending, storage keeps no multipart upload and the index no version unless
every file made it. Storage's failures are injected by intercepting the browser's PUTs to it;
everything else is real."""

import hashlib
import os
from urllib.parse import parse_qs, urlsplit

import pytest

from models_store.models import ModelFile, ModelVersion
from models_store.tests.conftest import MiB, pending_uploads, read_object, stored_objects

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = "/ui/t/team-a/models/"
INTERNAL_ERROR = (
    "<Error><Code>InternalError</Code>"
    "<Message>We encountered an internal error. Please try again.</Message></Error>"
)
SLOW_DOWN = (
    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
)
EXPIRED = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
BAD_SIGNATURE = (
    "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does "
    "not match the signature you provided.</Message></Error>"
)


@pytest.fixture
def store(s3, live_server, settings):
    """S3, with buckets that let the live server's pages PUT parts (set before the tenant's bucket
    is made)."""
    settings.S3_CORS_ORIGINS = [live_server.url]
    return s3


@pytest.fixture
def upload_page(page, sign_in, live_server, tenant, editor):
    """The Models tab, signed in as an editor."""
    sign_in(editor)
    page.goto(f"{live_server.url}{PAGE}")
    return page


@pytest.fixture
def model_file(tmp_path):
    """17 MiB of noise: parts 1 and 2 of 8 MiB, part 3 of 1 MiB."""
    path = tmp_path / "model.bin"
    path.write_bytes(os.urandom(17 * MiB))
    return path


def part_number(request):
    """The part a PUT to storage sends, or None for any other request."""
    if request.method != "PUT":
        return None
    return int(parse_qs(urlsplit(request.url).query)["partNumber"][0])


class Storage:
    """Stands between the page and storage: `answers[n]` is a list of (status, body) that part n's
    next PUTs get instead of storage's answer, in order (after storage took the part when
    `reaching_storage`, as when a gateway in front of it fails); `held` parts get no answer."""

    def __init__(self, page, url, origin, reaching_storage=False):
        self.origin = origin
        self.reaching_storage = reaching_storage
        self.answers = {}
        self.held = set()
        self.waiting = []
        self.puts = []
        page.route(f"{url}/**", self.handle)

    def handle(self, route):
        number = part_number(route.request)
        if number is not None:
            self.puts.append(number)
        if self.answers.get(number):
            status, body = self.answers[number].pop(0)
            # A cross-origin answer the page may read, as storage's own would be.
            headers = {
                "Access-Control-Allow-Origin": self.origin,
                "Content-Type": "application/xml",
            }
            if self.reaching_storage:
                route.fetch()
            route.fulfill(status=status, headers=headers, body=body)
        elif number in self.held:
            self.waiting.append(route)  # a very slow storage: the PUT stays open
        else:
            route.continue_()


def upload(page, path):
    page.get_by_label("Model name", exact=True).fill("iris")
    page.get_by_label("Files", exact=True).set_input_files(path)
    page.get_by_role("button", name="Upload").click()


def follow_highest_percent(page):
    """Record the highest overall percentage the page shows (in window.highestPercent)."""
    page.evaluate(
        """() => {
            const summary = document.getElementById("upload-summary");
            window.highestPercent = 0;
            new MutationObserver(() => {
                const shown = /\\((\\d+)%\\)/.exec(summary.textContent);
                if (shown) window.highestPercent = Math.max(window.highestPercent, +shown[1]);
            }).observe(summary, { childList: true, characterData: true, subtree: true });
        }"""
    )


def leaving_is_questioned(page):
    """Whether the page asks before it is closed or left (its beforeunload guard)."""
    return page.evaluate(
        """() => {
            const leaving = new Event("beforeunload", { cancelable: true });
            window.dispatchEvent(leaving);
            return leaving.defaultPrevented;
        }"""
    )


def md5_of(path):
    data = path.read_bytes()
    return hashlib.md5(data, usedforsecurity=False).hexdigest(), len(data)


def assert_nothing_kept(store, tenant):
    assert pending_uploads(store, tenant.bucket) == []
    assert stored_objects(store, tenant.bucket) == {}
    assert not ModelVersion.objects.exists()


def test_a_part_storage_fails_once_is_sent_again_and_the_file_arrives_whole(
    upload_page, live_server, s3_server, store, tenant, model_file
):
    from playwright.sync_api import expect

    storage = Storage(upload_page, s3_server.url, live_server.url, reaching_storage=True)
    storage.answers[2] = [(503, SLOW_DOWN)]
    follow_highest_percent(upload_page)

    upload(upload_page, model_file)

    expect(upload_page.locator("#upload-messages")).to_have_text(
        "Uploaded 1 file to version 1 of iris.", timeout=60_000
    )
    expect(upload_page.locator("#upload-files li")).to_contain_text("done")
    expect(upload_page.locator("#version-iris-1")).to_contain_text("17.0 MB")
    assert sorted(storage.puts) == [1, 2, 2, 3]
    assert upload_page.evaluate("window.highestPercent") == 100
    assert [(f.path, f.size) for f in ModelFile.objects.all()] == [("model.bin", 17 * MiB)]
    assert read_object(store, tenant.bucket, "iris/1/model.bin") == md5_of(model_file)
    assert pending_uploads(store, tenant.bucket) == []


def test_a_part_whose_url_expired_gets_a_new_url_and_is_sent_again(
    upload_page, live_server, s3_server, store, tenant, model_file
):
    from playwright.sync_api import expect

    storage = Storage(upload_page, s3_server.url, live_server.url)
    storage.answers[3] = [(403, EXPIRED)]
    presigned = []
    upload_page.on(
        "request", lambda request: "/upload/presign" in request.url and presigned.append(request)
    )

    upload(upload_page, model_file)

    expect(upload_page.locator("#upload-messages")).to_have_text(
        "Uploaded 1 file to version 1 of iris.", timeout=60_000
    )
    assert sorted(storage.puts) == [1, 2, 3, 3]
    assert len(presigned) == 2  # the first batch, then again for the expired URL
    assert read_object(store, tenant.bucket, "iris/1/model.bin") == md5_of(model_file)


def test_a_part_that_keeps_failing_ends_the_upload_with_storages_sentence_and_aborts_it(
    upload_page, live_server, s3_server, store, tenant, model_file
):
    from playwright.sync_api import expect

    storage = Storage(upload_page, s3_server.url, live_server.url)
    storage.answers[2] = [(500, INTERNAL_ERROR)] * 10

    upload(upload_page, model_file)

    state = upload_page.locator("#upload-files li .file-state")
    expect(state).to_have_text("retrying part 2 (attempt 4)", timeout=30_000)
    sentence = (
        "Part 2 failed 4 times. Storage failed: We encountered an internal error. Please try again."
    )
    expect(upload_page.locator("#upload-messages .message.error")).to_have_text(
        f"model.bin: {sentence}", timeout=30_000
    )
    expect(state).to_have_text(f"failed: {sentence}")
    assert storage.puts.count(2) == 4  # the first attempt and three more
    assert_nothing_kept(store, tenant)
    expect(upload_page.get_by_role("button", name="Upload")).to_be_enabled()


def test_a_part_storage_refuses_is_not_sent_again(
    upload_page, live_server, s3_server, store, tenant, model_file
):
    from playwright.sync_api import expect

    storage = Storage(upload_page, s3_server.url, live_server.url)
    storage.answers[1] = [(403, BAD_SIGNATURE)]

    upload(upload_page, model_file)

    expect(upload_page.locator("#upload-messages .message.error")).to_have_text(
        "model.bin: Storage refused a part: The request signature we calculated does not match "
        "the signature you provided.",
        timeout=30_000,
    )
    assert storage.puts.count(1) == 1
    assert_nothing_kept(store, tenant)


def test_when_a_later_file_fails_the_files_sent_before_it_are_not_kept(
    upload_page, live_server, s3_server, store, tenant, model_file, tmp_path
):
    from playwright.sync_api import expect

    storage = Storage(upload_page, s3_server.url, live_server.url)
    storage.answers[2] = [(403, BAD_SIGNATURE)]  # model.bin's; settings.json has one part
    first = tmp_path / "settings.json"
    first.write_bytes(b"{}")

    upload_page.get_by_label("Model name", exact=True).fill("iris")
    upload_page.get_by_label("Files", exact=True).set_input_files([first, model_file])
    upload_page.get_by_role("button", name="Upload").click()

    expect(upload_page.locator("#upload-messages .message.error")).to_contain_text(
        "model.bin: Storage refused a part", timeout=30_000
    )
    states = upload_page.locator("#upload-files li .file-state")
    expect(states.first).to_have_text("cancelled")
    expect(states.last).to_contain_text("failed: Storage refused a part")
    assert_nothing_kept(store, tenant)


def test_cancel_stops_the_upload_and_leaves_nothing_behind(
    upload_page, live_server, s3_server, store, tenant, model_file, tmp_path
):
    from playwright.sync_api import expect

    storage = Storage(upload_page, s3_server.url, live_server.url)
    storage.held = {2, 3}
    second = tmp_path / "settings.json"
    second.write_bytes(b"{}")
    stored = []
    upload_page.on("requestfinished", lambda request: stored.append(part_number(request)))

    upload_page.get_by_label("Model name", exact=True).fill("iris")
    upload_page.get_by_label("Files", exact=True).set_input_files([model_file, second])
    upload_page.get_by_role("button", name="Upload").click()
    cancel = upload_page.get_by_role("button", name="Cancel")
    expect(cancel).to_be_visible()
    # Mid-upload: part 1 is in storage, parts 2 and 3 are on their way.
    for _ in range(300):
        if 1 in stored and len(storage.waiting) == 2:
            break
        upload_page.wait_for_timeout(100)
    assert 1 in stored and len(storage.waiting) == 2
    assert len(pending_uploads(store, tenant.bucket)) == 1
    assert ModelVersion.objects.filter(name="iris", version=1).exists()
    assert leaving_is_questioned(upload_page)
    cancel.click()

    expect(upload_page.locator("#upload-messages")).to_have_text("Upload cancelled.")
    expect(upload_page.locator("#upload-files li .file-state")).to_have_text(
        ["cancelled", "cancelled"]
    )
    expect(cancel).to_be_hidden()
    expect(upload_page.get_by_role("button", name="Upload")).to_be_enabled()
    assert not leaving_is_questioned(upload_page)
    assert_nothing_kept(store, tenant)
    upload_page.reload()
    expect(upload_page.locator("#model-list")).to_contain_text("0 versions")
    expect(upload_page.locator("#version-iris-1")).to_have_count(0)
