"""The pure side of backups: which services, the plan, retention groups, space and freshness."""

from __future__ import annotations

import datetime as dt

import pytest

from chaton_ops.core.backup_plan import keep_flags, plan_backup
from chaton_ops.core.database import dump_command
from chaton_ops.core.free_space import FreeSpace, parse_df_posix, parse_sftp_df, space_problem
from chaton_ops.core.freshness import evaluate_freshness
from chaton_ops.core.inventory import Database, Inventory, Retention
from chaton_ops.core.repository_location import locate_repository
from chaton_ops.core.selection import select_services
from chaton_ops.errors import UsageError


def make_inventory(**services: dict) -> Inventory:
    return Inventory.model_validate({
        "version": 1,
        "collective": {"name": "T", "domain": "t.example", "contact": "a@t.example"},
        "defaults": {"retention": {"last": 3, "daily": 7}},
        "secrets": {"pw": {"env": "PW"}},
        "repositories": {"main": {"url": "sftp:backup@b.example:/srv/restic/main", "password": "pw"},
                         "offsite": {"url": "/mnt/offsite", "password": "pw", "min_free_percent": 5}},
        "hosts": {"web": {"address": "192.0.2.1"}, "mail": {"address": "192.0.2.2"}},
        "tenants": {"cigales": {"contact": "c@c.example", "repository": "main"}},
        "services": services,
    })


INVENTORY = make_inventory(
    www={"host": "web", "tenant": "cigales", "priority": "critical", "data": ["/srv/www"], "exclude": ["*.tmp"],
         "databases": [{"engine": "postgres", "name": "site"}]},
    blog={"host": "web", "data": ["/srv/blog"], "retention": {"last": 1}, "repositories": ["main", "offsite"]},
    mail={"host": "mail", "priority": "high", "data": ["/var/mail"], "repositories": ["main"]},
)


def test_services_are_chosen_by_name_host_tenant_or_all_in_priority_order():
    assert select_services(INVENTORY, all_services=True) == ["www", "mail", "blog"]
    assert select_services(INVENTORY, host="web") == ["www", "blog"]
    assert select_services(INVENTORY, tenant="cigales") == ["www"]
    assert select_services(INVENTORY, ["blog"], host="mail") == ["mail", "blog"]


@pytest.mark.parametrize(("names", "kwargs", "message"), [
    ([], {}, "--all"),
    (["nope"], {}, "unknown service: nope"),
    ([], {"host": "nope"}, "unknown host: nope"),
    ([], {"tenant": "nope"}, "unknown tenant: nope"),
])
def test_a_bad_selection_is_one_clear_usage_error(names, kwargs, message):
    with pytest.raises(UsageError, match=message):
        select_services(INVENTORY, names, **kwargs)


def test_the_plan_has_one_target_per_service_and_repository_with_its_tags_and_threshold():
    plan = plan_backup(INVENTORY, ["www", "blog"])
    assert [(t.service, t.repository) for t in plan.targets] == [("www", "main"), ("blog", "main"), ("blog", "offsite")]
    www = plan.targets[0]
    assert www.tags == ("chaton", "service:www", "tenant:cigales")
    assert www.paths == ("/srv/www",) and www.excludes == ("*.tmp",)
    assert www.min_free_percent == 10.0 and plan.targets[2].min_free_percent == 5
    assert plan.hosts() == ["web"]


def test_retention_groups_services_by_repository_and_policy_so_policies_never_mix():
    plan = plan_backup(INVENTORY, ["www", "blog", "mail"])
    groups = {(g.repository, g.services): g.keep_flags for g in plan.retention}
    assert groups == {
        ("main", ("www", "mail")): ("--keep-last", "3", "--keep-daily", "7"),
        ("main", ("blog",)): ("--keep-last", "1"),
        ("offsite", ("blog",)): ("--keep-last", "1"),
    }
    main_default = next(g for g in plan.retention if g.services == ("www", "mail"))
    assert main_default.tags == ("service:www", "service:mail")


def test_no_retention_means_no_forget_at_all():
    assert plan_backup(INVENTORY, ["www"], retention=False).retention == ()


def test_a_service_with_nothing_to_back_up_is_refused():
    inventory = make_inventory(empty={"host": "web"})
    with pytest.raises(UsageError, match="nothing to back up"):
        plan_backup(inventory, ["empty"])


def test_keep_flags_cover_every_rule_and_refuse_an_empty_policy():
    assert keep_flags(Retention(hourly=24, weekly=4, monthly=6, yearly=2, within="2d")) == [
        "--keep-hourly", "24", "--keep-weekly", "4", "--keep-monthly", "6", "--keep-yearly", "2",
        "--keep-within", "2d"]
    with pytest.raises(UsageError, match="keeps nothing"):
        keep_flags(Retention.model_construct())  # refused by the model; keep_flags stays a guard


def test_dump_commands_run_as_the_database_user_without_a_shell():
    assert dump_command(Database(engine="postgres", name="site")) == [
        "runuser", "-u", "postgres", "--", "pg_dump", "--no-password", "--format=plain", "site"]
    assert dump_command(Database(engine="mariadb", name="wiki", user="backup"))[:2] == ["mysqldump", "--user=backup"]


def test_sftp_df_output_gives_total_and_available_bytes():
    text = ("sftp> -df /srv/restic/none\nsftp> -df /srv/restic\n"
            "        Size         Used        Avail       (root)    %Capacity\n"
            "   264212084     23098448     83292464    241113636           8%\n")
    space = parse_sftp_df(text)
    assert space == FreeSpace(264212084 * 1024, 83292464 * 1024)
    assert round(space.free_percent, 1) == 31.5
    assert parse_sftp_df("sftp> df /x\nCouldn't statvfs\n") is None


def test_posix_df_output_gives_total_and_available_bytes():
    text = "Filesystem     1024-blocks      Used Available Capacity Mounted on\n/dev/sda1  1000 900 100  90% /\n"
    assert parse_df_posix(text) == FreeSpace(1000 * 1024, 100 * 1024)


def test_space_below_the_threshold_is_a_problem_that_says_how_much_is_left():
    assert space_problem(FreeSpace(1000, 500), 10, "main") is None
    problem = space_problem(FreeSpace(1000, 50), 10, "main")
    assert problem is not None and "only 5.0 % free" in problem and "min_free_percent 10 %" in problem


@pytest.mark.parametrize(("url", "kind", "path", "host"), [
    ("sftp:backup@b.example:/srv/restic/main", "sftp", "/srv/restic/main", "b.example"),
    ("sftp://backup@b.example:2222//srv/restic", "sftp", "/srv/restic", "b.example"),
    ("sftp://b.example/restic", "sftp", "restic", "b.example"),
    ("/mnt/offsite", "local", "/mnt/offsite", None),
    ("local:/mnt/x", "local", "/mnt/x", None),
    ("rest:https://r.example/", "other", "", None),
])
def test_repository_urls_say_where_free_space_can_be_measured(url, kind, path, host):
    location = locate_repository(url)
    assert (location.kind, location.path, location.host) == (kind, path, host)


def test_freshness_uses_the_service_limit_or_the_default_of_26_hours():
    inventory = make_inventory(a={"host": "web", "data": ["/a"], "max_age_hours": 2}, b={"host": "web", "data": ["/b"]},
                               c={"host": "web", "data": ["/c"]})
    now = dt.datetime(2026, 1, 2, 12, tzinfo=dt.UTC)
    newest = {"a": now - dt.timedelta(hours=3), "b": now - dt.timedelta(hours=25)}
    verdicts = {f.service: f for f in evaluate_freshness(inventory, "main", ["a", "b", "c"], newest)}
    assert verdicts["a"].is_stale(now) and verdicts["a"].max_age_hours == 2
    assert not verdicts["b"].is_stale(now) and verdicts["b"].max_age_hours == 26
    assert verdicts["c"].is_stale(now) and verdicts["c"].age_hours(now) is None
