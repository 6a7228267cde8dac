"""Solution markers: well-formed regions are found and blanked; mistakes are errors."""

import subprocess

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from g2c.course.markers import MarkerError, find_solution_regions, replace_solution_regions
from g2c.course.scaffold import scaffold_project


def _lines(*lines):
    return "\n".join(lines) + "\n"


GOOD = _lines(
    "def f(x):",
    '    """Return x doubled."""',
    "    # BEGIN SOLUTION 09b",
    "    y = 2 * x",
    "    return y",
    "    # END SOLUTION 09b",
    "",
    "print(f(2))",
)


def test_a_region_is_found_with_its_indentation():
    (region,) = find_solution_regions(GOOD, "good.py")
    assert (region.module_id, region.begin, region.end, region.indent) == ("09b", 2, 5, "    ")


def test_module_ids_in_markers_are_normalised():
    text = GOOD.replace("SOLUTION 09b", "SOLUTION 9B")
    assert find_solution_regions(text, "x.py")[0].module_id == "09b"


def test_replacing_a_region_keeps_everything_around_it():
    def blank(region):
        return f"{region.indent}raise NotImplementedError"

    result = replace_solution_regions(GOOD, "09b", "good.py", blank)
    assert result == _lines(
        "def f(x):",
        '    """Return x doubled."""',
        "    raise NotImplementedError",
        "",
        "print(f(2))",
    )


def test_text_without_markers_is_unchanged():
    text = "a = 1\n# a comment about solutions\n"
    assert find_solution_regions(text, "x.py") == []
    assert replace_solution_regions(text, "09b", "x.py", lambda r: "X") == text


@pytest.mark.parametrize(
    "lines, message",
    [
        (["# BEGIN SOLUTION 09b", "x = 1"], r"x.py:1: BEGIN SOLUTION 09b is never closed"),
        (["x = 1", "# END SOLUTION 09b"], r"x.py:2: END SOLUTION without a BEGIN"),
        (["# BEGIN SOLUTION 09b", "# BEGIN SOLUTION 09b", "# END SOLUTION 09b"],
         r"x.py:2: BEGIN SOLUTION inside the region opened at line 1"),
        (["# BEGIN SOLUTION 10a", "# END SOLUTION 10a"], r"x.py:1: unknown module '10a'.*09b"),
        (["# BEGIN SOLUTION", "# END SOLUTION"], r"x.py:1: .*must name exactly one course module"),
        (["# BEGIN SOLUTION 09b extra", "# END SOLUTION 09b"], r"x.py:1: .*exactly one"),
    ],
)
def test_marker_mistakes_are_errors_naming_file_and_line(lines, message):
    with pytest.raises(MarkerError, match=message):
        find_solution_regions(_lines(*lines), "x.py")


def test_end_must_close_the_module_it_opened(monkeypatch):
    from g2c.course import markers, modules

    other = modules.CourseModule("10a", "Other", "n.ipynb", (), "g2c.course.pretraining_exercises")
    monkeypatch.setitem(modules.MODULES, "10a", other)
    with pytest.raises(MarkerError, match=r"x.py:2: END SOLUTION 10a closes .* module 09b"):
        markers.find_solution_regions(_lines("# BEGIN SOLUTION 09b", "# END SOLUTION 10a"), "x.py")


# ------------------------------------------------------------- scaffold on a tiny project


def _git_project(root, files):
    root.mkdir()
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


def test_a_marker_mistake_anywhere_stops_scaffold_before_writing(tmp_path):
    root = _git_project(tmp_path / "project", {
        "good.py": GOOD,
        "pkg/bad.py": _lines("x = 1", "    # BEGIN SOLUTION 09b", "y = 2"),
    })
    out = tmp_path / "student"
    with pytest.raises(MarkerError, match="pkg/bad.py:2"):
        scaffold_project("09b", out, source_root=root)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["project"]  # no scratch folder left behind


def test_scaffold_copies_blanks_and_skips_ignored_files(tmp_path):
    notebook = new_notebook(cells=[
        new_code_cell("x = 1\n# BEGIN SOLUTION 09b\nprint('setup')\n# END SOLUTION 09b"),
    ])
    root = _git_project(tmp_path / "project", {
        "good.py": GOOD, ".gitignore": "ignored/\n", "ignored/secret.py": GOOD, "README": "hi",
    })
    answer = _lines("# Exercise 5 — Answer: count", "# BEGIN SOLUTION 09b",
                    "answer_5 = 12 * 256", "# END SOLUTION 09b").rstrip("\n")
    nbformat.write(new_notebook(cells=[new_code_cell(answer)]), root / "nb.ipynb")
    report = scaffold_project("9b", tmp_path / "student", source_root=root)
    out = report.out_dir
    assert report.blanked == {"good.py": 1, "nb.ipynb": 1}
    assert "raise NotImplementedError" in (out / "good.py").read_text()
    assert not (out / "ignored").exists() and (out / "README").read_text() == "hi"
    cell = nbformat.read(out / "nb.ipynb", as_version=4).cells[0]
    assert cell.source == "# Exercise 5 — Answer: count\nanswer_5 = None  # your answer"

    # A region outside an Answer cell would leave the learner a broken notebook.
    nbformat.write(notebook, root / "nb.ipynb")
    with pytest.raises(MarkerError, match=r"nb.ipynb \(cell 0\): .*Answer cells"):
        scaffold_project("09b", tmp_path / "student2", source_root=root)


def test_scaffold_refuses_unsafe_destinations(tmp_path):
    root = _git_project(tmp_path / "project", {"good.py": GOOD})
    with pytest.raises(ValueError, match="inside the project"):
        scaffold_project("09b", root / "student", source_root=root)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an empty directory"):
        scaffold_project("09b", taken, source_root=root)
    assert (taken / "keep.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="not a git checkout"):
        scaffold_project("09b", tmp_path / "out", source_root=tmp_path / "taken")
