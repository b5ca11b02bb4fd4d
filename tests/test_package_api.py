"""The public surface: __all__ is pinned, importing avatarzoo stays light."""

import subprocess
import sys

import avatarzoo


def test_all_is_pinned():
    assert avatarzoo.__all__ == ["AvatarZooError", "__version__", "load"]


def test_import_does_not_import_torch():
    code = "import sys, avatarzoo, avatarzoo.cli; print('torch' in sys.modules, 'cv2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_cli_help_lists_commands():
    from click.testing import CliRunner

    from avatarzoo.cli import main

    result = CliRunner().invoke(main, ["--help"])
    for command in ["build", "plan", "validate", "schema", "list", "show", "render", "track", "eval"]:
        assert command in result.output


def test_load_unknown_id_is_a_clear_error():
    import pytest

    from avatarzoo.errors import NotFoundError

    with pytest.raises(NotFoundError, match="no avatar 'nobody-v1' in the local store"):
        avatarzoo.load("nobody-v1")
