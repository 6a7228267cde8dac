"""g2c: learn language-model pretraining by doing it.

The package layout follows the data flow of the course module 09B:
``g2c.corpora`` (text) -> ``g2c.tokenizer`` (ids) -> ``g2c.pretraining``
(stream, split, batches, loss) -> ``g2c.transformer`` (the model) ->
``g2c.training`` (the loop). ``g2c.nn`` holds the Module-03 loss.
"""

__version__ = "0.1.0"
