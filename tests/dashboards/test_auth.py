"""The token file (api.token_file): TOKEN or NAME TOKEN lines, errors naming the file and
line, names for the logs, no token in a repr."""
from __future__ import annotations

import pytest

from dashboards.auth import TokenBook, who
from framework.errors import HtcmesosError


def test_lines_comments_and_names(tmp_path):
    path = tmp_path / "tokens"
    path.write_text("# operators\n\nalice  tok-alice-0123\n  tok-bare-4567  \nci tok-ci\n")
    book = TokenBook.read(path)
    assert book.first == "tok-alice-0123"
    assert book.name_of("Bearer tok-alice-0123") == "alice"
    assert book.name_of("bearer tok-bare-4567") == "token"
    assert book.name_of("BEARER   tok-ci  ") == "ci"
    for header in (None, "", "Bearer", "Bearer ", "Bearer tok-ci2", "Basic tok-ci",
                   "tok-ci", "Bearer alice", "Bearer \u00e9t\u00e9"):
        assert book.name_of(header) is None, header
    assert "tok-" not in repr(book) and "tok-" not in str(book)
    assert who("alice", "10.0.0.1") == "alice@10.0.0.1" and who(None, None) == \
        "anonymous@unknown"


@pytest.mark.parametrize("content, message", [
    (b"alice tok one\n", r"tokens, line 1: a line is TOKEN or NAME TOKEN, this one has 3 words"),
    (b"# c\nal/ice tok\n", r"tokens, line 2: a NAME is letters, digits"),
    (b"a tok\nb \xff\n", r"tokens, line 2: bytes that are not ASCII"),
    (b"a tok\nb tok\n", r"tokens, line 2: the same token as line 1"),
    (b"# only a comment\n\n", r"tokens holds no token: one a line, TOKEN or NAME TOKEN"),
    (b"a tok\x7f\n", r"tokens, line 1: a token is visible ASCII characters"),
])
def test_bad_token_files_are_named_with_the_line(tmp_path, content, message):
    path = tmp_path / "tokens"
    path.write_bytes(content)
    with pytest.raises(HtcmesosError, match=message) as info:
        TokenBook.read(path)
    assert str(path) in str(info.value)
    assert "tok" not in str(info.value).replace(str(path), "").replace("token", "")


def test_a_missing_file_and_a_single_token(tmp_path):
    with pytest.raises(HtcmesosError, match=r"the API token file .*nothing: No such file"):
        TokenBook.read(tmp_path / "nothing")
    assert TokenBook.of("s3cret").name_of("Bearer s3cret") == "token"
    with pytest.raises(HtcmesosError, match="visible ASCII"):
        TokenBook.of("two words")


def test_a_token_file_others_may_read_is_said(tmp_path, caplog):
    path = tmp_path / "tokens"
    path.write_text("alice tok-alice\n")
    path.chmod(0o644)
    TokenBook.read(path)
    assert "may be read by other users (chmod 600)" in caplog.text
    assert "tok-alice" not in caplog.text
