"""The sandbox that test keys work in: the Microsoft 365 emulator and the sandbox DNS server
(`dns_server`), run inside `tenantcore serve` by `embedded.Sandbox`. Production code never
imports this package except through `runtime`, which hands it out as test mode's environment."""

from tenantcore.sandbox.embedded import Sandbox

__all__ = ["Sandbox"]
