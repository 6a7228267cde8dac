"""Where the Trainer's micro-batches come from: random windows or packed documents.

    batch_mode="windows"   get_lm_batch: B random (T+1)-token windows of the stream;
                           most straddle a document boundary
    batch_mode="packed"    get_packed_batch: B rows of whole documents, planned once
                           from the split's document index; the model also gets
                           (B, T) document_ids (attention stays inside a document)
                           and position_ids (0 at each document's start)

Either way every draw comes from the generator the caller passes — the
trainer's, whose state is in every checkpoint — so a resumed run replays the
same batches.
"""

from __future__ import annotations

import torch

from g2c.pretraining import get_lm_batch, get_packed_batch, pack_documents
from g2c.training.config import TrainingConfig


class TrainingBatches:
    """Draws (x, y, model inputs) micro-batches for one training split.

    Args:
        train_ids: the 1-D training stream.
        config: supplies batch_size (B), context_length (T), batch_mode, eot_loss.
        train_documents: (D,) start index of every document in ``train_ids``
            (a prepared corpus's ``train_doc_offsets``); required for packed mode.
        eot_id: the tokenizer's ``<|endoftext|>`` id. In packed mode every
            batch is checked against the document index with it (offsets of
            another stream are refused), and ``eot_loss=False`` needs it.
    """

    def __init__(self, train_ids, config: TrainingConfig, *, train_documents=None,
                 eot_id: int | None = None) -> None:
        self.train_ids = train_ids
        self.config = config
        self.eot_id = eot_id
        # The rows are planned once (index arithmetic only); each draw then picks B of them.
        self.packing = (self._plan_packing(train_documents)
                        if config.batch_mode == "packed" else None)

    def _plan_packing(self, train_documents):
        if train_documents is None:
            raise ValueError(
                "batch_mode='packed' needs the training split's document offsets: pass "
                "Trainer(..., train_documents=<the (D,) start index of every document in "
                "train_ids>, e.g. a prepared corpus's train_doc_offsets), or use "
                "batch_mode='windows'")
        if not self.config.eot_loss and self.eot_id is None:
            raise ValueError("eot_loss=False needs Trainer(..., eot_id=<the tokenizer's eot_id>) "
                             "to know which targets are <|endoftext|>")
        return pack_documents(train_documents, len(self.train_ids), self.config.context_length)

    def draw(self, generator: torch.Generator, device) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """One micro-batch: (B, T) inputs ``x``, (B, T) targets ``y``, extra model inputs.

        The extra inputs are none for random windows; for packed rows the
        (B, T) ``document_ids`` and ``position_ids``. ``y`` is -100 where a
        packed row has nothing to predict (padding, a document's edge).
        """
        config = self.config
        if self.packing is None:
            x, y = get_lm_batch(self.train_ids, config.batch_size, config.context_length,
                                generator=generator, device=device)
            return x, y, {}
        x, y, document_ids, position_ids = get_packed_batch(
            self.train_ids, self.packing, config.batch_size, generator=generator,
            eot_loss=config.eot_loss, eot_id=self.eot_id, device=device)
        return x, y, {"document_ids": document_ids, "position_ids": position_ids}
