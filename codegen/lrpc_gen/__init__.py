"""lrpc-gen: the lrpc IDL compiler.

The pipeline is a chain of pure stages, one module each:

    lexer (text -> tokens) -> parser (tokens -> ast) -> check (ast -> model)
    -> backends (model -> {filename: text})

Only ``__main__`` touches the file system; every other stage takes and
returns values, which keeps the stages testable in isolation.
"""

__all__ = ["GENERATOR_ABI"]

# Bumped whenever generated code needs a different runtime contract; the
# C back ends emit it into a header guard that the runtime checks.
GENERATOR_ABI = 1
