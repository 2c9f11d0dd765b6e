"""Curriculum authoring in the Django admin.

Teachers see and change only the courses they own or are assigned to; everything below a course
(KCs, edges, items, steps…) follows its course. Nested inlines do not exist in the admin, so an
item's page lists its steps and each step's page holds its hints, subproblems and misconceptions.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import BaseModelAdmin
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import slugify

from content import packs, selectors
from content.graph import find_cycle
from content.graph_svg import graph_svg
from content.models import (
    Course,
    Hint,
    Item,
    KnowledgeComponent,
    Misconception,
    Prerequisite,
    Step,
    Subproblem,
)


class LinesField(forms.CharField):
    """A list of strings edited as a textarea, one entry per line."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 60})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(str(v) for v in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list):
            return [str(v) for v in value]
        text = super().to_python(value) or ""
        return [line.strip() for line in text.splitlines() if line.strip()]


class AnswerForm(forms.ModelForm):
    choices = LinesField(required=False, help_text="Multiple choice only: one choice per line.")
    variants = LinesField(required=False, help_text="Other accepted answers, one per line.")


class SubproblemForm(AnswerForm):
    hints = LinesField(required=False, help_text="This subproblem's hint ladder, one hint per line.")

    class Meta:
        model = Subproblem
        fields = ("step", "position", "prompt", "answer_kind", "answer", "tolerance", "units", "choices",
                  "variants", "hints", "kc")


class StepForm(AnswerForm):
    class Meta:
        model = Step
        fields = ("item", "position", "prompt", "answer_kind", "answer", "tolerance", "units", "choices",
                  "variants", "explanation")


def _course_of(obj: Any) -> Course | None:
    for attr in ("course", "item", "step", "dependent"):
        if hasattr(obj, f"{attr}_id") and getattr(obj, f"{attr}_id") is not None:
            target = getattr(obj, attr)
            return target if isinstance(target, Course) else _course_of(target)
    return None


class CourseScopedFields(BaseModelAdmin):  # type: ignore[type-arg]
    """Selects of curriculum objects (courses, KCs, items, steps) offer only the courses the user may
    edit, each read once per form class."""

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if not request.user.is_superuser:
            editable = selectors.course_list_editable(user=request.user)
            model = db_field.related_model
            if model is Course:
                kwargs["queryset"] = editable
            elif model is KnowledgeComponent:
                kwargs["queryset"] = KnowledgeComponent.objects.filter(course__in=editable)
            elif model is Item:
                kwargs["queryset"] = Item.objects.filter(course__in=editable)
            elif model is Step:
                kwargs["queryset"] = Step.objects.filter(item__course__in=editable).select_related("item")
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if formfield is not None and db_field.name not in (*self.get_autocomplete_fields(request),
                                                           *self.raw_id_fields):
            # Read once per request, not once per form: an inline formset renders the same select in
            # each of its forms, and the admin builds each form class more than once.
            read: dict[Any, list[Any]] = request.__dict__.setdefault("_admin_choices", {})
            choices: Any = formfield.choices
            # The choices depend on the related model and the user alone (no field limits them).
            key = (db_field.related_model, repr(db_field.remote_field.limit_choices_to))
            if key not in read:
                read[key] = [*iter(choices)]  # iter(): no COUNT query first
            formfield.choices = read[key]
        return formfield

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.related_model is KnowledgeComponent and not request.user.is_superuser:
            kwargs["queryset"] = KnowledgeComponent.objects.filter(
                course__in=selectors.course_list_editable(user=request.user)
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class CourseScopedAdmin(CourseScopedFields, admin.ModelAdmin):
    """Limits a teacher to objects of the courses they may edit."""

    course_path = "course"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        editable = selectors.course_list_editable(user=request.user)
        return qs.filter(**{f"{self.course_path}__in": editable})

    def _may_edit(self, request: HttpRequest, obj: Any | None) -> bool:
        if obj is None or request.user.is_superuser:
            return True
        course = obj if isinstance(obj, Course) else _course_of(obj)
        return course is None or course.pk in selectors.course_ids_editable(user=request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_edit(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_edit(request, obj)


class PackUploadForm(forms.Form):
    pack = forms.FileField(help_text="A course pack (.json), see content/schema/course_pack.schema.json.")


@admin.register(Course)
class CourseAdmin(CourseScopedAdmin):
    course_path = "pk"
    list_display = ("title", "slug", "source", "owner", "kc_count", "item_count", "updated")
    search_fields = ("title", "slug")
    prepopulated_fields = {"slug": ("title",)}
    # A plain multiple select: the admin's two-box widget gives its search icons ARIA attributes a
    # <span> may not have (axe-core: aria-prohibited-attr), and a course has few teachers.
    readonly_fields = ("prerequisite_graph",)
    actions = ["export_packs"]
    change_list_template = "admin/content/course/change_list.html"

    class Media:
        css = {"all": ("css/authoring.css",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = admin.ModelAdmin.get_queryset(self, request).select_related("owner").annotate(
            n_kcs=Count("kcs", distinct=True), n_items=Count("items", distinct=True))
        if request.user.is_superuser:
            return qs
        return qs.filter(pk__in=selectors.course_list_editable(user=request.user))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # The owner is a teacher: offering every account would show a teacher all students' usernames.
        if db_field.name == "owner" and not request.user.is_superuser:
            kwargs["queryset"] = selectors.teacher_list()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "teachers" and not request.user.is_superuser:
            kwargs["queryset"] = selectors.teacher_list()
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description="KCs")
    def kc_count(self, obj: Course) -> int:
        return int(obj.n_kcs)  # type: ignore[attr-defined]

    @admin.display(description="Items")
    def item_count(self, obj: Course) -> int:
        return int(obj.n_items)  # type: ignore[attr-defined]

    @admin.display(description="Prerequisite graph")
    def prerequisite_graph(self, obj: Course) -> str:
        if obj.pk is None:
            return "Save the course first."
        # Drawn into the page (not as an <img>) so each node's full name shows on hover; the box
        # scrolls both ways (static/app/css/authoring.css), as the page's CSP allows no inline style.
        nodes, edges = selectors.course_graph(course=obj)
        url = reverse("course-graph-svg", args=[obj.slug])
        return format_html(
            '<div class="prereq-graph" role="region" tabindex="0" aria-label="Prerequisite graph of {}, '
            'scrollable">{}</div>'
            '<p><a href="{}" target="_blank" rel="noopener">Open the graph full size</a></p>',
            obj.title,
            mark_safe(graph_svg(nodes, edges)),  # built from escaped names only (content/graph_svg.py)
            url,
        )

    def save_model(self, request: HttpRequest, obj: Course, form: Any, change: bool) -> None:
        if not change and obj.owner_id is None:
            obj.owner = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    @admin.action(description="Export selected courses as course packs (JSON)")
    def export_packs(self, request: HttpRequest, queryset: QuerySet[Course]) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one course to export.", messages.WARNING)
            return None
        course = queryset.get()
        body = json.dumps(packs.export_pack(course=course), indent=2, ensure_ascii=False)
        response = HttpResponse(body, content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{slugify(course.slug)}.json"'
        return response

    def get_urls(self) -> list[Any]:
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="content_course_import"),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            return HttpResponse("You may not add courses.", status=403)
        errors: list[str] = []
        form = PackUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                course = packs.import_pack(packs.pack_parse(form.cleaned_data["pack"].read()), owner=request.user)
            except packs.PackError as exc:
                errors = exc.problems
            else:
                self.message_user(request, f"Imported course “{course.title}”.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:content_course_change", args=[course.pk]))
        context = {**self.admin_site.each_context(request), "form": form, "errors": errors,
                   "title": "Import a course pack", "opts": self.model._meta}
        return render(request, "admin/content/course/import.html", context)


class PrerequisiteFormSet(forms.BaseInlineFormSet):
    """Checks the KC's whole set of incoming edges at once, with every other edge of the course,
    so two new edges that together close a cycle are caught too."""

    def clean(self) -> None:
        super().clean()
        kc: KnowledgeComponent = self.instance
        if kc.pk is None:
            return
        kept: list[tuple[str, str]] = []
        changed_ids = []
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or not form.cleaned_data:
                continue
            if form.instance.pk:
                changed_ids.append(form.instance.pk)
            if form.cleaned_data.get("DELETE"):
                continue
            pre = form.cleaned_data.get("prerequisite")
            if pre is None:
                continue
            if pre.course_id != kc.course_id:
                raise ValidationError(f"{pre} belongs to another course.")
            kept.append((pre.slug, kc.slug))
        others = (
            Prerequisite.objects.filter(dependent__course_id=kc.course_id)
            .exclude(pk__in=changed_ids)
            .values_list("prerequisite__slug", "dependent__slug")
        )
        cycle = find_cycle([*others, *kept])
        if cycle:
            names = dict(KnowledgeComponent.objects.filter(course_id=kc.course_id).values_list("slug", "name"))
            raise ValidationError(
                "These prerequisites would make a cycle: " + " → ".join(names.get(s, s) for s in cycle)
            )


class PrerequisiteInline(admin.TabularInline):
    model = Prerequisite
    fk_name = "dependent"
    formset = PrerequisiteFormSet
    extra = 1
    verbose_name = "prerequisite"
    verbose_name_plural = "Prerequisites (what must be mastered first)"
    autocomplete_fields = ("prerequisite",)


@admin.register(KnowledgeComponent)
class KnowledgeComponentAdmin(CourseScopedAdmin):
    list_display = ("name", "course", "slug", "position")
    list_select_related = ("course",)
    list_filter = ("course",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [PrerequisiteInline]


@admin.register(Prerequisite)
class PrerequisiteAdmin(CourseScopedAdmin):
    course_path = "dependent__course"
    list_display = ("prerequisite", "dependent", "strength")
    list_select_related = ("prerequisite", "dependent")
    list_filter = ("dependent__course",)
    autocomplete_fields = ("prerequisite", "dependent")


class StepInline(admin.StackedInline):
    model = Step
    form = StepForm
    extra = 0
    show_change_link = True
    fields = ("position", "prompt", "answer_kind", "answer", "tolerance", "units", "choices", "variants",
              "explanation")


@admin.register(Item)
class ItemAdmin(CourseScopedAdmin):
    list_display = ("title", "course", "slug", "difficulty", "position", "preview_link")
    list_select_related = ("course",)
    list_filter = ("course", "difficulty")
    search_fields = ("title", "slug", "source_id", "statement")
    prepopulated_fields = {"slug": ("title",)}
    filter_horizontal = ("kcs",)
    inlines = [StepInline]
    readonly_fields = ("preview_link",)

    @admin.display(description="Preview")
    def preview_link(self, obj: Item) -> str:
        if obj.pk is None:
            return "-"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">Preview as a student</a>',
            reverse("item-preview", args=[obj.pk]),
        )


# The step page and its inlines name their fields: without them the admin builds the step's form class
# and every inline's formset class again only to list their fields, nearly a third of the page's CPU
# time (docs/performance.md).
class HintInline(admin.TabularInline):
    model = Hint
    fields = ("position", "text")
    extra = 1
    verbose_name_plural = "Hint ladder (in order; the last hint is the bottom-out)"


class SubproblemInline(CourseScopedFields, admin.StackedInline):
    model = Subproblem
    form = SubproblemForm
    fields = tuple(f for f in SubproblemForm.Meta.fields if f != "step")  # the inline sets the step
    extra = 0


class MisconceptionInline(CourseScopedFields, admin.StackedInline):
    model = Misconception
    fields = ("name", "pattern_kind", "pattern", "feedback", "kc")
    extra = 0


@admin.register(Step)
class StepAdmin(CourseScopedAdmin):
    course_path = "item__course"
    form = StepForm
    fields = StepForm.Meta.fields
    list_display = ("__str__", "answer_kind", "answer")
    list_select_related = ("item",)  # a step's name is its item's title and its position
    list_filter = ("item__course",)
    search_fields = ("item__title", "prompt")
    autocomplete_fields = ("item",)  # a search box, not a select of every item of every course
    inlines = [HintInline, SubproblemInline, MisconceptionInline]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Misconception)
class MisconceptionAdmin(CourseScopedAdmin):
    course_path = "step__item__course"
    list_display = ("name", "step", "pattern_kind", "pattern", "kc")
    list_select_related = ("step__item", "kc")
    list_filter = ("step__item__course",)
    search_fields = ("name", "pattern", "feedback")
