"""Corpora: where text comes from, and how it becomes token streams on disk.

    resolve_source("shakespeare" | "tinyshakespeare" | PATH | "hf:NAME" | "a=0.7,b=0.3")
    prepare_corpus(source, out_dir, tokenizer="bpe") -> PreparedCorpus (memmaps, offsets, tokenizer)
    open_prepared(out_dir) -> PreparedCorpus   (verifies every file against its sha256)
    render_chat(messages) -> str               a conversation as one document (chat tokens)
"""

from g2c.corpora.chat import CHAT_TEMPLATE, render_chat
from g2c.corpora.huggingface import HuggingFaceSource
from g2c.corpora.local import DirectorySource, LocalFileSource
from g2c.corpora.manifest import is_prepared_dir
from g2c.corpora.mixture import MixtureSource
from g2c.corpora.prepare import prepare_corpus
from g2c.corpora.prepared import PreparedCorpus, PreparedCorpusMismatch, open_prepared
from g2c.corpora.resolve import resolve_source
from g2c.corpora.shakespeare import ShakespeareSource, shakespeare_documents
from g2c.corpora.source import CorpusSource
from g2c.corpora.tinyshakespeare import TinyShakespeareSource, find_tinyshakespeare

__all__ = [
    "CHAT_TEMPLATE",
    "CorpusSource",
    "DirectorySource",
    "HuggingFaceSource",
    "LocalFileSource",
    "MixtureSource",
    "PreparedCorpus",
    "PreparedCorpusMismatch",
    "ShakespeareSource",
    "TinyShakespeareSource",
    "find_tinyshakespeare",
    "is_prepared_dir",
    "open_prepared",
    "prepare_corpus",
    "render_chat",
    "resolve_source",
    "shakespeare_documents",
]
