"""Planning: which ctls fire for an event (rules), what they say (notify.content rendered by
each channel), to whom (recipients, dynamic_recipients). Pure: no I/O but reading a task file."""
