"""Use cases of `chaton vm` (Proxmox VE guests): reading in `inspect`, changes in `changes` and `vzdump`,
facts, task waiting and the journal in `runner`. `vm_health` is the VM section of `chaton status`."""

from chaton_ops.ops.vm.inspect import VmHealthReport, vm_health

__all__ = ["VmHealthReport", "vm_health"]
