"""creditchain's gateway: the off-chain service, its domain logic, CLI and client."""
