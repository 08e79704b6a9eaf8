"""All Qt code of the plugin: review widget, clinical panel, study queue.

Importing it marks the process as the GUI's (:func:`.._bone_process.gui_process`: the
detection's compiled kernels stay off here, the bone-mask process uses them).
"""

from .._bone_process import gui_process

gui_process()
