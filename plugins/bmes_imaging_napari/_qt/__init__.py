"""All Qt code of the plugin: review widget, clinical panel, study queue."""
