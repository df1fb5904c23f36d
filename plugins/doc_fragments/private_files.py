# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of the modules that write files holding secrets through module_utils/_files.py.

Not ansible.builtin.files: these files hold secrets, so their mode is the module's to decide (0600,
docs/security.md) and is no option; seuser/serole/setype/selevel/attributes/unsafe_writes have no place either
(the SELinux context of an existing file is kept; the write is always atomic under a lock); and O(group)
defaults to the primary group of O(owner).
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
    description: Reports what would change and writes nothing.
  idempotent:
    support: full
    description: A second run with the same arguments reports no change.
options:
  owner:
    description:
      - Owner of the files the module writes and of a directory it creates, usually the user the runner
        process runs as. Omitted, an existing file keeps its owner and a new one belongs to the user the
        module runs as.
    type: str
  group:
    description: Group of the files and of a directory the module creates; defaults to the primary group of O(owner).
    type: str
notes:
  - Files are written atomically under a lock (a C(.<name>.lock) file beside the target). A new file gets mode
    C(0600) and a directory the module creates mode C(0700); the SELinux context of an existing file is kept. On
    any failure the file is left unchanged.
  - Symlinks are followed to their target when root (or the user the module runs as) owns them and no other
    non-root user can write to their directory; any other symlink, and a hard link in a directory another user
    controls, makes the module fail without writing (see C(docs/security.md)).
"""

    PRIVATE_DIRECTORY = r"""
options:
  private_directory:
    description:
      - Make the directory of each file C(0700) and owned by O(owner) (and O(group)) also when it exists already,
        so no other user can list it or swap a file. A directory the module creates is always made that way.
    type: bool
    default: false
"""
