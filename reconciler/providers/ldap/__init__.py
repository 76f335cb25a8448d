"""Live stage: the Active Directory source (LDAP with ldap3).

conn.py       TLS, bind, timeouts, paged and counted searches, error mapping
entries.py    LDAP attributes -> DirectoryUser / DirectoryGroup (pure)
selection.py  live checks of selected OUs and groups (R2, R4, R5, R7)
sync.py       full and incremental (USN-based) reads
state.py      what is remembered between runs, and the snapshot (pure)
reader.py     `AdReader`, the `DirectoryReader` the engine uses
"""

from __future__ import annotations

from reconciler.providers.ldap.conn import ldap_totals
from reconciler.providers.ldap.reader import AdReader, open_ad

__all__ = ["AdReader", "ldap_totals", "open_ad"]
