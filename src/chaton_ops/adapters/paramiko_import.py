"""paramiko, imported without invoke.

paramiko's ssh_config module imports invoke (and with it unittest.mock and asyncio, ≈ 35 ms at
every start of a command that connects) only to run `Match exec` lines of ssh_config files.
chaton reads no ssh_config (the inventory is the one source of truth), so invoke is hidden while
paramiko loads; `Match exec` would then raise, which cannot happen here. invoke stays importable
afterwards for anyone who needs it.
"""

from __future__ import annotations

import sys

if "paramiko" in sys.modules or "invoke" in sys.modules:
    import paramiko
else:
    sys.modules["invoke"] = None  # type: ignore[assignment]  # `import invoke` raises ImportError
    try:
        import paramiko
    finally:
        del sys.modules["invoke"]

__all__ = ["paramiko"]
