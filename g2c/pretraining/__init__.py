"""09B — Pretraining: from a token stream to a training signal.

    split_token_stream(ids, train_fraction=0.9) -> (train_ids, val_ids)
    get_lm_batch(ids, batch_size, context_length, *, generator=None) -> (x, y)
    DocumentSampler(ids, doc_offsets, context_length).sample(batch_size) -> (x, y), inside documents
    lm_cross_entropy(logits, targets) -> scalar loss
    initial_loss_check(model, x, y) -> InitialLossReport (loss vs log(V))
"""

from g2c.pretraining.batch import get_lm_batch
from g2c.pretraining.document_batch import DocumentSampler, get_document_batch
from g2c.pretraining.initial_check import InitialLossReport, initial_loss_check
from g2c.pretraining.loss import lm_cross_entropy
from g2c.pretraining.split import split_token_stream

__all__ = [
    "DocumentSampler",
    "get_document_batch",
    "InitialLossReport",
    "get_lm_batch",
    "initial_loss_check",
    "lm_cross_entropy",
    "split_token_stream",
]
