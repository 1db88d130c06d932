"""segevo.cli"""
