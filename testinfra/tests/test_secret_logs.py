"""The check that secrets never reach the logs finds them when they do."""

import logging

from identity.models import PersonalAccessToken
from testinfra import secret_logs


def test_a_logged_token_is_found_and_nothing_else_is(db, django_user_model):
    user = django_user_model.objects.create_user("sam")
    _, token = PersonalAccessToken.issue(user)
    assert token in secret_logs.ISSUED  # the plugin remembers what tests are issued
    text = f"INFO x ok\nWARNING y refused credential {token}\nINFO z {token[:12]}\n"
    assert secret_logs.leaks(text, secret_logs.ISSUED) == [f"WARNING y refused credential {token}"]


def test_every_record_of_the_session_reaches_the_checked_file():
    logging.getLogger("modelport.check").warning("marker-61d0")
    secret_logs._log["handler"].flush()
    assert "marker-61d0" in secret_logs._log["path"].read_text()
