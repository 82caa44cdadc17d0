"""A local Microsoft 365: the login, Graph domain and Exchange DKIM endpoints TenantCore uses,
faithful to `../shared/reference/microsoft-365.md`, with per-tenant state and fault injection,
instant or realistic (`EmulatorProfile`)."""

from tenantcore.emulator.app import CONTROL_HEADER, create_app
from tenantcore.emulator.profile import EmulatorProfile
from tenantcore.emulator.server import ThreadedServer
from tenantcore.emulator.state import Consent, EmulatorState, Fault

__all__ = ["CONTROL_HEADER", "Consent", "EmulatorProfile", "EmulatorState", "Fault", "ThreadedServer", "create_app"]
