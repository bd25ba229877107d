from django.apps import AppConfig


class LicensesConfig(AppConfig):
    name = "licenses"
    verbose_name = "Licenses"

    def ready(self) -> None:
        from inventory import diff, extensions, pipeline
        from licenses import diff as licenses_diff
        from licenses import services, tasks, views

        diff.register_diff_section("licenses", order=20, build=licenses_diff.licenses_diff)

        pipeline.register("licenses", order=20, run=services.analyse_version_step, task=tasks.pipeline_analyse.name)
        pipeline.register_summary("licenses", services.license_summary)  # type: ignore[arg-type]
        pipeline.on_facts_changed(services.refresh_use_fit)
        extensions.register_version_panel(
            "licenses", order=20, template="licenses/_version_panel.html", context=views.version_panel_context
        )
        extensions.register_application_links("licenses", views.application_links)
