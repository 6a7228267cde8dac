"""`g2c prepare` on the command line: the same API, one clear line per mistake."""

import json

import numpy as np

from g2c.cli import main
from g2c.corpora import open_prepared


def test_prepare_writes_a_directory_that_opens(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("alpha beta\n%%\ngamma delta\n%%\n%%\nepsilon\n")
    out = tmp_path / "prepared"
    code = main(["prepare", "--corpus", str(tmp_path / "notes.txt"), "--tokenizer", "char",
                 "--separator", "%%", "--train-fraction", "0.75", "--out", str(out), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "3 kept, 1 empty skipped" in printed
    prepared = open_prepared(out)
    stream = np.concatenate([prepared.train, prepared.val])
    assert prepared.tokenizer.decode(stream) == (
        "alpha beta\n<|endoftext|>gamma delta\n<|endoftext|>epsilon\n"
    )
    assert prepared.manifest["split"]["train_fraction"] == 0.75


def test_prepare_bpe_mixture_from_the_command_line(tmp_path, capsys):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(json.dumps({"body": f"tale {i} of the sea"}) + "\n" for i in range(40)))
    b.write_text("".join(json.dumps({"body": f"song {i}, la la"}) + "\n" for i in range(40)))
    code = main(["prepare", "--corpus", f"{a}=1,{b}=1", "--vocab-size", "300", "--text-field",
                 "body", "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 0
    assert "token share" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["tokenizer"]["kind"] == "bpe" and manifest["corpus"]["mixture"]


def test_mistakes_are_one_line_and_exit_code_2(tmp_path, capsys):
    assert main(["prepare", "--corpus", str(tmp_path / "missing.txt"), "--out",
                 str(tmp_path / "o"), "--quiet"]) == 2
    assert "not a built-in name" in capsys.readouterr().err
    (tmp_path / "t.txt").write_text("some text here")
    assert main(["prepare", "--corpus", str(tmp_path / "t.txt"), "--vocab-size", "10",
                 "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "at least 260" in capsys.readouterr().err


def test_prepare_never_imports_torch(tmp_path):
    # Text preparation runs on machines (and memory budgets) without PyTorch's ~230 MiB.
    import subprocess
    import sys

    code = ("import sys; from g2c.cli import main; "
            f"main(['prepare', '--corpus', 'shakespeare', '--tokenizer', 'char', '--out', "
            f"{str(tmp_path / 'out')!r}, '--quiet']); print(sorted({{'torch', 'datasets'}} & "
            "set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
