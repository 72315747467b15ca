"""Adapters to the real parts: SSH, restic, Proxmox, DNS, HTTP, secrets. Never import the CLI."""
