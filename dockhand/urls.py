"""URL map: the JSON API under /api/, the Django admin under /admin/."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from dockhand.api import HealthView, LoginView, LogoutView
from gitsync import webhook_views
from gitsync.api import views as git_api
from stacks.api import views as stack_api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/health", HealthView.as_view()),
    path("api/auth/login", LoginView.as_view()),
    path("api/auth/logout", LogoutView.as_view()),
    path("api/git/credentials", git_api.CredentialList.as_view()),
    path("api/git/credentials/<int:pk>", git_api.CredentialDetail.as_view()),
    path("api/git/repositories", git_api.RepositoryList.as_view()),
    path("api/git/repositories/<int:pk>", git_api.RepositoryDetail.as_view()),
    path("api/environments", stack_api.EnvironmentList.as_view()),
    path("api/environments/<int:pk>", stack_api.EnvironmentDetail.as_view()),
    path("api/git/stacks", stack_api.StackList.as_view()),
    path("api/git/stacks/<int:pk>", stack_api.StackDetail.as_view()),
    path("api/git/stacks/<int:pk>/sync", stack_api.StackSync.as_view()),
    path("api/git/stacks/<int:pk>/deployments", stack_api.StackDeployments.as_view()),
    path("api/git/stacks/<int:pk>/webhook", webhook_views.stack_webhook),
    path("api/git/stacks/<int:pk>/webhooks", stack_api.StackWebhooks.as_view()),
    path("api/git/repositories/<int:pk>/webhook", webhook_views.repository_webhook),
    path("api/deployments/<int:pk>", stack_api.DeploymentDetail.as_view()),
]
