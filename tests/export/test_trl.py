"""Exports read by TRL's own data utilities (``trl.data_utils``), offline, in a child
process: the preference formats (standard and conversational) and tool-calling
conversations are recognised for what they are and render through a chat template the way
DPOTrainer and SFTTrainer prepare them."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.policies import load_policies
from tests.export._build import make_run, run_datasets_child
from tests.export.test_preference import _export, _run
from tests.export.test_tool_export import tool_record

pytest.importorskip("trl", reason="TRL is in the dev extra")

# A tokenizer built in memory (nothing downloaded) whose chat template renders every turn,
# its tool calls and the tool list, so what TRL hands the template is visible in the text.
_TRL = r"""
import json, sys
from pathlib import Path
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast
from trl.data_utils import apply_chat_template, is_conversational, maybe_apply_chat_template

tok = PreTrainedTokenizerFast(
    tokenizer_object=Tokenizer(WordLevel({"[UNK]": 0}, unk_token="[UNK]")), unk_token="[UNK]"
)
tok.chat_template = (
    "{% if tools %}[tools {% for t in tools %}{{ t.function.name }} {% endfor %}]\n{% endif %}"
    "{% for m in messages %}<|{{ m.role }}|>{{ m.content or '' }}"
    "{% for c in m.tool_calls or [] %}[call {{ c.function.name }} "
    "{{ c.function.arguments | tojson }}]{% endfor %}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
rows = [json.loads(l) for l in (Path(sys.argv[1]) / "train.jsonl").read_text().splitlines()]
out = []
for row in rows:
    conv = is_conversational(row)
    if conv:
        done = apply_chat_template(row, tok, tools=row.get("tools"))
    else:
        done = maybe_apply_chat_template(row, tok)
    out.append({"conversational": conv, "keys": sorted(done), "text": done})
print(json.dumps(out))
"""


def test_trl_reads_standard_preference_rows_as_they_are(tmp_path: Path) -> None:
    run = _run(tmp_path)
    _export(run, tmp_path / "out", "trl-preference")
    got = run_datasets_child(_TRL, tmp_path / "out", tmp_path)
    assert len(got) == 6
    for row in got:
        assert not row["conversational"]  # plain strings: DPOTrainer uses them as text
        assert row["keys"] == ["chosen", "prompt", "rejected"]
        assert "Probably." in row["text"]["rejected"]


def test_trl_renders_conversational_preference_rows_through_the_chat_template(
    tmp_path: Path,
) -> None:
    run = _run(tmp_path, system=True)
    _export(run, tmp_path / "out", "trl-preference-chat")
    got = run_datasets_child(_TRL, tmp_path / "out", tmp_path)
    assert len(got) == 6
    for row in got:
        assert row["conversational"] and row["keys"] == ["chosen", "prompt", "rejected"]
        text = row["text"]
        assert text["prompt"].endswith("<|assistant|>")  # the prompt asks for the answer
        assert "<|user|>" not in text["chosen"] and "Probably." in text["rejected"]
    with_system = [r for r in got if "<|system|>" in r["text"]["prompt"]]
    assert len(with_system) == 3  # the system turns made it into the prompt


def test_trl_renders_tool_calling_conversations_with_their_tools(tmp_path: Path) -> None:
    pol = load_policies()["openai"]
    run = make_run(tmp_path, [tool_record(i, pol) for i in range(4)])
    from generator.export.job import ExportOptions, run_export

    run_export(ExportOptions(run, "trl-chat", "evaluation", tmp_path / "t"))
    got = run_datasets_child(_TRL, tmp_path / "t", tmp_path)
    assert len(got) == 4
    for i, row in enumerate(got):
        assert row["conversational"] and row["keys"] == ["text"]
        text = row["text"]["text"]
        assert text.startswith("[tools search section ]")  # the record's catalogue
        assert "<|tool|>" in text and "[call " in text
        want = '"query": "leave rule' if i % 2 else '"page": '
        assert want in text  # the call's own arguments, as an object
