"""The labels file of ``shopguard evaluate --labels``: read as written, refused with the file and user named."""

import json

import pytest

from shopguard.errors import ShopguardError
from shopguard.training.user_labels import UserLabel, read_labels


def write(tmp_path, body) -> str:
    path = tmp_path / "labels.json"
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return str(path)


def test_every_form_of_a_label_is_read(tmp_path):
    labels = read_labels(
        write(
            tmp_path,
            {
                "users": {
                    "n": "normal",
                    "b": "bot",
                    "c": {"type": "card_testing"},
                    "s": {"type": "scalping", "onset": "2017-11-26T01:00:00+00:00"},
                    "t": {"type": "scalping", "onset": 1511658000000},
                }
            },
        )
    )
    assert labels == {
        "n": UserLabel("normal"),
        "b": UserLabel("bot"),
        "c": UserLabel("card_testing"),
        "s": UserLabel("scalping", 1511658000000),
        "t": UserLabel("scalping", 1511658000000),
    }
    assert [label.abused for label in labels.values()] == [False, True, True, True, True]


@pytest.mark.parametrize(
    "body, problem",
    [
        ("{not json", "not a JSON labels file"),
        ({"labels": {}}, '"users"'),
        ({"users": []}, '"users"'),
        ({"users": {}}, "is empty"),
        ({"users": {"u1": 3}}, "user 'u1'"),
        ({"users": {"u1": ""}}, "non-empty"),
        ({"users": {"u1": {"onset": 5}}}, 'no "type"'),
        ({"users": {"u1": {"type": "bot", "onest": 5}}}, "unknown key(s) ['onest']"),
        ({"users": {"u1": {"type": "bot", "onset": "yesterday"}}}, "onset 'yesterday'"),
        ({"users": {"u1": {"type": "bot", "onset": "2017-11-26T01:00:00"}}}, "with an offset"),
        ({"users": {"u1": {"type": "normal", "onset": 5}}}, "a normal user has no onset"),
    ],
)
def test_a_bad_labels_file_is_refused_naming_the_file_and_the_problem(tmp_path, body, problem):
    path = write(tmp_path, body)
    with pytest.raises(ShopguardError) as refused:
        read_labels(path)
    assert path in str(refused.value) and problem in str(refused.value)


def test_a_missing_labels_file_is_named(tmp_path):
    with pytest.raises(ShopguardError, match="no such labels file"):
        read_labels(tmp_path / "nope.json")
