"""Test helpers: the sandbox, every simulator on loopback with a demo MSP, and a config dir for it.

`Sandbox.start(dir)` starts the Graph simulator and the simulator of every
integration of the table (its folder's `sandbox.hookup`; HTTPS with a throwaway CA) and an SMTP server (STARTTLS + AUTH, every
message also written to `dir/outbox/`), seeds them with four customers, and
writes a complete config directory pointing at them: Settings, two import
policies and an admin import policy, the customers, a welcome template, the CA file and the secrets (files
under `secrets/`, mode 600). `reconciler plan -c dir` then runs the real clients.

The demo MSP shows every matching case:

- contoso (Entra, IT Glue, ConnectWise): a contact matched by email, one by name,
  contacts and entries to create, a duplicate contact (a conflict, with the pin
  that resolves it commented out in its YAML), an inactive contact that does not
  match, a duplicate IT Glue entry, a user without email (no welcome email);
- fabrikam (Entra, Hudu, Autotask): matches by email and second email, a
  duplicate by name (conflict), a contact to create;
- northwind (Entra only): welcome emails and self-serve only;
- tailwind (Entra only): end users by Entra group with a service account and a
  guest left out (R22), administrators by directory role (R23, policy m365-admins).
- wingtip (Entra, Halo PSA): a user matched by email, two Halo users with one
  email (a conflict: never the first of them, R24), a user to create.

Simulators keep everything in memory: restarting the sandbox starts over, so the
directory (state included) is rewritten; a directory that is not a sandbox is
never touched.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcilerError
from reconciler.integrations.kinds import IntegrationKind
from reconciler.integrations.table import TABLE
from reconciler.testing.autotask import AutotaskSimulator
from reconciler.testing.connectwise import ConnectWiseSimulator
from reconciler.testing.graph import GraphSimulator
from reconciler.testing.halo import HaloSimulator
from reconciler.testing.httpsim import TestCA, token
from reconciler.testing.hudu import HuduSimulator
from reconciler.testing.itglue import ItGlueSimulator
from reconciler.testing.sandbox_hookup import Hookup
from reconciler.testing.smtp import SmtpSink

MARK = ".reconciler-sandbox"
TENANTS = {
    "contoso": "11111111-1111-4111-8111-111111111111",
    "fabrikam": "22222222-2222-4222-8222-222222222222",
    "northwind": "33333333-3333-4333-8333-333333333333",
    "tailwind": "44444444-4444-4444-8444-444444444444",
    "wingtip": "55555555-5555-4555-8555-555555555555",
}
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
CW_COMPANY, AT_COMPANY = 250, 29683
O365 = "Office 365"


class SandboxError(ReconcilerError):
    pass


@dataclass
class Sandbox:
    root: Path
    ca: TestCA
    graph: GraphSimulator
    smtp: SmtpSink
    # every integration of the table, by its folder's simulator hook-up
    hookups: dict[IntegrationKind, Hookup]

    @classmethod
    def start(cls, root: Path) -> Sandbox:
        _prepare(root)
        ca = TestCA.create(root / "sandbox-ca")
        box = cls(
            root,
            ca,
            GraphSimulator(ca, tenants=tuple(TENANTS.values())),
            SmtpSink(ca, mode="starttls", username="mailer@demo-msp.example", password=token("smtp")),
            {kind: import_module(f.sandbox_module).hookup(ca) for kind, f in TABLE.items()},
        )
        box.smtp.outbox = root / "outbox"
        started: list[Any] = []
        try:
            for service in box.services():
                service.start()
                started.append(service)
            box._seed()
            box._write_config()
        except BaseException:
            for service in reversed(started):
                service.stop()
            raise
        return box

    def services(self) -> list[Any]:
        return [self.graph, *(h.simulator for h in self.hookups.values()), self.smtp]

    # the demo scenario's simulators (the seed below is written for them)
    @property
    def itglue(self) -> ItGlueSimulator:
        sim: ItGlueSimulator = self.hookups[IntegrationKind.ITGLUE].simulator
        return sim

    @property
    def hudu(self) -> HuduSimulator:
        sim: HuduSimulator = self.hookups[IntegrationKind.HUDU].simulator
        return sim

    @property
    def connectwise(self) -> ConnectWiseSimulator:
        sim: ConnectWiseSimulator = self.hookups[IntegrationKind.CONNECTWISE].simulator
        return sim

    @property
    def halo(self) -> HaloSimulator:
        sim: HaloSimulator = self.hookups[IntegrationKind.HALO].simulator
        return sim

    @property
    def halo_client(self) -> int:
        return self._halo_client

    @property
    def autotask(self) -> AutotaskSimulator:
        sim: AutotaskSimulator = self.hookups[IntegrationKind.AUTOTASK].simulator
        return sim

    def stop(self) -> None:
        for service in reversed(self.services()):
            service.stop()

    def summary(self) -> str:
        rel = self.root
        return "\n".join(
            [
                f"Sandbox ready in {rel}",
                f"  Microsoft Graph + login   {self.graph.url}",
                *(f"  {TABLE[kind].title:<26}{h.endpoint()}" for kind, h in self.hookups.items()),
                f"  SMTP (STARTTLS)           127.0.0.1:{self.smtp.port}  -> {rel / 'outbox'}/*.eml",
                "",
                "In another terminal:",
                f"  reconciler validate -c {rel}",
                f"  reconciler plan -c {rel}            # matches, creates, 3 conflicts, warnings",
                f"  reconciler apply -c {rel} --auto-approve",
                f"  ls {rel / 'outbox'}                 # the welcome emails",
                f"  reconciler plan -c {rel}            # converged, conflicts remain",
                f"Then uncomment the pin in {rel / 'customers' / 'contoso.yaml'} and plan again.",
                "Secrets are files under secrets/ (mode 600). Ctrl-C stops the sandbox.",
            ]
        )

    # --- demo data ------------------------------------------------------------------
    def _seed(self) -> None:
        g, t = self.graph, TENANTS
        user = _user_adder(g)

        # contoso: Entra + IT Glue + ConnectWise
        user(t["contoso"], "Alice", "Adams", "contoso.test")
        user(t["contoso"], "Bob", "Brown", "contoso.test")
        user(t["contoso"], "Carol", "Clark", "contoso.test")
        user(t["contoso"], "Dave", "Davis", "contoso.test")
        user(t["contoso"], "Erin", "Evans", "contoso.test", mail=False)
        user(t["contoso"], "Frank", "Fisher", "contoso.test")
        user(t["contoso"], "Grace", "Green", "contoso.test")
        user(t["contoso"], "Uma", "Unlicensed", "contoso.test", licensed=False)
        org = self.itglue.add_organization("Contoso Ltd")
        self._itglue_org = org
        self.itglue.add_category(O365)
        self.itglue.add_category("Active Directory")
        self.itglue.add_password(org, "Alice Adams - M365", "alice.adams@contoso.test", O365)
        self.itglue.add_password(org, "Grace Green - M365", "grace.green@contoso.test", O365)
        self.itglue.add_password(org, "Grace Green (old)", "grace.green@contoso.test", O365)
        self.itglue.add_password(org, "Shared mailbox", "info@contoso.test", None)
        cw = self.connectwise
        cw.add_company(CW_COMPANY, "Contoso Ltd", "Contoso")
        cw.add_company(CW_COMPANY + 1, "Someone Else Inc", "SomeoneElse")
        cw.add_contact(CW_COMPANY, "Alice", "Adams", ["alice.adams@contoso.test"])
        cw.add_contact(CW_COMPANY, "Bob", "Brown", ["bob.b@old-mail.example"])
        cw.add_contact(CW_COMPANY, "Dave", "Davis", ["dave.davis@contoso.test"])
        cw.add_contact(CW_COMPANY, "David", "Davis", ["dave.davis@contoso.test"])
        cw.add_contact(CW_COMPANY, "Frank", "Fisher", ["frank.fisher@contoso.test"], inactive=True)
        cw.add_contact(CW_COMPANY + 1, "Carol", "Clark", ["carol.clark@contoso.test"])

        # fabrikam: Entra + Hudu + Autotask
        user(t["fabrikam"], "Henry", "Hill", "fabrikam.test")
        user(t["fabrikam"], "Ivy", "Irwin", "fabrikam.test")
        user(t["fabrikam"], "Jack", "Jones", "fabrikam.test")
        user(t["fabrikam"], "Kate", "King", "fabrikam.test")
        company = self.hudu.add_company("Fabrikam Inc")
        self._hudu_company = company
        self.hudu.add_password(company, "Henry Hill", "henry.hill@fabrikam.test", O365)
        at = self.autotask
        at.add_company(AT_COMPANY, "Fabrikam Inc")
        at.add_contact(AT_COMPANY, "Henry", "Hill", ["henry.hill@fabrikam.test"])
        at.add_contact(AT_COMPANY, "Ivy", "Irwin", [])
        at.add_contact(AT_COMPANY, "Ivy", "Irwin", ["ivy@home.example"])
        at.add_contact(
            AT_COMPANY, "Katherine", "King", ["k.king@fabrikam.example", "kate.king@fabrikam.test"]
        )

        # northwind: Entra only
        user(t["northwind"], "Liam", "Lee", "northwind.test")
        user(t["northwind"], "Mia", "Moore", "northwind.test")

        # tailwind: Entra group + exclusions (R22), admins by role (R23)
        staff = [
            user(t["tailwind"], "Olivia", "Owens", "tailwind.test"),
            user(t["tailwind"], "Paul", "Price", "tailwind.test"),
            g.add_user(t["tailwind"], "svc-backup@tailwind.test", displayName="Backup Service"),
            g.add_user(t["tailwind"], "guest_partner.test#EXT#@tailwind.test", userType="Guest"),
        ]
        user(t["tailwind"], "Quinn", "Quest", "tailwind.test")  # licensed, but not in Staff
        g.add_group(t["tailwind"], "Staff", staff)
        rita = user(t["tailwind"], "Rita", "Root", "tailwind.test", licensed=False)
        g.directory.assign_role(t["tailwind"], GLOBAL_ADMIN, rita)

        # wingtip: Entra + Halo PSA
        user(t["wingtip"], "Nina", "North", "wingtip.test")
        user(t["wingtip"], "Oscar", "Olsen", "wingtip.test")
        user(t["wingtip"], "Paula", "Park", "wingtip.test")
        halo = self.halo
        client = halo.add_client("Wingtip Traders")
        self._halo_client = client
        halo.add_user(client, "Nina", "North", "nina.north@wingtip.test")
        halo.add_user(client, "Oscar", "Olsen", "oscar.olsen@wingtip.test")
        halo.add_user(client, "Oskar", "Olsen", "oscar.olsen@wingtip.test")

    def _write_config(self) -> None:
        root = self.root
        secrets = {
            "graph-client-secret": self.graph.identity.client_secret,
            "smtp-username": self.smtp.username or "",
            "smtp-password": self.smtp.password or "",
        }
        for hookup in self.hookups.values():
            secrets.update(hookup.secrets)
        (root / "secrets").mkdir(mode=0o700)
        for name, value in secrets.items():
            path = root / "secrets" / name
            path.write_text(value + "\n", encoding="utf-8")
            path.chmod(0o600)
        ca = str(self.ca.ca_file.relative_to(root))
        files = {
            "settings.yaml": SETTINGS.format(
                graph=self.graph.url,
                client_id=self.graph.identity.client_id,
                integrations="".join(h.settings(ca) for h in self.hookups.values()).rstrip("\n"),
                smtp_port=self.smtp.port,
                ca=ca,
            ),
            "policies/m365-full.yaml": POLICY_FULL,
            "policies/m365-basic.yaml": POLICY_BASIC,
            "customers/contoso.yaml": CUSTOMER_CONTOSO.format(
                tenant=TENANTS["contoso"], org=self._itglue_org, company=CW_COMPANY
            ),
            "customers/fabrikam.yaml": CUSTOMER_FABRIKAM.format(
                tenant=TENANTS["fabrikam"], company=self._hudu_company, at=AT_COMPANY
            ),
            "customers/northwind.yaml": CUSTOMER_NORTHWIND.format(tenant=TENANTS["northwind"]),
            "customers/tailwind.yaml": CUSTOMER_TAILWIND.format(tenant=TENANTS["tailwind"]),
            "policies/m365-admins.yaml": POLICY_ADMINS,
            "customers/wingtip.yaml": CUSTOMER_WINGTIP.format(
                tenant=TENANTS["wingtip"], client=self._halo_client
            ),
            "policies/m365-psa.yaml": POLICY_PSA,
            "templates/welcome.txt": WELCOME,
            ".gitignore": ".reconciler/\nsecrets/\noutbox/\nsandbox-ca/\n",
        }
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")


def _prepare(root: Path) -> None:
    """An empty directory, or a previous sandbox's (emptied); never anything else."""
    if root.exists():
        if not root.is_dir():
            raise SandboxError(f"{root} is not a directory")
        entries = list(root.iterdir())
        if entries and not (root / MARK).is_file():
            raise SandboxError(f"{root} is not empty and is not a sandbox; choose another --dir")
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    root.mkdir(parents=True, exist_ok=True)
    (root / MARK).write_text("written by `reconciler sandbox`; rewritten on every start\n", encoding="utf-8")


def _user_adder(graph: GraphSimulator) -> Any:
    def add(
        tenant: str, given: str, sur: str, domain: str, *, mail: bool = True, licensed: bool = True
    ) -> str:
        upn = f"{given.lower()}.{sur.lower()}@{domain}"
        fields: dict[str, Any] = {"givenName": given, "surname": sur, "displayName": f"{given} {sur}"}
        if mail:
            fields.update(mail=upn, proxyAddresses=[f"SMTP:{upn}"])
        else:
            fields.update(mail=None, proxyAddresses=[])
        if not licensed:
            fields["assignedLicenses"] = []
        return graph.add_user(tenant, upn, **fields)

    return add


SETTINGS = """\
# Written by `reconciler sandbox`: every connection points at a simulator on this
# machine, trusted through the sandbox's throwaway CA. Rewritten on every start.
apiVersion: reconciler.dev/v1
kind: Settings
metadata:
  name: demo-msp
spec:
  state:
    path: .reconciler/state.db
  features:
    passwordManager: true
  welcomeEmail:
    template: templates/welcome.txt
    subject: "Welcome to {{customer}}, {{given_name}}"
  connections:
    graph:
      clientId: {client_id}
      credential:
        clientSecret: {{file: secrets/graph-client-secret}}
      authorityHost: {graph}
      graphUrl: {graph}
      caFile: {ca}
{integrations}
    smtp:
      host: 127.0.0.1
      port: {smtp_port}
      security: starttls
      username: {{file: secrets/smtp-username}}
      password: {{file: secrets/smtp-password}}
      sender: "Demo MSP Service Desk <servicedesk@demo-msp.example>"
      caFile: {ca}
"""

POLICY_FULL = """\
apiVersion: reconciler.dev/v1
kind: ImportPolicy
metadata:
  name: m365-full
spec:
  appliesTo:
    labelSelector:
      matchLabels:
        plan: full
  source: entra
  options:
    passwordEntryMatching: true    # R12: IT Glue / Hudu
    contactMatching: true          # R14: ConnectWise / Autotask
    welcomeEmail: true             # R16
    selfServe: true                # R17
    passwordRemember: true         # R15
"""

POLICY_BASIC = """\
apiVersion: reconciler.dev/v1
kind: ImportPolicy
metadata:
  name: m365-basic
spec:
  appliesTo:
    labelSelector:
      matchLabels:
        plan: basic
  source: entra
  options:
    welcomeEmail: true
    selfServe: true
"""

CUSTOMER_CONTOSO = """\
apiVersion: reconciler.dev/v1
kind: Customer
metadata:
  name: contoso
  labels:
    plan: full
spec:
  directories:
    entra:
      tenantId: {tenant}
  integrations:
    itglueOrganizationId: {org}
    connectwiseCompanyId: {company}
  # dave.davis@contoso.test has two ConnectWise contacts with his email (a conflict).
  # `reconciler plan` lists both; uncomment this pin (with the id you choose) to link one:
  # pins:
  #   - account: dave.davis@contoso.test
  #     integration: connectwise
  #     recordId: "1003"
"""

CUSTOMER_FABRIKAM = """\
apiVersion: reconciler.dev/v1
kind: Customer
metadata:
  name: fabrikam
  labels:
    plan: full
spec:
  directories:
    entra:
      tenantId: {tenant}
  integrations:
    huduCompanyId: {company}
    autotaskCompanyId: {at}
"""

CUSTOMER_NORTHWIND = """\
apiVersion: reconciler.dev/v1
kind: Customer
metadata:
  name: northwind
  labels:
    plan: basic
spec:
  directories:
    entra:
      tenantId: {tenant}
"""

POLICY_PSA = """\
apiVersion: reconciler.dev/v1
kind: ImportPolicy
metadata:
  name: m365-psa
spec:
  appliesTo:
    labelSelector:
      matchLabels:
        plan: psa
  source: entra
  options:
    contactMatching: true          # R14, R24: Halo PSA
    welcomeEmail: true
"""

CUSTOMER_TAILWIND = """\
apiVersion: reconciler.dev/v1
kind: Customer
metadata:
  name: tailwind
spec:
  directories:
    entra:
      tenantId: {tenant}
  # R22: licensed members of the Entra group Staff, service accounts and guests
  # left out; `reconciler plan -c DIR --customer tailwind -v` names who and why.
  import:
    source: entra
    selection:
      groups: [Staff]
      exclude:
        upns: ["svc-*"]
    options:
      selfServe: true
"""

POLICY_ADMINS = """\
# R23: Microsoft 365 administrators by privileged directory role.
apiVersion: reconciler.dev/v1
kind: AdminImportPolicy
metadata:
  name: m365-admins
spec:
  appliesTo:
    customers: [tailwind]
  source: entra
  selection:
    roles: [Global Administrator, User Administrator]
"""

CUSTOMER_WINGTIP = """\
apiVersion: reconciler.dev/v1
kind: Customer
metadata:
  name: wingtip
  labels:
    plan: psa
spec:
  directories:
    entra:
      tenantId: {tenant}
  integrations:
    haloClientId: {client}
  # oscar.olsen@wingtip.test has two Halo users with his email (a conflict, R18/R24);
  # pin one in spec.pins to link it.
"""

WELCOME = """\
Hello {given_name},

your account {upn} is now looked after by Demo MSP. Our service desk
(servicedesk@demo-msp.example) is there for you from today.

-- Demo MSP
"""
