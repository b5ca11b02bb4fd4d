"""`avatarzoo check`: will a recording make a good avatar, and what to redo."""
