#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2025, runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: _placeholder_check
short_description: Throwaway module to test the sanity plumbing
version_added: 0.1.0
description:
  - Returns what it was given.
options:
  name:
    description:
      - A name.
    type: str
    required: true
author:
  - runnerkit developers (@runnerkit)
'''

EXAMPLES = r'''
- name: Echo a name
  runnerkit.gitlab_runner._placeholder_check:
    name: x
'''

RETURN = r'''
name:
  description: The name.
  returned: always
  type: str
  sample: x
'''

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(name=dict(type='str', required=True)), supports_check_mode=True)
    module.exit_json(changed=False, name=module.params['name'])


if __name__ == '__main__':
    main()
