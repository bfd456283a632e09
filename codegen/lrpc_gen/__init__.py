"""lrpc-gen: the lrpc IDL compiler.

The pipeline is a chain of pure stages, one module each:

    load (files -> ast, through lexer and parser) -> scope (modules and
    declared names) -> check (resolve uses, checked declarations) ->
    build (the frozen model, with hashing) -> backends (model ->
    {filename: text})

``frontend`` runs the stages up to the model.  Only ``__main__`` touches
the file system; every other stage takes and returns values, which keeps
the stages testable in isolation.
"""

__all__ = ["GENERATOR_ABI"]

# Bumped whenever generated code needs a different runtime contract; the
# C back ends emit it into a header guard that the runtime checks.
GENERATOR_ABI = 1
