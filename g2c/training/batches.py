"""Where the Trainer's micro-batches come from: random windows, document windows, packed rows.

    batch_mode="windows"    get_lm_batch: B random (T+1)-token windows of the stream;
                            most straddle a document boundary
    batch_mode="documents"  DocumentSampler: B random windows that stay inside one
                            document (the module's "avoid crossing documents")
    batch_mode="packed"     get_packed_batch: B rows of whole documents, planned once
                            from the split's document index; the model also gets
                            (B, T) document_ids (attention stays inside a document)
                            and position_ids (0 at each document's start)

Every draw comes from the caller's generator (saved in every checkpoint), and a
batch is made on the CPU and moved to the device once.
"""

from __future__ import annotations

import torch

from g2c.pretraining import DocumentSampler, get_lm_batch, get_packed_batch, pack_documents
from g2c.pretraining.token_stream import check_ids_below, check_token_stream
from g2c.pretraining.windows import move_batch
from g2c.training.config import TrainingConfig


def check_training_data(model, train_ids, val_ids, context_length: int) -> None:
    """Refuse streams the model cannot train on, before any step: windows longer than
    its ``max_seq_len``, a training split shorter than one window, ids ≥ its ``vocab_size``."""
    check_token_stream("train_ids", train_ids)
    max_len = getattr(model, "max_seq_len", None)
    if max_len is not None and context_length > max_len:
        raise ValueError(
            f"context_length={context_length} is longer than the model's max_seq_len="
            f"{max_len}; use --context-length {max_len} or less, or a longer model")
    if len(train_ids) < context_length + 1:
        raise ValueError(f"the training split has {len(train_ids):,} tokens; context_length="
                         f"{context_length} needs at least {context_length + 1}")
    if getattr(model, "vocab_size", None) is not None:
        check_ids_below("train_ids", train_ids, model.vocab_size)
        check_ids_below("val_ids", val_ids, model.vocab_size)


class TrainingBatches:
    """Draws (x, y, model inputs) micro-batches for one training split.

    ``train_documents`` (the (D,) document starts) is required by the "documents"
    and "packed" modes; ``eot_id`` by ``eot_loss=False`` (and checks packed rows).
    """

    def __init__(self, train_ids, config: TrainingConfig, *, train_documents=None,
                 eot_id: int | None = None) -> None:
        self.train_ids = train_ids
        self.config = config
        self.eot_id = eot_id
        if config.batch_mode != "windows" and train_documents is None:
            raise ValueError(
                f"batch_mode={config.batch_mode!r} needs the training split's document "
                f"offsets: pass Trainer(..., train_documents=<the (D,) start index of every "
                f"document in train_ids>, e.g. a prepared corpus's train_doc_offsets), or use "
                f"batch_mode='windows'")
        if not config.eot_loss and eot_id is None:
            raise ValueError("eot_loss=False needs Trainer(..., eot_id=<the tokenizer's eot_id>) "
                             "to know which targets are <|endoftext|>")
        # Planned once (index arithmetic only); each draw then picks B rows or windows.
        self.packing = (pack_documents(train_documents, len(train_ids), config.context_length)
                        if config.batch_mode == "packed" else None)
        self.sampler = (DocumentSampler(train_ids, train_documents, config.context_length)
                        if config.batch_mode == "documents" else None)

    def draw(self, generator: torch.Generator, device,
             batch_size: int) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """One micro-batch of ``batch_size`` (B) rows: (B, T) inputs ``x``, (B, T) targets
        ``y``, extra model inputs.

        Packed rows add ``position_ids``, and ``document_ids`` unless every row holds
        one document (then the causal mask is the document mask, the faster path).
        """
        config = self.config
        if self.sampler is not None:
            x, y = self.sampler.sample(batch_size, generator=generator, device=device)
            return x, y, {}
        if self.packing is None:
            x, y = get_lm_batch(self.train_ids, batch_size, config.context_length,
                                generator=generator, device=device)
            return x, y, {}
        x, y, document_ids, position_ids = get_packed_batch(
            self.train_ids, self.packing, batch_size, generator=generator,
            eot_loss=config.eot_loss, eot_id=self.eot_id)
        inputs = {"position_ids": move_batch(position_ids, device)}
        rows = document_ids.numpy()  # still on the CPU: deciding here waits for no device
        if (rows[:, 0] != rows[:, -1]).any():
            inputs["document_ids"] = move_batch(document_ids, device)
        return move_batch(x, device), move_batch(y, device), inputs
