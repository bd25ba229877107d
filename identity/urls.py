from django.urls import path

from identity import account_views, views

app_name = "identity"

urlpatterns = [
    path("tokens/", views.CITokenListView.as_view(), name="citoken_list"),
    path("tokens/new/", views.CITokenCreateView.as_view(), name="citoken_add"),
    path("tokens/<int:pk>/revoke/", views.CITokenRevokeView.as_view(), name="citoken_revoke"),
    path("applications/<int:pk>/gate/", views.ApplicationGateView.as_view(), name="application_gate"),
]

# --- user, role and team management for administrators (identity/account_views.py) ---------------------
urlpatterns += [
    path("users/", account_views.UserListView.as_view(), name="user_list"),
    path("users/new/", account_views.UserCreateView.as_view(), name="user_add"),
    path("users/<int:pk>/", account_views.UserDetailView.as_view(), name="user_detail"),
    path("users/<int:pk>/profile/", account_views.UserProfileView.as_view(), name="user_profile"),
    path("users/<int:pk>/roles/", account_views.UserRolesView.as_view(), name="user_roles"),
    path("users/<int:pk>/memberships/", account_views.UserMembershipAddView.as_view(), name="user_membership_add"),
    path(
        "users/<int:pk>/memberships/<int:membership_pk>/remove/",
        account_views.UserMembershipRemoveView.as_view(),
        name="user_membership_remove",
    ),
    path("users/<int:pk>/deactivate/", account_views.UserDeactivateView.as_view(), name="user_deactivate"),
    path("users/<int:pk>/activate/", account_views.UserActivateView.as_view(), name="user_activate"),
    path("users/<int:pk>/invite/", account_views.UserInviteView.as_view(), name="user_invite"),
    path("users/teams/", account_views.TeamListView.as_view(), name="team_list"),
    path("users/teams/new/", account_views.TeamCreateView.as_view(), name="team_add"),
    path("users/teams/<int:pk>/", account_views.TeamDetailView.as_view(), name="team_detail"),
    path("users/teams/<int:pk>/members/", account_views.TeamMemberAddView.as_view(), name="team_member_add"),
    path(
        "users/teams/<int:pk>/members/<int:user_pk>/remove/",
        account_views.TeamMemberRemoveView.as_view(),
        name="team_member_remove",
    ),
    path(
        "users/teams/<int:pk>/memberships/", account_views.TeamMembershipAddView.as_view(), name="team_membership_add"
    ),
    path(
        "users/teams/<int:pk>/memberships/<int:membership_pk>/remove/",
        account_views.TeamMembershipRemoveView.as_view(),
        name="team_membership_remove",
    ),
]
