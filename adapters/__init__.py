"""Channel adapters: pure functions from a channel's export or API to canonical sale lines."""
