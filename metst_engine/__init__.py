"""metst engine: video access, face ROIs, optical-flow features, ME-TST models, evaluation.

A library first: no Qt, no global state. The GUI (`metst_gui`) and the `metst`
command are thin layers over these modules.
"""

__version__ = "0.1.0"
