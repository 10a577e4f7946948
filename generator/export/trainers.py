"""``export --trainer-config trl,axolotl,llamafactory``: ready config snippets beside the data.

Each points at this export's data files (absolute paths) and maps its columns to what the
trainer reads; all three load the files with Hugging Face ``datasets`` (``json`` or
``parquet``), which the tests do with each snippet's own mapping.

- ``trl_dataset.py`` (TRL): ``load()`` returns the ``DatasetDict`` in a TRL dataset type
  (conversational ``messages`` (+ ``tools``) for chat formats, ShareGPT turned into
  ``messages``, Alpaca and prompt-completion as ``prompt``/``completion``, preference pairs
  as TRL's two preference types), with the ``SFTTrainer`` / ``DPOTrainer`` call in its
  docstring;
- ``axolotl_datasets.yaml`` (axolotl): the ``datasets:`` (and ``test_datasets:``) entries,
  ``type: chat_template`` with ``field_messages`` and ``message_property_mappings`` for chat
  formats, ``type: alpaca``, a user-defined prompt/completion type, or for
  ``trl-preference`` ``rl: dpo`` with the user-defined prompt/chosen/rejected type;
- ``dataset_info.json`` (LLaMA-Factory): one entry per split (``formatting: sharegpt`` with
  its ``columns`` and ``tags`` for chats, the alpaca columns otherwise, ``ranking: true``
  with prompt/chosen/rejected for ``trl-preference``); set
  ``dataset_dir`` to the export folder. Tool calls are not mapped (LLaMA-Factory writes them
  as ``function_call``/``observation`` turns): an export holding them is refused for it,
  as is ``trl-preference-chat`` by axolotl and LLaMA-Factory (no mapping of turn lists).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator.errors import ConfigError

TRAINERS = ("trl", "axolotl", "llamafactory")
FILES = {
    "trl": "trl_dataset.py",
    "axolotl": "axolotl_datasets.yaml",
    "llamafactory": "dataset_info.json",
}
# export format -> row layout (parquet: the records' own format, decided at export)
LAYOUTS = {
    "openai-chat": "messages",
    "trl-chat": "messages",
    "sharegpt": "sharegpt",
    "alpaca": "alpaca",
    "alpaca-json": "alpaca",
    "prompt-completion": "completion",
    # preference pairs (export/preference.py): DPOTrainer's two preference types
    "trl-preference": "preference",
    "trl-preference-chat": "preference_chat",
}
_PARQUET = {"chat": "messages", "alpaca": "alpaca", "completion": "completion"}
_SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "system": "system"}


@dataclass(frozen=True)
class DataFiles:
    """What the snippets describe: the layout of the rows and the file of each split."""

    name: str  # a dataset name for the trainer configs
    layout: str  # messages | sharegpt | alpaca | completion
    loader: str  # the datasets builder: json | parquet
    files: dict[str, Path]  # split -> absolute path
    has_tools: bool = False


def parse_trainers(value: str | None) -> tuple[str, ...]:
    """``trl,axolotl`` -> ("trl", "axolotl"); unknown names are a usage error."""
    if not value:
        return ()
    names = tuple(dict.fromkeys(n.strip().lower() for n in value.split(",") if n.strip()))
    bad = [n for n in names if n not in TRAINERS]
    if bad or not names:
        raise ConfigError(
            f"--trainer-config {value!r}: unknown {', '.join(bad) or 'value'} "
            f"(known: {', '.join(TRAINERS)})"
        )
    return names


def layout_for(fmt: str, target: str) -> str:
    if fmt == "parquet":
        return _PARQUET[target]
    if fmt not in LAYOUTS:
        raise ConfigError(
            f"--trainer-config: no trainer mapping for --format {fmt} "
            f"(supported: {', '.join(sorted([*LAYOUTS, 'parquet']))})"
        )
    return LAYOUTS[fmt]


def dataset_name(out: Path) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", out.resolve().name.lower()).strip("_") or "instructforge"


# ---------------------------------------------------------------- TRL

_TRL_MAP = {
    "messages": "",
    "sharegpt": """
ROLES = {"human": "user", "gpt": "assistant", "system": "system"}


def _to_messages(example):
    turns = example["conversations"]
    return {"messages": [{"role": ROLES[t["from"]], "content": t["value"]} for t in turns]}
""",
    "alpaca": """

ALPACA_COLUMNS = ["instruction", "input", "output"]


def _to_prompt_completion(example):
    prompt = example["instruction"]
    if example["input"].strip():  # the join instructforge uses between the two
        prompt = f"{prompt}\\n\\n{example['input']}"
    return {"prompt": prompt, "completion": example["output"]}
""",
    "completion": "",
    "preference": "",
    "preference_chat": "",
}
_TRL_CALL = {
    "messages": "dataset",
    "sharegpt": 'dataset.map(_to_messages, remove_columns=["conversations"])',
    "alpaca": "dataset.map(_to_prompt_completion, remove_columns=ALPACA_COLUMNS)",
    "completion": "dataset",
    "preference": "dataset",
    "preference_chat": "dataset",
}
_TRL_KIND = {
    "messages": "conversational language modeling (messages; tools passed to the chat template)",
    "sharegpt": "conversational language modeling (ShareGPT turns mapped to messages)",
    "alpaca": "prompt-completion (loss on the completion only, TRL's default)",
    "completion": "prompt-completion (loss on the completion only, TRL's default)",
    "preference": "preference with an explicit prompt (prompt/chosen/rejected strings)",
    "preference_chat": "conversational preference (prompt, chosen, rejected as turns)",
}
_PREFERENCE = ("preference", "preference_chat")


def trl_snippet(d: DataFiles) -> str:
    files = json.dumps({s: str(p) for s, p in d.files.items()}, indent=4)
    loss = ", assistant_only_loss=True" if d.layout in ("messages", "sharegpt") else ""
    trainer = "DPO" if d.layout in _PREFERENCE else "SFT"
    evaluate = (
        'eval_dataset=dataset["validation"],'
        if "validation" in d.files
        else "# no validation split in this export"
    )
    drop = ""
    if d.loader == "parquet":  # provenance rides in a meta column: not training data
        drop = (
            '\n    columns = dataset["train"].column_names'
            '\n    dataset = dataset.remove_columns([c for c in columns if c == "meta"])'
        )
    return f'''"""TRL dataset arguments for this export (instructforge export --trainer-config trl).

Dataset type: {_TRL_KIND[d.layout]}.

    from trl import {trainer}Config, {trainer}Trainer
    dataset = load()
    trainer = {trainer}Trainer(
        model="YOUR/BASE-MODEL",
        args={trainer}Config(output_dir="{trainer.lower()}-out"{loss}),
        train_dataset=dataset["train"],
        {evaluate}
    )
    trainer.train()
"""

from datasets import load_dataset

DATA_FILES = {files}
{_TRL_MAP[d.layout]}

def load():
    """The export as a DatasetDict in the TRL dataset type above."""
    dataset = load_dataset("{d.loader}", data_files=DATA_FILES){drop}
    return {_TRL_CALL[d.layout]}
'''


# ---------------------------------------------------------------- axolotl


def _axolotl_entry(d: DataFiles, path: Path) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": str(path), "ds_type": d.loader, "split": "train"}
    if d.layout == "preference_chat":
        raise ConfigError(
            "--trainer-config axolotl: no mapping for conversational preference pairs "
            "(trl-preference-chat); export trl-preference for axolotl's DPO"
        )
    if d.layout == "preference":  # axolotl's user-defined DPO format
        entry["type"] = {
            "field_prompt": "prompt",
            "field_chosen": "chosen",
            "field_rejected": "rejected",
            "prompt_format": "{prompt}",
            "chosen_format": "{chosen}",
            "rejected_format": "{rejected}",
        }
    elif d.layout == "messages":
        entry |= {
            "type": "chat_template",
            "field_messages": "messages",
            "message_property_mappings": {"role": "role", "content": "content"},
            "roles_to_train": ["assistant"],
        }
    elif d.layout == "sharegpt":
        entry |= {
            "type": "chat_template",
            "field_messages": "conversations",
            "message_property_mappings": {"role": "from", "content": "value"},
            "roles": {"user": ["human"], "assistant": ["gpt"], "system": ["system"]},
            "roles_to_train": ["assistant"],
        }
    elif d.layout == "alpaca":
        entry["type"] = "alpaca"
    else:
        entry["type"] = {
            "field_instruction": "prompt",
            "field_output": "completion",
            "format": "{instruction}",
            "no_input_format": "{instruction}",
        }
    return entry


def axolotl_snippet(d: DataFiles) -> str:
    config: dict[str, Any] = {"datasets": [_axolotl_entry(d, d.files["train"])]}
    if d.layout in _PREFERENCE:
        config = {"rl": "dpo", **config}
    if "validation" in d.files:
        config["test_datasets"] = [_axolotl_entry(d, d.files["validation"])]
    head = "# axolotl datasets for this export (instructforge export --trainer-config axolotl)\n"
    return head + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


# ---------------------------------------------------------------- LLaMA-Factory


def _llamafactory_entry(d: DataFiles, path: Path) -> dict[str, Any]:
    entry: dict[str, Any] = {"file_name": str(path)}
    if d.layout == "preference_chat":
        raise ConfigError(
            "--trainer-config llamafactory: no mapping for conversational preference pairs "
            "(trl-preference-chat); export trl-preference for LLaMA-Factory"
        )
    if d.layout == "preference":  # LLaMA-Factory's alpaca-style ranking data
        entry["ranking"] = True
        entry["columns"] = {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"}
        return entry
    if d.layout == "messages":
        tags = ("role", "content", "user", "assistant", "system")
        entry |= {"formatting": "sharegpt", "columns": {"messages": "messages"}}
    elif d.layout == "sharegpt":
        tags = ("from", "value", "human", "gpt", "system")
        entry |= {"formatting": "sharegpt", "columns": {"messages": "conversations"}}
    elif d.layout == "alpaca":
        entry["columns"] = {"prompt": "instruction", "query": "input", "response": "output"}
        return entry
    else:
        entry["columns"] = {"prompt": "prompt", "response": "completion"}
        return entry
    names = ("role_tag", "content_tag", "user_tag", "assistant_tag", "system_tag")
    entry["tags"] = dict(zip(names, tags, strict=True))
    return entry


def llamafactory_snippet(d: DataFiles) -> str:
    if d.has_tools:
        raise ConfigError(
            "--trainer-config llamafactory: this export holds tool calls, which LLaMA-Factory "
            "reads as function_call/observation turns, not OpenAI's tool_calls; use trl or "
            "axolotl for it"
        )
    info = {f"{d.name}_{split}": _llamafactory_entry(d, p) for split, p in d.files.items()}
    return json.dumps(info, indent=2, ensure_ascii=False) + "\n"


_WRITERS = {"trl": trl_snippet, "axolotl": axolotl_snippet, "llamafactory": llamafactory_snippet}


def snippets(trainers: tuple[str, ...], d: DataFiles) -> dict[str, str]:
    """File name -> text of each requested snippet."""
    return {FILES[t]: _WRITERS[t](d) for t in trainers}


def rows_have_tools(path: Path) -> bool:
    """Whether a JSON(L) data file holds a conversation with tools or tool calls (a key:
    inside a string the quotes would be escaped)."""
    with path.open(encoding="utf-8") as fh:
        return any('"tool_calls"' in line or '"tools"' in line for line in fh)
