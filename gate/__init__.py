"""gate: lets a TTS Deployment hold a shared GPU only while the resident tenants leave it room."""

__version__ = "0.2.0"
