"""`make fakepve`: a fake Proxmox VE cluster in the foreground, for trying `chaton vm` by hand.

Serves fakepve (the PVE API over TLS, from PVE's own schema) on 127.0.0.1 with the example collective's
guests (tests/pve/cluster.py), an API token, and writes `.fakepve/inventory.yml`: inventory/example.yml
pointed at it (the fake's CA file, the token in a 0600 file). Prints the URL and the commands to try;
Ctrl-C stops it. Nothing leaves loopback.

    .venv/bin/python tests/pve/serve.py [--port N] [--dir DIR] [--time-scale S]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fakepve import FakePve  # noqa: E402
from fakepve.certs import make_cert  # noqa: E402

from tests.pve.cluster import prepare_example  # noqa: E402

HOST = "127.0.0.1"


async def serve(directory: Path, port: int, time_scale: float) -> None:
    pki = directory / "pki"
    pki.mkdir(parents=True, exist_ok=True)
    certfile, keyfile, _ = make_cert(str(pki), hosts=(HOST,))
    pve = FakePve(host=HOST, port=port)
    pve.time_scale = time_scale
    await pve.start(certfile, keyfile)
    inventory = prepare_example(pve, directory, certfile)
    shown = inventory.relative_to(ROOT) if inventory.is_relative_to(ROOT) else inventory
    print(f"fakepve: a fake Proxmox VE cluster (nodes hutte1, hutte2) listening on {pve.url}", flush=True)
    print(f"inventory: {shown} (inventory/example.yml pointed at it; CA {certfile})", flush=True)
    print("try, in another terminal:", flush=True)
    for command in ("vm list", "vm onboot", "vm snapshots web", "vm snapshot web --dry-run", "vm vzdump --all",
                    "vm backups"):
        print(f"  .venv/bin/chaton -i {shown} {command}", flush=True)
    print("Ctrl-C stops it.", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await pve.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--dir", type=Path, default=ROOT / ".fakepve", help="where the inventory and CA go")
    parser.add_argument("--time-scale", type=float, default=0.0,
                        help="real seconds per PVE second (0: tasks end at once)")
    args = parser.parse_args()
    if args.dir.exists():
        shutil.rmtree(args.dir)
    args.dir.mkdir(parents=True, mode=0o700)
    # Ctrl-C stops it, even when started from a shell that ignores SIGINT for what it starts in the
    # background (`cmd &` without job control): Python then installs no handler, nor does asyncio
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        asyncio.run(serve(args.dir, args.port, args.time_scale))
    except KeyboardInterrupt:
        print("\nfakepve stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
