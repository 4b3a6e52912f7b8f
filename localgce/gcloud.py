"""The settings that aim the real gcloud at a localgce (gcloud then needs nothing from Google).

``python -m localgce serve`` prints them as shell lines to paste; the gcloud test suite runs
gcloud with exactly these.
"""

from __future__ import annotations

import shlex


def settings(url, project, config_dir, token_file, zone=None, region=None):
    """{variable: value} for gcloud: a throwaway configuration, a token file (any text; sent as
    ``Bearer <text>``), the Compute endpoint override, and no metadata probe, prompts or update checks."""
    env = {
        "CLOUDSDK_CONFIG": config_dir,
        "CLOUDSDK_CORE_PROJECT": project,
        "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": token_file,
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE": f"{url}/compute/v1/",
        "CLOUDSDK_CORE_CHECK_GCE_METADATA": "0",
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
    }
    if zone:
        env["CLOUDSDK_COMPUTE_ZONE"] = zone
    if region:
        env["CLOUDSDK_COMPUTE_REGION"] = region
    return env


def shell_lines(url, project="my-project"):
    """Lines to paste into a shell, so that gcloud shows what a playbook did against this localgce."""
    env = settings(url, project, "$HOME/.config/localgce-gcloud", "$HOME/.config/localgce-gcloud/token",
                   zone="us-central1-a", region="us-central1")
    out = ["mkdir -p $HOME/.config/localgce-gcloud && echo localgce > $HOME/.config/localgce-gcloud/token"]
    for k, v in env.items():
        out.append(f"export {k}={v if v.startswith('$HOME') else shlex.quote(v)}")
    return out
