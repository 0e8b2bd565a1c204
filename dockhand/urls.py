"""URL map: the JSON API under /api/, the dashboard pages, the Django admin."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.generic.base import RedirectView
from drf_spectacular.views import SpectacularJSONAPIView

from dockhand import logins, pages, user_views
from dockhand import views as session_views
from dockhand.api import LoginView, LogoutView, SessionView
from dockhand.api_docs import ApiDocsView
from dockhand.users_api import UserDetail, UserList
from gitsync import views as git_pages
from gitsync.api import forge as forge_api
from gitsync.api import views as git_api
from stacks import (
    config_views,
    member_views,
    metrics,
    poll_views,
    registry_views,
    secret_store_views,
    token_views,
    webhook_views,
)
from stacks import container_views as container_pages
from stacks import deployment_views as deployment_pages
from stacks import environment_views as environment_pages
from stacks import lifecycle_views as lifecycle_pages
from stacks import project_views as project_pages
from stacks import views as stack_pages
from stacks.api import checks as checks_api
from stacks.api import containers as containers_api
from stacks.api import lifecycle as lifecycle_api
from stacks.api import members as members_api
from stacks.api import projects as projects_api
from stacks.api import registries as registries_api
from stacks.api import secret_stores as stores_api
from stacks.api import swarm as swarm_api
from stacks.api import system as system_api
from stacks.api import views as stack_api
from stacks.api.audit import AuditList
from stacks.api.health import HealthView
from stacks.api.tokens import TokenDetail, TokenList
from stacks.engine import CONTAINER_ACTIONS
from stacks.services.git_reach import environment_choices, git_reach
from stacks.services.projects import PROJECT_ACTIONS

api = [
    # First: Django tries the routes in order, and under a burst of pushes nearly every
    # request is one (~6% of a web process's CPU went to walking the routes before it).
    path("api/git/stacks/<int:pk>/webhook", webhook_views.stack_webhook),
    path("api/health", HealthView.as_view()),
    path("api/schema", SpectacularJSONAPIView.as_view(), name="api-schema"),
    path("api/docs", ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("metrics", metrics.metrics_view),
    path("api/auth/login", LoginView.as_view()),
    path("api/auth/logout", LogoutView.as_view()),
    path("api/auth/session", SessionView.as_view()),
    path("api/system", system_api.SystemInfo.as_view()),
    path("api/system/version", system_api.SystemVersion.as_view()),
    path("api/notifications", system_api.NotificationList.as_view()),
    path("api/stacks", projects_api.DockhandProjectList.as_view()),
    path("api/tokens", TokenList.as_view()),
    path("api/tokens/<int:pk>", TokenDetail.as_view()),
    path("api/audit", AuditList.as_view()),
    path("api/users", UserList.as_view()),
    path("api/users/<int:pk>", UserDetail.as_view()),
    path("api/git/credentials", git_api.CredentialList.as_view()),
    path("api/git/credentials/<int:pk>", git_api.CredentialDetail.as_view()),
    path("api/git/repositories", git_api.RepositoryList.as_view(reach_of=git_reach)),
    path("api/git/repositories/<int:pk>", git_api.RepositoryDetail.as_view(reach_of=git_reach)),
    path("api/git/repositories/<int:pk>/webhook", webhook_views.repository_webhook),
    path("api/secret-stores", stores_api.SecretStoreList.as_view()),
    path("api/secret-stores/<int:pk>", stores_api.SecretStoreDetail.as_view()),
    path("api/secret-stores/<int:pk>/test", stores_api.SecretStoreTest.as_view()),
    path("api/registries", registries_api.RegistryList.as_view()),
    path("api/registries/<int:pk>", registries_api.RegistryDetail.as_view()),
    path("api/registries/<int:pk>/test", registries_api.RegistryTest.as_view()),
    path("api/git/repositories/<int:pk>/webhook/<str:target>", webhook_views.repository_webhook),
    path("api/git/repositories/<int:pk>/discover", config_views.RepositoryDiscover.as_view()),
    path("api/poll/run", poll_views.PollRun.as_view()),
    path("api/forge/repositories", forge_api.ForgeRepositories.as_view(reach_of=git_reach)),
    path("api/forge/branches", forge_api.ForgeBranches.as_view(reach_of=git_reach)),
    path("api/environments", stack_api.EnvironmentList.as_view()),
    path("api/environments/<int:pk>", stack_api.EnvironmentDetail.as_view()),
    path("api/environments/<int:pk>/members", members_api.MemberList.as_view()),
    path("api/environments/<int:pk>/notifications/test", checks_api.EnvironmentNotifyTest.as_view()),
    path("api/environments/<int:pk>/test", checks_api.EnvironmentEngineTest.as_view()),
    path("api/environments/<int:pk>/members/<int:user_id>", members_api.MemberDetail.as_view()),
    path("api/git/stacks", stack_api.StackList.as_view()),
    path("api/git/stacks/<int:pk>", stack_api.StackDetail.as_view()),
    path("api/git/stacks/<int:pk>/sync", stack_api.StackSync.as_view()),
    path("api/git/stacks/<int:pk>/deployments", stack_api.StackDeployments.as_view()),
    path("api/git/stacks/<int:pk>/rollback", lifecycle_api.StackRollback.as_view()),
    path("api/git/stacks/<int:pk>/notifications/test", checks_api.StackNotifyTest.as_view()),
    path("api/git/stacks/<int:pk>/containers", containers_api.StackContainers.as_view()),
    path("api/git/stacks/<int:pk>/containers/<str:ref>/logs", containers_api.ContainerLogs.as_view()),
    *(
        path(
            f"api/git/stacks/<int:pk>/containers/<str:ref>/{action}",
            containers_api.ContainerOperation.as_view(action=action),
        )
        for action in CONTAINER_ACTIONS
    ),
    path("api/git/stacks/<int:pk>/status", lifecycle_api.StackStatus.as_view()),
    path("api/git/stacks/<int:pk>/diff", lifecycle_api.StackDiff.as_view()),
    *(
        path(f"api/git/stacks/<int:pk>/{op}", lifecycle_api.StackOperation.as_view(operation=op))
        for op in ("start", "stop", "restart", "down")
    ),
    *(
        path(f"api/git/stacks/<int:pk>/{action}", swarm_api.SwarmAction.as_view(action=action))
        for action in ("scale", "run")
    ),
    path("api/git/stacks/<int:pk>/webhooks", stack_api.StackWebhooks.as_view()),
    path("api/projects", projects_api.ProjectList.as_view()),
    path("api/projects/<str:name>", projects_api.ProjectDetail.as_view()),
    path("api/projects/<str:name>/adopt", projects_api.ProjectAdopt.as_view()),
    *(
        path(f"api/projects/<str:name>/{action}", projects_api.ProjectOperation.as_view(operation=action))
        for action in PROJECT_ACTIONS
    ),
    path("api/deployments", stack_api.DeploymentList.as_view()),
    path("api/deployments/<int:pk>", stack_api.DeploymentDetail.as_view()),
    path("api/deployments/<int:pk>/approve", stack_api.DeploymentApprove.as_view()),
    path("api/deployments/<int:pk>/cancel", lifecycle_api.DeploymentCancel.as_view()),
    path("api/deployments/<int:pk>/reject", stack_api.DeploymentReject.as_view()),
]

dashboard = [
    path("", stack_pages.overview_page, name="home"),
    path("favicon.ico", RedirectView.as_view(url="/static/favicon.svg", permanent=True)),
    path("login/", logins.answers_lockout(session_views.LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", logins.answers_lockout(session_views.PasswordChangeView.as_view()), name="password-change"),
    path("password/done/", session_views.PasswordChangeDoneView.as_view(), name="password-change-done"),
    path("audit/", deployment_pages.audit_log, name="audit"),
    path("tokens/", token_views.token_list, name="token-list"),
    path("tokens/new/", token_views.token_new, name="token-new"),
    path("tokens/<int:pk>/revoke/", token_views.token_revoke_view, name="token-revoke"),
    path("users/", user_views.user_list, name="user-list"),
    path("users/new/", user_views.user_new, name="user-new"),
    path("users/<int:pk>/", user_views.user_detail, name="user-detail"),
    path("environments/<int:pk>/members/", member_views.member_list, name="environment-members"),
    path("environments/<int:pk>/members/<int:user_id>/remove/", member_views.member_remove, name="member-remove"),
    path("projects/", project_pages.project_list, name="project-list"),
    *(
        path(
            f"projects/<int:pk>/<str:name>/{action}/",
            project_pages.project_operation_view,
            {"action": action},
            name=f"project-{action}",
        )
        for action in PROJECT_ACTIONS
    ),
    path("projects/<int:pk>/<str:name>/remove/", project_pages.project_delete_view, name="project-delete"),
    path("projects/<int:pk>/<str:name>/adopt/", project_pages.project_adopt_view, name="project-adopt"),
    path("stacks/", stack_pages.stack_list, name="stack-list"),
    path("stacks/rows/", stack_pages.stack_rows, name="stack-rows"),
    path("stacks/new/", stack_pages.stack_form, name="stack-new"),
    path("stacks/cron-preview/", stack_pages.cron_preview, name="cron-preview"),
    path("stacks/source-check/", stack_pages.stack_source_view, name="stack-source"),
    path("stacks/<int:pk>/", stack_pages.stack_detail, name="stack-detail"),
    path("stacks/<int:pk>/status/", stack_pages.stack_status, name="stack-status"),
    path("stacks/<int:pk>/edit/", stack_pages.stack_form, name="stack-edit"),
    path("stacks/<int:pk>/source-check/", stack_pages.stack_source_view, name="stack-source-edit"),
    path("stacks/<int:pk>/env/", stack_pages.stack_env, name="stack-env"),
    path("stacks/<int:pk>/sync/", stack_pages.stack_sync_view, name="stack-sync"),
    path("stacks/<int:pk>/delete/", stack_pages.stack_delete_view, name="stack-delete"),
    path("stacks/<int:pk>/rollback/", lifecycle_pages.stack_rollback_view, name="stack-rollback"),
    path("stacks/<int:pk>/resume/", lifecycle_pages.stack_resume_view, name="stack-resume"),
    path("stacks/<int:pk>/diff/", lifecycle_pages.stack_diff_view, name="stack-diff"),
    path("stacks/<int:pk>/containers/", container_pages.stack_containers_view, name="stack-containers"),
    *(
        path(
            f"stacks/<int:pk>/containers/<str:ref>/{action}/",
            container_pages.container_operation_view,
            {"action": action},
            name=f"stack-container-{action}",
        )
        for action in CONTAINER_ACTIONS
    ),
    *(
        path(f"stacks/<int:pk>/{op}/", lifecycle_pages.stack_operation_view, {"operation": op}, name=f"stack-{op}")
        for op in ("start", "stop", "restart", "down")
    ),
    path("deployments/<int:pk>/cancel/", lifecycle_pages.deployment_cancel_view, name="deployment-cancel"),
    path("stacks/<int:pk>/notify-test/", lifecycle_pages.stack_notify_test_view, name="stack-notify-test"),
    path("environments/<int:pk>/test/", lifecycle_pages.environment_engine_test_view, name="environment-test"),
    path(
        "environments/<int:pk>/notify-test/",
        lifecycle_pages.environment_notify_test_view,
        name="environment-notify-test",
    ),
    path("deployments/<int:pk>/", deployment_pages.deployment_detail, name="deployment-detail"),
    path(
        "deployments/<int:pk>/approve/",
        deployment_pages.deployment_review,
        {"verdict": "approve"},
        name="deployment-approve",
    ),
    path(
        "deployments/<int:pk>/reject/",
        deployment_pages.deployment_review,
        {"verdict": "reject"},
        name="deployment-reject",
    ),
    path(
        "repositories/<int:pk>/test/", git_pages.repository_test_view, {"reach_of": git_reach}, name="repository-test"
    ),
    *pages.urls(git_pages.credential_pages(environments=environment_choices)),
    *pages.urls(git_pages.repository_pages(reach_of=git_reach)),
    *pages.urls(environment_pages.ENVIRONMENTS),
    path("secret-stores/<int:pk>/test/", secret_store_views.store_test_view, name="store-test"),
    *pages.urls(secret_store_views.STORES),
    *pages.urls(registry_views.REGISTRIES),
    path("registries/<int:pk>/test/", registry_views.registry_test_view, name="registry-test"),
    path("stacks/<int:pk>/check-images/", registry_views.stack_images_check_view, name="stack-check-images"),
]

# The admin's login checks passwords through the same limiter as the others.
admin.site.login_form = logins.AdminLoginForm
urlpatterns = [
    *api,
    *dashboard,
    path("admin/login/", logins.answers_lockout(admin.site.login)),
    path("admin/", admin.site.urls),
]

handler400 = "dockhand.views.bad_request"
handler403 = "dockhand.views.permission_denied"
handler404 = "dockhand.views.page_not_found"
handler500 = "dockhand.views.server_error"
