# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection and authentication options shared by every module of gce.cos.
    DOCUMENTATION = r"""
options:
  project:
    description:
      - The Google Cloud project that owns the resources.
      - When not set, the environment variables E(GCP_PROJECT), E(GCE_PROJECT), E(GOOGLE_CLOUD_PROJECT)
        and E(CLOUDSDK_CORE_PROJECT) are used in that order, then the project of the service account
        key or of the Application Default Credentials.
    type: str
  auth_kind:
    description:
      - How to authenticate.
      - V(application) uses Application Default Credentials (C(gcloud auth application-default login),
        E(GOOGLE_APPLICATION_CREDENTIALS), or the metadata server on a VM).
      - V(serviceaccount) uses a JSON key from O(service_account_file) or O(service_account_contents),
        falling back to E(GCP_SERVICE_ACCOUNT_FILE), E(GCE_CREDENTIALS_FILE_PATH) and
        E(GOOGLE_APPLICATION_CREDENTIALS), as injected by AWX's Google Compute Engine credential.
      - V(machineaccount) uses the service account of the Compute Engine VM Ansible runs on.
      - V(accesstoken) uses O(access_token) as it is.
      - When not set, E(GCP_AUTH_KIND) is used; without it the kind follows the credential option that
        is set (O(access_token), then a service account key), else V(application).
    type: str
    choices: [application, serviceaccount, machineaccount, accesstoken]
  service_account_file:
    description:
      - Path to a service account JSON key, for O(auth_kind=serviceaccount).
      - Falls back to E(GCP_SERVICE_ACCOUNT_FILE).
    type: path
  service_account_contents:
    description:
      - The contents of a service account JSON key, for O(auth_kind=serviceaccount).
      - Falls back to E(GCP_SERVICE_ACCOUNT_CONTENTS).
    type: jsonarg
  service_account_email:
    description:
      - The VM service account to use with O(auth_kind=machineaccount); V(default) when not set.
      - Falls back to E(GCE_EMAIL).
    type: str
  access_token:
    description:
      - An OAuth2 access token, for O(auth_kind=accesstoken).
      - Falls back to E(GCP_ACCESS_TOKEN).
    type: str
  scopes:
    description:
      - OAuth2 scopes requested for the credentials.
      - Falls back to E(GCP_SCOPES) (comma-separated), then C(https://www.googleapis.com/auth/cloud-platform).
    type: list
    elements: str
  api_endpoint:
    description:
      - Base URL of the Compute Engine API, for example C(http://127.0.0.1:8080) for localgce.
      - Falls back to E(GCE_COS_API_ENDPOINT); the real Compute Engine endpoint when neither is set.
    type: str
notes:
  - All modules of the collection belong to the action group C(gce.cos.gcp), so the shared options can be
    set once with C(module_defaults) and C(group/gce.cos.gcp).
requirements:
  - python >= 3.11
  - google-cloud-compute >= 1.20.0
  - google-auth >= 2.20.0
"""

    # For modules that wait on Compute Engine operations.
    WAIT = r"""
options:
  wait_timeout:
    description:
      - How many seconds to wait for each Compute Engine operation to finish before failing the task.
      - A timed-out operation keeps running on the server; re-running the task picks it up.
    type: int
    default: 300
"""
