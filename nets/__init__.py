"""segevo.nets"""
