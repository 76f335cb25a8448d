"""What a stale plan's refusal names (#12): parts added, removed, changed; the template;
a long list cut short; a plan without parts (format 5 and older) gets the general message."""

from __future__ import annotations

from reconciler.config.digest import config_changes, stale_message


def test_each_part_that_differs_is_named_with_its_file() -> None:
    before = {"Customer a": "1", "Customer b": "2", "ImportPolicy p": "3", "template t/w.txt": "4"}
    after = {"Customer a": "1", "Customer c": "5", "ImportPolicy p": "9", "template t/w.txt": "8"}
    files = {"Customer c": "customers/c.yaml", "ImportPolicy p": "policies.yaml"}
    assert config_changes(before, after, files) == [
        "Customer b removed",
        "Customer c added (customers/c.yaml)",
        "ImportPolicy p changed (policies.yaml)",
        "the welcome template t/w.txt changed",
    ]
    assert stale_message(before, after, files) == (
        "the config changed since this plan was made: Customer b removed, Customer c added "
        "(customers/c.yaml), ImportPolicy p changed (policies.yaml), the welcome template t/w.txt "
        "changed; plan again"
    )


def test_a_long_list_is_cut_short_and_an_old_plan_gets_the_general_message() -> None:
    before = {f"Customer c{i:02d}": "1" for i in range(20)}
    after = {f"Customer c{i:02d}": "2" for i in range(20)}
    message = stale_message(before, after, {})
    assert message.count("c0") + message.count("c1") == 8 and message.endswith("and 12 more; plan again")
    assert stale_message({}, after, {}) == "the config changed since this plan was made; plan again"
