"""Use cases: gather facts, plan, apply. Called by the CLI; call core and adapters through ports."""
