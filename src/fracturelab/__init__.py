"""fracturelab: do fractured, entangled internal representations explain failures of systematic generalization?"""
__version__ = "0.1.0"
