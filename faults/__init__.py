"""The fault suite (`make faults`): a real workload through every fault the application promises to survive."""
