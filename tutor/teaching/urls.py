"""The teacher's pages, under /teach/ (see ``tutor.teaching.views``)."""

from django.urls import path

from tutor.teaching import views as views

urlpatterns = [
    path("", views.teacher_home, name="teacher-home"),
    path("classes/<int:classroom_id>/", views.class_detail, name="teacher-class"),
    path("classes/<int:classroom_id>/manage/", views.class_manage, name="teacher-class-manage"),
    path("classes/<int:classroom_id>/items/", views.class_items, name="teacher-class-items"),
    path("classes/<int:classroom_id>/students/<int:student_id>/", views.student_detail, name="teacher-student"),
    path("classes/<int:classroom_id>/students/<int:student_id>/sessions/<int:session_id>/", views.session_transcript,
         name="teacher-session"),
    # "Preview as a student" (the admin's item pages link here): a sandbox conversation with the tutor.
    path("items/<int:item_id>/preview/", views.item_preview, name="item-preview"),
    path("items/<int:item_id>/preview/say/", views.item_preview_say, name="item-preview-say"),
    path("items/<int:item_id>/preview/restart/", views.item_preview_restart, name="item-preview-restart"),
    path("courses/<slug:slug>/items/", views.course_items, name="teacher-course-items"),
    path("courses/<slug:slug>/settings/", views.course_settings_page, name="teacher-course-settings"),
    path("courses/<slug:slug>/goals/new/", views.goal_edit, name="teacher-goal-new"),
    path("courses/<slug:slug>/goals/<int:goal_id>/", views.goal_edit, name="teacher-goal-edit"),
]
