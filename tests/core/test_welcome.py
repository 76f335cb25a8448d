"""Planning stage: the welcome email rendered into the plan (R16)."""

from __future__ import annotations

from reconciler.core.model import Account, AccountClass, DirSource
from reconciler.core.planning import PlanOptions, render_welcome


def account(display_name: str) -> Account:
    return Account(
        key="end-user/entra:1",
        account_class=AccountClass.END_USER,
        sources=(DirSource.ENTRA,),
        upn="zoe@acme.example",
        mail="zoe@acme.example",
        given_name="Zoë",
        display_name=display_name,
    )


def test_a_display_name_with_line_breaks_or_bidi_controls_gives_a_one_line_subject() -> None:
    """#12: the directory's display name reaches a header; the plan shows the subject sent."""
    mail = render_welcome(
        "acme",
        account("Zoë\r\nBcc: all@acme.example\u202e\t x"),
        PlanOptions(welcome_subject="Welcome, {display_name}", welcome_template="Hi {display_name}\n"),
    )
    assert mail.subject == "Welcome, Zoë Bcc: all@acme.example x"
    assert mail.body == "Hi Zoë\r\nBcc: all@acme.example\u202e\t x\n"  # the body is not a header
