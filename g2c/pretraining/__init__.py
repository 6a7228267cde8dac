"""09B — Pretraining: from a token stream to a training signal.

    split_token_stream(ids, train_fraction=0.9) -> (train_ids, val_ids)
    get_lm_batch(ids, batch_size, context_length, *, generator=None) -> (x, y)
    DocumentSampler(ids, doc_offsets, context_length).sample(batch_size) -> (x, y), inside documents
    pack_documents(doc_offsets, num_tokens, context_length) -> PackingPlan (rows of whole documents)
    get_packed_batch(ids, plan, batch_size) -> (x, y, document_ids, position_ids)
    lm_cross_entropy(logits, targets) -> scalar loss
    linear_cross_entropy(hidden, weight, targets, *, bias=None, ...) -> loss, chunked
    initial_loss_check(model, x, y) -> InitialLossReport (loss vs log(V))
"""

from g2c.nn import linear_cross_entropy
from g2c.pretraining.batch import get_lm_batch
from g2c.pretraining.document_batch import DocumentSampler
from g2c.pretraining.initial_check import InitialLossReport, initial_loss_check
from g2c.pretraining.loss import lm_cross_entropy
from g2c.pretraining.packing import (
    PackedBatch,
    PackingPlan,
    get_packed_batch,
    get_packed_rows,
    pack_documents,
)
from g2c.pretraining.split import split_token_stream

__all__ = [
    "DocumentSampler",
    "InitialLossReport",
    "get_lm_batch",
    "initial_loss_check",
    "linear_cross_entropy",
    "lm_cross_entropy",
    "PackedBatch",
    "PackingPlan",
    "get_packed_batch",
    "get_packed_rows",
    "pack_documents",
    "split_token_stream",
]
