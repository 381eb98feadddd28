from . import _record

def enable_custom_widget_manager():
    _record("output.enable_custom_widget_manager")

def disable_custom_widget_manager():
    _record("output.disable_custom_widget_manager")
