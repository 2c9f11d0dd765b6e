"""The teacher-pages benchmark runs end to end on tiny arguments (its figures are not asserted)."""

from tutor.teaching.management.commands.teacher_bench import Command


def test_benchmark_generates_a_class_and_times_every_page(db, settings):
    result = Command()._run({"seed": 3, "students": 4, "kcs": 3, "items_per_kc": 1, "answers": 5, "repeat": 1,
                             "phases": True})
    assert result["rows"]["attempts"] == 4 * 5
    assert set(result["pages"]) == {"class", "student", "session", "class_items", "course_items",
                                      "course_settings", "home"}
    for figures in result["pages"].values():
        assert figures["median_ms"] > 0 and figures["queries"] > 0 and figures["bytes"] > 0
    assert set(result["phases_cpu_ms"]) >= {"class_overview", "item_stats"}
