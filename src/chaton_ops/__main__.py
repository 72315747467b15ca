from chaton_ops.cli.main import run

run()
