from __future__ import annotations

from rest_framework import generics, serializers

from governance.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    target_type = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = ["id", "created_at", "actor_repr", "action", "target_type", "target_id", "target_repr", "reason",
                  "before", "after", "extra"]

    def get_target_type(self, obj: AuditEvent) -> str:
        return f"{obj.target_type.app_label}.{obj.target_type.model}" if obj.target_type else ""


class AuditEventListAPIView(generics.ListAPIView):
    """The append-only audit log (newest first). Filter with ?action=prefix&target_type=app.model&target_id=."""

    serializer_class = AuditEventSerializer
    queryset = AuditEvent.objects.all()
    permission_map = {"GET": "governance.view_auditevent"}

    def get_queryset(self):  # type: ignore[no-untyped-def]
        qs = AuditEvent.objects.restrict(self.request.user).select_related("target_type")
        params = self.request.query_params
        if action := params.get("action"):
            qs = qs.filter(action__startswith=action)
        if (ttype := params.get("target_type")) and "." in ttype:
            app_label, model = ttype.split(".", 1)
            qs = qs.filter(target_type__app_label=app_label, target_type__model=model)
        if target_id := params.get("target_id"):
            qs = qs.filter(target_id=target_id)
        return qs
