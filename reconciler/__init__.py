"""reconciler: policy-as-code onboarding of end-user accounts for MSPs."""

__version__ = "0.1.0"
