"""paperzoo.shared.cache: keys, hits, misses, a corrupt file rebuilt, the cache disabled."""

import hashlib
import json

import pytest

from paperzoo.shared.cache import cached, config_key


def write_text(value: str, path) -> None:
    path.write_text(value)


def read_text(path) -> str:
    text = path.read_text()
    if not text.startswith("ok:"):
        raise ValueError("damaged")
    return text


def test_config_key_is_the_sorted_json_hash_and_changes_with_any_field():
    fields = {"b": [1, 2], "a": 0.5}
    assert config_key(fields) == hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
    assert config_key({"a": 0.5, "b": [1, 2]}) == config_key(fields)  # key order does not matter
    assert config_key({**fields, "a": 0.25}) != config_key(fields)
    assert len(config_key(fields, length=8)) == 8
    with pytest.raises(ValueError, match="length"):
        config_key(fields, length=0)


def test_miss_then_hit_and_a_corrupt_file_is_rebuilt(tmp_path):
    calls = []

    def build() -> str:
        calls.append(1)
        return f"ok:{len(calls)}"

    first, info1 = cached(tmp_path, "thing", "abc", build, write_text, read_text, suffix="txt")
    second, info2 = cached(tmp_path, "thing", "abc", build, write_text, read_text, suffix="txt")
    assert (first, second, len(calls)) == ("ok:1", "ok:1", 1)
    assert (info1["cache_hit"], info2["cache_hit"]) == (0.0, 1.0)
    assert info1["path"] == str(tmp_path / "thing-abc.txt") and [p.name for p in tmp_path.iterdir()] == [
        "thing-abc.txt"
    ]
    (tmp_path / "thing-abc.txt").write_text("garbage")
    rebuilt, info3 = cached(tmp_path, "thing", "abc", build, write_text, read_text, suffix="txt")
    assert (rebuilt, info3["cache_hit"]) == ("ok:2", 0.0)
    assert cached(tmp_path, "thing", "abc", build, write_text, read_text, suffix="txt")[0] == "ok:2"


def test_disabled_cache_always_builds_and_bad_names_are_refused(tmp_path):
    value, info = cached(None, "thing", "abc", lambda: "ok:x", write_text, read_text)
    assert (value, info["cache_hit"], info["path"]) == ("ok:x", 0.0, None)
    with pytest.raises(ValueError, match="name"):
        cached(tmp_path, "a/b", "abc", lambda: "ok", write_text, read_text)
    with pytest.raises(ValueError, match="key"):
        cached(tmp_path, "thing", "", lambda: "ok", write_text, read_text)
