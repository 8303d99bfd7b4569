"""The configuration: models (system settings, users, groups, workflows), one notify_ctl
(notify_ctl), workflow definitions (workflows), checks across entries (checks), loading a
file (loading), ad-hoc notifications' one ctl (adhoc).

Import the submodule you need: `tidings notify` validates one ctl through notify_ctl without
loading pydantic, which this package's other modules need.
"""
