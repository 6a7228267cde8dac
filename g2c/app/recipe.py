"""A run's recipe, said three ways: a track, a TOML file, command-line flags.

The track is the base, the file overrides the track, flags override the file:

    g2c pretrain --track StoryLM                          the preset
    g2c pretrain --config run.toml                        the file's values over its track
    g2c pretrain --config run.toml --layers 4 --width 96  flags over the file

A recipe file names every value it changes; sections follow the dataclasses
(``[model]`` is :class:`~g2c.transformer.ModelConfig`, ``[training]`` is
:class:`~g2c.training.TrainingConfig`), so a new field is a new key and a
new flag without a third list to keep in sync:

    track = "ShakespeareLM"
    corpus = "shakespeare"
    tokenizer = "char"              # char | bpe | path/to/tokenizer.json
    vocab_size = "none"             # TOML has no null: "none" stands for None

    [model]
    num_layers = 2

    [training]
    max_steps = 300
    max_time = "none"

Every artifact holds its resolved ``run.toml`` (all values), so
``g2c pretrain --config artifacts/models/X/run.toml --out other/`` repeats the
run. One rule keeps the two run limits sane: a layer that sets
``max_steps`` or ``max_time`` replaces both (the one it leaves out becomes
"none"), so ``--max-time 15`` on a step-limited preset means 15 seconds.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

import tomli_w

from g2c.app.tracks import DEFAULT_TRACK, Track, get_track
from g2c.corpora import is_prepared_dir
from g2c.corpora.manifest import read_manifest
from g2c.training.config import BATCH_MODES, OPTIMIZERS, TrainingConfig
from g2c.training.precision import PRECISIONS
from g2c.training.schedule import LR_SCHEDULES
from g2c.transformer import ModelConfig
from g2c.transformer.block import NORM_KINDS
from g2c.transformer.mlp import MLP_KINDS
from g2c.transformer.model import POSITION_KINDS

NONE = "none"  # how a recipe file or a flag says None
SECTIONS = {"model": ModelConfig, "training": TrainingConfig}
LIMITS = ("max_steps", "max_time")
CHOICES = {"positions": POSITION_KINDS, "mlp": MLP_KINDS, "norm": NORM_KINDS,
           "batch_mode": BATCH_MODES, "optimizer": OPTIMIZERS, "precision": PRECISIONS,
           "lr_schedule": LR_SCHEDULES}
TOP_LEVEL = (  # the keys outside [model] and [training]: name, kind, optional, help
    ("track", str, False, "the preset the recipe starts from"),
    ("corpus", str, False, "a SOURCE, as g2c prepare --corpus reads it"),
    ("tokenizer", str, False, "char, bpe, or a tokenizer.json file"),
    ("vocab_size", int, True, "BPE vocabulary size (none for char)"),
)
_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


@dataclass(frozen=True)
class RecipeField:
    """One key of a recipe: where it lives, what it holds, what it means."""

    section: str | None  # "model", "training", or None for the top level
    name: str
    kind: type  # int, float, bool or str
    optional: bool  # may be None ("none")
    help: str

    @property
    def choices(self) -> tuple[str, ...] | None:
        return CHOICES.get(self.name)

    def parse(self, value, where: str):
        """``value`` (from TOML, or a flag's string) as this field's type; raise naming ``where``."""
        if self.optional and value == NONE:
            return None
        if isinstance(value, str) and self.kind is not str:
            value = _from_string(value, self.kind)
        ok = (isinstance(value, bool) if self.kind is bool else
              isinstance(value, (int, float)) and not isinstance(value, bool)
              and math.isfinite(value) if self.kind is float else
              isinstance(value, self.kind) and not isinstance(value, bool))
        if ok and self.choices is not None and value not in self.choices:
            ok = False
        if not ok:
            allowed = (" | ".join(self.choices) if self.choices else
                       {int: "an integer", float: "a number", bool: "true or false",
                        str: "a string"}[self.kind])
            allowed += " (finite)" if self.kind is float else ""
            raise ValueError(f"{where}: {self.key} = {value!r} is not allowed; expected "
                             f"{allowed}{' or ' + repr(NONE) if self.optional else ''}")
        return float(value) if self.kind is float else value

    @property
    def key(self) -> str:
        return self.name if self.section is None else f"{self.section}.{self.name}"


def _from_string(text: str, kind: type):
    """A flag's text as int/float/bool, or the text itself (parse() then refuses it)."""
    try:
        if kind is bool:
            return {"true": True, "false": False}.get(text.lower(), text)
        return kind(text)
    except ValueError:
        return text


def field_docs(cls) -> dict[str, str]:
    """``{field: first sentence of its description}`` from a dataclass's docstring.

    The docstrings of TrainingConfig and ModelConfig describe every field as
    ``name: text`` (or ``a, b: text``), continued on deeper-indented lines;
    that description is the flag's ``--help``, so it is written once.
    """
    docs, current, indent = {}, None, 0
    for line in (cls.__doc__ or "").splitlines():
        match = re.match(r"(\s+)([a-z_0-9]+(?:, [a-z_0-9]+)*): (.+)", line)
        if match:
            current, indent = match.group(2).split(", "), len(match.group(1))
            for name in current:
                docs.setdefault(name, match.group(3).strip())
        elif current and line.strip() and len(line) - len(line.lstrip()) > indent:
            for name in current:
                docs[name] += " " + line.strip()
        else:
            current = None
    return {name: re.split(r"(?<=\.)\s", text.replace("``", ""))[0].rstrip(".")
            for name, text in docs.items()}


def recipe_fields() -> list[RecipeField]:
    """Every key a recipe can hold: the top level, then [model], then [training]."""
    result = [RecipeField(None, *key) for key in TOP_LEVEL]
    for section, cls in SECTIONS.items():
        docs = field_docs(cls)
        for field in fields(cls):
            if section == "model" and field.name == "vocab_size":
                continue  # the tokenizer decides it (top-level vocab_size is BPE's target)
            parts = [part.strip() for part in field.type.split("|")]
            result.append(RecipeField(section, field.name, _TYPES[parts[0]], "None" in parts,
                                      docs.get(field.name, "")))
    return result


def read_recipe(path: str | os.PathLike) -> dict:
    """A recipe file as ``{"track": ..., "model": {...}, "training": {...}}``, every value
    checked; an unknown key or a wrong type names the key, its line and the allowed values."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except FileNotFoundError:
        raise FileNotFoundError(f"recipe file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a valid TOML recipe: {error}") from None
    known = {(f.section, f.name): f for f in recipe_fields()}
    recipe: dict = {}
    for key, value in raw.items():
        section, items = (key, value) if isinstance(value, dict) else (None, {key: value})
        if isinstance(value, dict) and section not in SECTIONS:
            raise ValueError(f"{path}, line {_line_of(text, None, key)}: unknown section "
                             f"[{key}]; sections are {', '.join(f'[{s}]' for s in SECTIONS)}")
        for name, item in items.items():
            field = known.get((section, name))
            where = f"{path}, line {_line_of(text, section, name)}"
            if field is None:
                allowed = sorted(f.name for f in known.values() if f.section == section)
                raise ValueError(f"{where}: unknown key {name!r}"
                                 f"{f' in [{section}]' if section else ''}; allowed: "
                                 f"{', '.join(allowed)}")
            target = recipe if section is None else recipe.setdefault(section, {})
            target[name] = field.parse(item, where)
    return recipe


def _line_of(text: str, section: str | None, key: str) -> int | str:
    """The line where ``key`` is set inside ``[section]`` (1-based; "?" if not found)."""
    current = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = re.match(r"\s*\[\s*([^\]]+?)\s*\]", line)
        if header:
            current = header.group(1)
            if section is None and current == key:
                return number
        elif current == section and re.match(rf"\s*{re.escape(key)}\s*=", line):
            return number
    return "?"


def merge(*layers: dict) -> dict:
    """Recipes layered left to right (later wins); a layer that sets a run limit sets both."""
    merged: dict = {}
    for layer in layers:
        for key, value in layer.items():
            if key not in SECTIONS:
                merged[key] = value
                continue
            section = merged.setdefault(key, {})
            if key == "training" and any(limit in value for limit in LIMITS):
                section.update(dict.fromkeys(LIMITS))
            section.update(value)
    return merged


def resolve_track(recipe: dict) -> Track:
    """The recipe's base track with the recipe's values applied (checked by the dataclasses)."""
    track = get_track(recipe.get("track", DEFAULT_TRACK))
    corpus = recipe.get("corpus", track.corpus)
    if is_prepared_dir(corpus):  # already tokenized: its tokenizer, unless one is asked for
        tokenizer = recipe.get("tokenizer", read_manifest(corpus)["tokenizer"]["kind"])
        vocab_size = recipe.get("vocab_size")
    else:
        tokenizer = recipe.get("tokenizer", track.tokenizer)
        vocab_size = recipe.get("vocab_size", track.vocab_size if tokenizer == "bpe" else None)
    if tokenizer not in ("char", "bpe") and not Path(tokenizer).is_file():
        raise ValueError(f"tokenizer must be 'char', 'bpe' or an existing tokenizer.json file; "
                         f"got {tokenizer!r}")
    if vocab_size is not None and tokenizer != "bpe":
        raise ValueError(f"vocab_size={vocab_size} only applies to a BPE tokenizer, but the "
                         f"tokenizer is {tokenizer!r} (its vocabulary is fixed by the alphabet "
                         f"or the file); drop --vocab-size or use --tokenizer bpe")
    return replace(track, corpus=corpus, tokenizer=tokenizer,
                   vocab_size=vocab_size,
                   model=replace(track.model, **recipe.get("model", {})),
                   training=replace(track.training, **recipe.get("training", {})))


def recipe_toml(track: Track) -> str:
    """The resolved recipe of ``track``, every value spelled out: what run.toml holds."""
    def spelled(values: dict) -> dict:
        return {key: NONE if value is None else value for key, value in values.items()}

    model = {k: v for k, v in track.model.to_dict().items() if k != "vocab_size"}
    document = spelled({"track": track.name, "corpus": track.corpus,
                        "tokenizer": track.tokenizer, "vocab_size": track.vocab_size})
    document.update(model=spelled(model), training=spelled(track.training.to_dict()))
    return tomli_w.dumps(document)
