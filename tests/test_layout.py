"""The package's layout: which wing may import which, no import cycles, and the documented public names."""

import ast
import importlib
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vocals2song"
RUNTIME = ("app", "vocals2song", "vocals2song.inference", "vocals2song.codec", "vocals2song.plan", "vocals2song.model",
           "vocals2song.live",
           "vocals2song.web", "vocals2song.audio", "vocals2song.config", "vocals2song.errors", "vocals2song.backend",
           "vocals2song.cli", "vocals2song.__main__")
OFFLINE = ("vocals2song.arrange", "vocals2song.corpus", "vocals2song.pairs", "vocals2song.training", "vocals2song.evaluation")
# The CLI is the one runtime module that reaches the offline wings: its corpus/train/evaluate commands, inside
# the command functions only.
CLI_COMMANDS = "vocals2song.cli"


def module_name(path: Path) -> str:
    if path == ROOT / "app.py":
        return "app"
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level) for every ``vocals2song`` import in a file, in functions too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import; the package imports absolutely"
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name and (name == "vocals2song" or name.startswith("vocals2song.")):
                found.append((name, id(node) in top_level))
    return found


def known_module(name: str) -> str:
    """The module (or package) a dotted import name refers to: drop trailing attribute names."""
    parts = name.split(".")
    while parts:
        candidate = ROOT.joinpath(*parts)
        if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
            return ".".join(parts)
        parts.pop()
    raise AssertionError(f"{name} is not a module of the package")


def in_wing(module: str, wing: str) -> bool:
    return module == wing or module.startswith(wing + ".")


FILES = sorted(PACKAGE.rglob("*.py")) + [ROOT / "app.py"]
GRAPH = {module_name(path): [(known_module(name), top) for name, top in imports(path)] for path in FILES}


def test_every_folder_of_the_package_is_a_package():
    for folder in [PACKAGE, *(path for path in PACKAGE.rglob("*") if path.is_dir() and path.name != "__pycache__")]:
        if any(folder.glob("*.py")):
            assert (folder / "__init__.py").is_file(), f"{folder} holds modules but no __init__.py"


def test_no_file_of_the_package_is_git_ignored():
    """A clean checkout must hold every module: an ignore pattern that matches a wing's folder drops it."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    files = [str(path.relative_to(ROOT)) for path in PACKAGE.rglob("*")
             if path.is_file() and "__pycache__" not in path.parts]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *files], cwd=ROOT, capture_output=True, text=True)
    assert ignored.stdout.strip() == "", f"git ignores package files: {ignored.stdout.split()}"


def test_every_wing_says_what_it_owns():
    for init in PACKAGE.rglob("__init__.py"):
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert docstring and len(docstring) > 60, f"{init} needs a docstring saying what its wing owns"


def test_the_runtime_never_imports_the_offline_wings():
    for module, targets in GRAPH.items():
        if not any(in_wing(module, wing) for wing in RUNTIME) or any(in_wing(module, w) for w in OFFLINE):
            continue
        for target, top in targets:
            offline = any(in_wing(target, wing) for wing in OFFLINE)
            if module == CLI_COMMANDS and not top and target != "vocals2song.training.settings":
                continue  # the corpus, train and evaluate commands, imported when run
            allowed = module == CLI_COMMANDS and target == "vocals2song.training.settings"
            assert not offline or allowed, f"{module} imports {target}: the runtime must not need {target}"


def test_training_reaches_the_codec_directly_not_through_inference():
    for module, targets in GRAPH.items():
        if in_wing(module, "vocals2song.training") or in_wing(module, "vocals2song.pairs") \
                or in_wing(module, "vocals2song.corpus"):
            assert "vocals2song.inference" not in [target for target, _ in targets], module


def test_no_import_cycles_at_module_level():
    edges = {module: {t for t, top in targets if top and t != module} for module, targets in GRAPH.items()}
    state = {}

    def visit(module, stack):
        state[module] = "open"
        for target in edges.get(module, ()):
            # importing a.b.c runs a/__init__ and a.b/__init__ first; those count as edges too
            if state.get(target) == "open":
                raise AssertionError("import cycle: " + " → ".join(stack + [target]))
            if target not in state:
                visit(target, stack + [target])
        state[module] = "done"

    for module in edges:
        if module not in state:
            visit(module, [module])


def test_the_import_walk_sees_the_wings():
    # guards the test above against walking nothing: the layout has these rooms and arrows
    assert {"vocals2song.codec.spectrogram", "vocals2song.plan.estimate", "vocals2song.web.handler",
            "vocals2song.arrange.render", "vocals2song.pairs.examples", "vocals2song.live.accompanist"} <= set(GRAPH)
    assert ("vocals2song.inference", True) in GRAPH["vocals2song.live.accompanist"]
    assert ("vocals2song.plan.estimate", True) in GRAPH["vocals2song.inference"]


@pytest.mark.parametrize("name", ["load_generator", "vocals_to_song", "load_audio", "Vocals2SongError", "Harmony",
                                  "PlanControls", "estimate_harmony", "render_plan", "write_midi", "SongResult",
                                  "SongGenerator"])
def test_documented_public_names_import(name):
    package = importlib.import_module("vocals2song")
    assert getattr(package, name).__name__ == name


def test_the_live_wing_needs_no_web_framework():
    """The live accompanist is testable without Gradio: it imports neither gradio nor the web wing."""
    live = [path for path in FILES if in_wing(module_name(path), "vocals2song.live")]
    assert live, "the walk found no live wing"
    for path in live:
        assert not any(in_wing(target, "vocals2song.web") for target, _ in GRAPH[module_name(path)]), path
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        assert not any(name.split(".")[0] == "gradio" for name in imported), path
