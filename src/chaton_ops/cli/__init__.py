"""The `chaton` command: a thin skin over chaton_ops.ops. Only this layer prints and exits."""
