"""Training-record normalisation on the real CodeForces-CoTs slice and on every reject reason."""

from __future__ import annotations

import json

import pytest

from asap.data import sources
from asap.data.cots import (
    REJECT_REASONS,
    CodeRule,
    extract_python_block,
    normalise_records,
    split_generation,
)
from asap.repro.io import DataError, read_jsonl

RAW = "data/raw/codeforces_cots/codeforces_cots_solutions_py_decontaminated_sample.jsonl"


@pytest.fixture(scope="module")
def raw_rows(repo_root):
    return list(read_jsonl(repo_root / RAW))


def test_real_slice_normalises(raw_rows):
    records, report = normalise_records(raw_rows, RAW)
    assert report.kept == len(raw_rows) == len(records)
    assert sum(len(ids) for ids in report.rejected.values()) == 0
    for raw, record in zip(raw_rows, records, strict=True):
        assert record["id"] == raw["id"]
        assert record["question"] == raw["prompt"]
        # The generation is rebuilt exactly from its parts, up to the whitespace we strip.
        generation = raw["generation"]
        assert record["cot"] in generation and record["answer"] in generation
        assert generation.index(record["cot"]) < generation.index("</think>")
        assert generation.index(record["answer"]) > generation.index("</think>")
        assert "<think>" not in record["cot"] and "</think>" not in record["answer"]
        compile(record["code"], record["id"], "exec")  # the extracted program is valid Python
        assert record["meta"]["title"] == raw["title"]


def _row(**overrides):
    row = {
        "id": "1/A",
        "prompt": "Solve it.",
        "generation": "<think>\nstep one\n\nstep two\n</think>\n\n```python\nprint(1)\n```",
        "finish_reason": "stop",
    }
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"generation": ""}, "empty"),
        ({"generation": "   \n"}, "empty"),
        ({"generation": "<think>\n\n</think>\n```python\nprint(1)\n```"}, "empty"),
        ({"finish_reason": "length"}, "truncated"),
        ({"generation": "no tags here\n```python\nprint(1)\n```"}, "no_think"),
        ({"generation": "<think>\nunclosed reasoning ```python\nprint(1)\n```"}, "no_think"),
        ({"generation": "<think>\nreasoning\n</think>\nJust prose, no code."}, "no_code"),
        ({"generation": "<think>\n```python\nx=1\n```\n</think>\nno code after"}, "no_code"),
        ({"generation": None}, "missing_field"),
    ],
)
def test_each_reject_reason(overrides, reason):
    records, report = normalise_records([_row(**overrides)], "test")
    assert records == []
    assert report.rejected[reason] == ["1/A"]
    assert report.as_dict()["rejected_total"] == 1


def test_duplicate_id_is_rejected_and_reasons_are_complete():
    records, report = normalise_records([_row(), _row(), _row(id="2/B")], "test")
    assert [r["id"] for r in records] == ["1/A", "2/B"]
    assert report.rejected["duplicate_id"] == ["1/A"]
    assert set(report.as_dict()["rejected"]) == set(REJECT_REASONS)


def test_limit_counts_accepted_records():
    rows = [_row(id="1", finish_reason="length"), _row(id="2"), _row(id="3"), _row(id="4")]
    records, report = normalise_records(rows, "test", limit=2)
    assert [r["id"] for r in records] == ["2", "3"]
    assert report.read == 3 and report.rejected["truncated"] == ["1"]


def test_split_and_extract_keep_exact_text():
    cot, answer = split_generation("<think>\n a\n\nb \n</think>\n\ntext\n```python\nx = 1\n```\n")
    assert cot == "a\n\nb" and answer.startswith("text")
    two_blocks = "```python\nfirst()\n```\nthen\n```python\n  second()\n```"
    assert extract_python_block(two_blocks) == "  second()"
    assert extract_python_block("```\nplain\n```") is None


AUTHORS = CodeRule(code_fence="python_or_bare", code_block="first")


@pytest.mark.parametrize(
    ("answer", "ours", "authors"),
    [
        ("```python\nfirst()\n```\nthen\n```python\nsecond()\n```", "second()", "first()"),
        ("```Python\nx = 1\n```", None, "x = 1"),
        ("```PYTHON\nx = 1\n```", None, "x = 1"),
        ("```\nplain()\n```", None, "plain()"),
        ("```python3\nx = 3\n```", "x = 3", None),
        ("```cpp\nint main(){}\n```", None, None),
        ("no code at all", None, None),
    ],
)
def test_code_fence_and_block_rules(answer, ours, authors):
    assert extract_python_block(answer) == ours
    assert extract_python_block(answer, AUTHORS) == authors


def test_the_authors_rule_keeps_records_with_bare_fences():
    row = _row(generation="<think>\nreason\n</think>\n```Python\nprint(2)\n```\n```\nprint(3)\n```")
    kept, report = normalise_records([row], "test")
    assert kept == [] and report.rejected["no_code"] == ["1/A"]
    kept, _ = normalise_records([row], "test", rule=AUTHORS)
    assert kept[0]["code"] == "print(2)"
    with pytest.raises(ValueError, match="code_fence"):
        CodeRule(code_fence="any")


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(_row()) + "\n\n" + '{"id": "2", "prompt": \n')
    with pytest.raises(DataError, match=r"rows\.jsonl:3: malformed JSON"):
        list(read_jsonl(path))
    path.write_text("[1, 2]\n")
    with pytest.raises(DataError, match=r"rows\.jsonl:1: expected a JSON object"):
        list(read_jsonl(path))


def test_hub_loader_path_reads_local_files(repo_root):
    """The `datasets` code path the paper profile uses for the hub, run on the local slice."""
    spec = {"hub": "json", "data_files": str(repo_root / RAW), "split": "train"}
    rows = list(sources.iter_rows(spec))
    local = list(read_jsonl(repo_root / RAW))
    assert [r["id"] for r in rows] == [r["id"] for r in local]
    records, _ = normalise_records(rows, sources.describe(spec))
    assert [r["cot"] for r in records] == [r["cot"] for r in normalise_records(local, RAW)[0]]
    with pytest.raises(DataError, match="needs 'path', 'hub' or 'releases'"):
        sources.describe({"url": "x"})


def test_limit_counts_kept_records_or_rows_read():
    rows = [_row(id="1", generation="no think"), _row(id="2"), _row(id="3"), _row(id="4")]
    kept, _ = normalise_records(rows, "test", limit=2)
    assert [r["id"] for r in kept] == ["2", "3"]
    kept, report = normalise_records(rows, "test", limit=2, limit_applies_to="read")
    assert [r["id"] for r in kept] == ["2"] and report.read == 2
