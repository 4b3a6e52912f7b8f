# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's version, for the user agent (kept equal to galaxy.yml by a unit test)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

COLLECTION_VERSION = "0.1.0"
USER_AGENT = "ansible-gce.cos/" + COLLECTION_VERSION
