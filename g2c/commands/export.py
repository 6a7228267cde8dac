"""``g2c export ARTIFACT --to DIR``: a thin shell over :func:`g2c.app.export.export_artifact`."""

from __future__ import annotations

from g2c.commands.arguments import ARTIFACTS_ROOT, add_artifact_argument


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="write a trained model as a Hugging Face transformers model folder",
        description="Write ARTIFACT as a Hugging Face model folder (config.json, "
        "model.safetensors, generation_config.json, tokenizer files) for a stock transformers "
        "architecture: StableLM, Llama or GPT-2, whichever computes the same function.",
    )
    add_artifact_argument(parser)
    parser.add_argument("--to", required=True, metavar="DIR",
                        help="the folder to write (must not exist yet, or be empty)")


def run(args) -> int:
    from g2c.app.artifact import resolve_artifact
    from g2c.app.export import export_artifact

    out = export_artifact(resolve_artifact(args.artifact, ARTIFACTS_ROOT), args.to)
    print(f"exported {args.artifact} -> {out} (load with AutoModelForCausalLM.from_pretrained)")
    return 0
