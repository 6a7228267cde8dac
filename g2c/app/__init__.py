"""The application: runs built from the library layers, as the CLI verbs use them.

    tracks     named recipes (corpus, tokenizer, ModelConfig, TrainingConfig)
    pretrain   run_pretraining(track): prepare -> train -> artifact -> samples
    artifact   the artifact folder: write, load, ArtifactManifest
    launch     ``--nproc N``: the same command under torchrun
    plot       loss.png
"""
