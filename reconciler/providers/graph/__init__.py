"""Live stage: Entra ID (Office 365) users through Microsoft Graph, MSAL and httpx.

auth.py      MSAL app per tenant, tokens, credential handling
client.py    the Graph calls: /users paging, /users/delta, group members
reader.py    EntraReader: full read + delta with the cache in the state store
prefetch.py  many tenants at once with a bounded pool
"""

from reconciler.providers.graph.auth import forget_apps
from reconciler.providers.graph.prefetch import prefetch
from reconciler.providers.graph.reader import EntraReader, SyncReport, open_entra

__all__ = ["EntraReader", "SyncReport", "forget_apps", "open_entra", "prefetch"]
