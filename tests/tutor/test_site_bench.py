"""The page-timing benchmark of every role's pages runs end to end on tiny arguments (its figures are
not asserted, only that each page was requested, answered and measured)."""

from tutor.management.commands.site_bench import Command


def test_site_bench_times_log_in_doors_admin_and_teacher_pages(db):
    result = Command()._run({"seed": 5, "students": 3, "kcs": 3, "items_per_kc": 1, "answers": 4, "repeat": 1,
                             "phases": False})
    pages = result["pages"]
    assert {"class", "home", "login_page", "login", "login_to_door", "door_teacher", "door_researcher",
            "door_student", "admin_step", "admin_steps", "admin_kc", "admin_kcs", "api_docs"} <= set(pages)
    for name, figures in pages.items():
        assert figures["median_ms"] > 0 and figures["url"].startswith("/"), name
    # a log-in checks a real password and writes a session; the admin pages read the database
    assert pages["login"]["queries"] > 0 and pages["admin_step"]["queries"] > 0
    assert pages["login_to_door"]["bytes"] > 0
