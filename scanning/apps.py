from django.apps import AppConfig


class ScanningConfig(AppConfig):
    name = "scanning"
    verbose_name = "Scanning"

    def ready(self) -> None:
        from inventory import diff, extensions, pipeline
        from scanning import diff as scanning_diff
        from scanning import services, tasks, views

        diff.register_diff_section("findings", order=10, build=scanning_diff.findings_diff)

        pipeline.register("scan", order=10, run=services.scan_version_now, task=tasks.pipeline_scan.name)
        pipeline.register_summary("scan", services.scan_summary)
        extensions.register_version_panel(
            "scan", order=10, template="scanning/_version_panel.html", context=views.version_panel_context
        )
