"""Atomic writes never leave a partial file behind."""

from __future__ import annotations

import os

import pytest

from asap.repro.io import read_jsonl, write_jsonl


def test_failed_write_keeps_previous_content(tmp_path):
    path = tmp_path / "out.jsonl"
    write_jsonl(path, [{"a": 1}])

    def broken():
        yield {"a": 2}
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        write_jsonl(path, broken())
    assert list(read_jsonl(path)) == [{"a": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_output_is_stable_and_readable(tmp_path):
    path = tmp_path / "out.jsonl"
    write_jsonl(path, [{"b": 1, "a": "é"}])
    assert path.read_text(encoding="utf-8") == '{"a": "é", "b": 1}\n'
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600
