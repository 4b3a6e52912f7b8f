"""The VM backend hook.

Instance life-cycle transitions call a backend object, so that a VM simulator (for example
``localgce.vm``) can boot a real guest. The default does nothing and says every VM is ready
at once. A backend is any object with these methods; each receives the instance resource
dict (read-only by convention; it is the live record, so copy what you keep) and is called
with the store lock held, so it must return quickly (start work in a thread if needed):

- ``boot(instance)``: the instance turns STAGING (insert, start). Start the guest.
- ``power_off(instance)``: the instance is stopping (stop). Stop the guest.
- ``reset(instance)``: hard reset (reset): no shutdown of the guest; boot it again with the
  instance's current disks (``instance["disks"]`` now) and metadata. The instance stays RUNNING.
- ``delete(instance)``: the instance is deleted (after power_off if it was running).
- ``serial_output(instance) -> str``: serial port 1 text, for getSerialPortOutput.
- ``ready(instance) -> bool``: polled after boot; the instance is RUNNING (and its
  insert/start operation DONE) only once this is true. Say true once the VM has started, not
  when its guest is up: on Compute Engine an instance is RUNNING while its OS still boots.

Optional (called only if the backend has them):

- ``attach_disk(instance, attached_disk)``: after attachDisk (the AttachedDisk dict is
  already in ``instance["disks"]``);
- ``detach_disk(instance, attached_disk)``: after detachDisk (already removed).

``instance["zone"]`` is a full URL; ``localgce.backend.where(instance)`` gives
``(project, zone, name)``, and ``App.guest_url(project, zone, name)`` the metadata server
base URL the guest must use.
"""

from __future__ import annotations


def where(instance):
    parts = instance["selfLink"].split("/")
    # .../projects/P/zones/Z/instances/N
    return parts[-5], parts[-3], parts[-1]


class NullBackend:
    """No guest at all: instances are 'up' immediately; serial output is synthesised."""

    def boot(self, instance):
        pass

    def power_off(self, instance):
        pass

    def reset(self, instance):
        pass

    def delete(self, instance):
        pass

    def serial_output(self, instance):
        return None

    def ready(self, instance):
        return True
