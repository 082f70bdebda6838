import csv
import io
import json
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from classifier.ml import LABELS
from classifier.models import Prediction


def _write_csv(path, rows, header=("id", "text", "channel")):
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.mark.django_db
def test_csv_in_csv_out_keeps_every_column_adds_scores_and_stores_nothing(tmp_path):
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    rows = [
        (i, text, "#general")
        for i, text in enumerate(
            ["you are a complete idiot", "have a great stream", 'line\nbreak, "quoted"'] * 4000
        )
    ]
    _write_csv(source, rows)
    out = io.StringIO()
    call_command("classify", input=str(source), output=str(target), text_column="text", stdout=out)
    assert "Scored 12000 of 12000 rows" in out.getvalue()
    with target.open(encoding="utf-8", newline="") as fh:
        result = list(csv.DictReader(fh))
    assert len(result) == 12000
    assert list(result[0]) == ["id", "text", "channel", *LABELS, "flagged"]
    assert result[2]["text"] == 'line\nbreak, "quoted"'
    assert result[5]["id"] == "5" and result[5]["channel"] == "#general"
    assert all(0.0 <= float(row[label]) <= 1.0 for row in result[:50] for label in LABELS)
    assert {row["flagged"] for row in result} <= {"true", "false"}
    assert result[0]["flagged"] == "true" and result[1]["flagged"] == "false"
    assert not Prediction.objects.exists()


@pytest.mark.django_db  # scoring reads the moderators' threshold policy
def test_jsonl_from_stdin_to_stdout_keeps_fields(tmp_path):
    lines = [
        json.dumps({"message": "you are a complete idiot", "meta": {"user": "a"}}),
        "",
        json.dumps({"message": "hi"}),
    ]
    out = io.StringIO()
    call_command(
        "classify",
        input="-",
        output="-",
        format="jsonl",
        text_column="message",
        stdin=io.StringIO("\n".join(lines)),
        stdout=out,
    )
    result = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [row["message"] for row in result] == ["you are a complete idiot", "hi"]
    assert result[0]["meta"] == {"user": "a"}
    assert isinstance(result[0]["flagged"], bool) and isinstance(result[0]["toxic"], float)


@pytest.mark.django_db  # scoring reads the moderators' threshold policy
def test_csv_to_jsonl_by_extension(tmp_path):
    source, target = tmp_path / "in.csv", tmp_path / "out.jsonl"
    _write_csv(source, [(1, "hello", "x")])
    call_command("classify", input=str(source), output=str(target), verbosity=0)
    (row,) = [json.loads(line) for line in target.read_text().splitlines()]
    assert row["id"] == "1" and set(LABELS) <= set(row)


def test_missing_column_names_the_columns_and_writes_no_output(tmp_path):
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    _write_csv(source, [(1, "hello", "x")])
    with pytest.raises(CommandError, match="no column 'body'; its columns are id, text, channel"):
        call_command("classify", input=str(source), output=str(target), text_column="body")
    assert list(tmp_path.iterdir()) == [source]


def test_unreadable_input_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("classify", input=str(tmp_path / "absent.csv"), output=str(tmp_path / "out.csv"))


def test_invalid_utf8_input_is_a_clear_error(tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(b"text\nbad \xff\xfe bytes\n")
    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("classify", input=str(source), output=str(tmp_path / "out.csv"))
    assert not (tmp_path / "out.csv").exists()


def test_invalid_json_line_is_a_clear_error(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "ok"}\n{broken\n')
    with pytest.raises(CommandError, match="Line 2 is not valid JSON"):
        call_command("classify", input=str(source), output=str(tmp_path / "out.jsonl"))
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.django_db
def test_rows_without_text_are_kept_with_empty_scores_and_counted(tmp_path):
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    rows = [(1, "you are a complete idiot", "#a"), (2, "", "#a"), (3, " \u200b ", "#b"), (4, "gg", "#b")]
    _write_csv(source, rows)
    out, err = io.StringIO(), io.StringIO()
    call_command("classify", input=str(source), output=str(target), stdout=out, stderr=err)
    assert "Scored 2 of 4 rows" in out.getvalue()
    assert "2 of 4 rows had no text to score" in err.getvalue()
    with target.open(encoding="utf-8", newline="") as fh:
        result = list(csv.DictReader(fh))
    assert [row["id"] for row in result] == ["1", "2", "3", "4"]
    assert result[0]["flagged"] == "true" and float(result[0]["insult"]) > 0.5
    assert all(result[i][name] == "" for i in (1, 2) for name in [*LABELS, "flagged"])
    assert 0.0 <= float(result[3]["toxic"]) <= 1.0


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ('{"msg": "hi"}', "Line 2 has no field 'text'; its fields are msg. Name the text's field with"),
        ('{"text": null}', "Line 2: 'text' must be a string, not null"),
        ('{"text": 5}', "Line 2: 'text' must be a string, not int"),
    ],
)
def test_a_json_line_without_text_says_what_it_has(tmp_path, line, error):
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "ok"}\n' + line + "\n")
    with pytest.raises(CommandError, match=re.escape(error)):
        call_command("classify", input=str(source), output=str(tmp_path / "out.jsonl"))
    assert not (tmp_path / "out.jsonl").exists()


def test_unknown_extension_asks_for_format(tmp_path):
    with pytest.raises(CommandError, match="--format"):
        call_command("classify", input=str(tmp_path / "in.txt"), output="-")


@pytest.mark.django_db  # scoring reads the moderators' threshold policy
def test_existing_label_columns_need_a_prefix(tmp_path):
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    _write_csv(source, [("hello", 0)], header=("text", "toxic"))
    with pytest.raises(CommandError, match="--prefix"):
        call_command("classify", input=str(source), output=str(target))
    call_command("classify", input=str(source), output=str(target), prefix="score_", verbosity=0)
    with target.open(encoding="utf-8", newline="") as fh:
        (row,) = csv.DictReader(fh)
    assert row["toxic"] == "0" and 0 <= float(row["score_toxic"]) <= 1


def test_row_with_more_fields_than_the_header_is_a_clear_error(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("text,id\nhello,1\nyou idiot,2,extra\n", encoding="utf-8")
    with pytest.raises(CommandError, match="Line 3 has more fields than the header"):
        call_command("classify", input=str(source), output=str(tmp_path / "out.csv"))
    assert not (tmp_path / "out.csv").exists()
