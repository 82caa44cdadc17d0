"""TenantCore: custom sending domains for Microsoft 365 tenants, set up and watched."""

__version__ = "0.1.0"
